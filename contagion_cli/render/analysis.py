"""Rich tables of the batch commands: sweep, simulate, critical, clusters, check, diff.

Pure functions of a result; the CLI prints them to stdout (or a file) with a fixed-width,
colourless console when not on a terminal.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..batch.clusters import ClustersResult
from ..batch.critical import CriticalResult
from ..batch.diff import Change, DiffResult
from ..batch.simulate import SimulationResult
from ..batch.sweep import SweepResult
from ..errors import one_line
from ..gates.check import CheckReport
from . import charts
from . import numbers as fmt
from .escape import term
from .fit import AtWidth, Bar, FitTable, Short, lines_at
from .numbers import value_text

#: Summary columns a sweep table shows (the CSV and JSON carry every column).
SWEEP_TABLE_METRICS = (
    "liquidations",
    "liquidated_usd",
    "bad_debt_usd",
    "insolvent_count",
    "propagation_depth",
)
#: Their abbreviations on a narrow terminal (render/fit.py).
SWEEP_SHORT = {
    "liquidations": "liq.",
    "liquidated_usd": "liquidated",
    "insolvent_count": "insolvent",
    "propagation_depth": "depth",
}


def _axis_text(label: str, value: object) -> str:
    if label.startswith("shock."):
        return f"{float(value) * 100:+.4g}%"  # type: ignore[arg-type]
    if label.startswith("liquidity."):
        return f"x{float(value):g}"  # type: ignore[arg-type]
    return str(value)


# --- sweep -------------------------------------------------------------------------------------
def sweep_table(result: SweepResult, metric: str = "bad_debt_usd") -> FitTable:
    """Axes, the summary metrics, per-protocol bad debt, and a bar of ``metric``."""
    protocols = [
        m.entity for m in result.columns if m.scope == "protocols" and m.field == "bad_debt_usd"
    ]
    plural = "s" if len(result) != 1 else ""
    table = FitTable(one_line(f"{result.scenario} - sweep of {len(result):,} point{plural}"))
    for label in result.axes:
        table.add_column(label, rank=0)  # the point's coordinates name its row
    for name in SWEEP_TABLE_METRICS:
        table.add_column(name.replace("_usd", "").replace("_", " "), short=SWEEP_SHORT.get(name))
    for p in protocols:
        table.add_column(f"{p} bad debt", rank=3)
    table.add_column(metric, justify="left", bar=24, rank=2)
    bars = result.column(metric)
    peak = float(max((v for v in bars if math.isfinite(v)), default=0.0))
    cols = {name: result.column(name) for name in SWEEP_TABLE_METRICS}
    per_protocol = {p: result.column(f"protocols.{p}.bad_debt_usd") for p in protocols}
    for i, coords in enumerate(result.coords):
        cells = [_axis_text(label, v) for label, v in zip(result.axes, coords, strict=True)]
        cells += [value_text(name, float(cols[name][i])) for name in SWEEP_TABLE_METRICS]
        cells += [fmt.usd(float(per_protocol[p][i])) for p in protocols]
        table.add_row(*cells, Bar(float(bars[i]), peak))
    return table


# --- simulate ----------------------------------------------------------------------------------
#: Widest and narrowest bars of the histogram under the simulation report (cells).
HIST_WIDTH = 40
MIN_HIST_WIDTH = 10


def simulation_report(sim: SimulationResult) -> RenderableType:
    m = sim.model
    title = (
        f"{sim.scenario} - {sim.paths:,} Monte Carlo paths ({m.model}, {m.steps} step"
        f"{'s' if m.steps != 1 else ''} of {m.dt_days:g} day{'s' if m.dt_days != 1 else ''}, "
        f"seed {sim.seed})"
    )
    head = FitTable(show_header=False)
    head.add_column("metric", style="bold", justify="left", rank=0)
    head.add_column("value")
    head.add_column("meaning", justify="left", wrap=" ")
    loss = sim.loss_metric
    r = sim.risk
    rows = [
        ("VaR 95%", r.var95, f"95th percentile of {loss}"),
        ("VaR 99%", r.var99, f"99th percentile of {loss} (JSON var99; evar99 too)"),
        ("ES 95%", r.es95, f"mean {loss} of the worst 5% of paths"),
        ("ES 99%", r.es99, f"mean {loss} of the worst 1% of paths"),
        ("LaR 95%", r.lar95, "95th percentile of USD liquidated"),
        ("LaR 99%", r.lar99, "99th percentile of USD liquidated"),
    ]
    for label, value, meaning in rows:
        shown = (
            fmt.usd(value)
            if loss.endswith("_usd") or label.startswith("LaR")
            else (value_text(loss, value))
        )
        head.add_row(label, shown, meaning)
    head.add_row(
        "P(insolvency)", f"{r.p_insolvent * 100:.2f}%", "share of paths with an insolvent protocol"
    )
    head.add_row("P(bad debt)", f"{r.p_bad_debt * 100:.2f}%", "share of paths with bad debt > 0")
    if loss != "bad_debt_usd":
        head.add_row(f"P({loss} > 0)", f"{r.p_loss * 100:.2f}%", f"share of paths with {loss} > 0")
    if sim.not_converged:
        head.add_row("not converged", f"{sim.not_converged:,}", "paths that hit max_rounds")

    protos = FitTable("Protocols")
    for col, short in (
        ("protocol", None),
        ("P(insolvent)", "P(insolv.)"),
        ("P(bad debt)", None),
        ("mean bad debt", "mean"),
        ("p95", None),
        ("p99", None),
        ("ES 95%", None),
        ("max", None),
    ):
        first = col == "protocol"
        protos.add_column(
            col, short=short, justify="left" if first else "right", rank=0 if first else 1
        )
    for name, pr in sim.protocols.items():
        d = pr.bad_debt_usd
        protos.add_row(
            name,
            f"{pr.p_insolvent * 100:.2f}%",
            f"{pr.p_bad_debt * 100:.2f}%",
            fmt.usd(d.mean),
            fmt.usd(d.p95),
            fmt.usd(d.p99),
            fmt.usd(d.es95),
            fmt.usd(d.max),
        )

    dist = FitTable("Distributions over paths")
    for col in ("metric", "mean", "p50", "p90", "p95", "p99", "max"):
        first = col == "metric"
        dist.add_column(col, justify="left" if first else "right", rank=0 if first else 1)
    for name in (
        "bad_debt_usd",
        "liquidated_usd",
        "shortfall_usd",
        "liquidations",
        "insolvent_count",
        "propagation_depth",
    ):
        d = sim.metrics.get(name)
        if d is None:
            continue
        dist.add_row(
            name,
            *(
                value_text(name, d.get(s))
                if s != "mean" or name.endswith("_usd")
                else f"{d.mean:,.3g}"
                for s in ("mean", "p50", "p90", "p95", "p99", "max")
            ),
        )

    sample = sim.column(loss)
    marks = [("VaR95", r.var95), ("VaR99", r.var99), ("ES95", r.es95)]
    label = (lambda v: fmt.usd(v)) if loss.endswith("_usd") else (lambda v: f"{v:,.3g}")

    def draw(width: int) -> list[str]:
        # the bars give way to the labels, counts and marks of a narrow terminal
        lines = charts.histogram(sample, marks=marks, label=label, width=HIST_WIDTH)
        spare = width - max(len(line) for line in lines)
        bars = max(MIN_HIST_WIDTH, HIST_WIDTH + min(0, spare))
        return [
            f"{loss} over {sim.paths:,} paths",
            *charts.histogram(sample, marks=marks, label=label, width=bars),
            "",
        ]

    natural = max(len(line) for line in draw(1 << 20))
    hist = lines_at(draw, natural, natural - HIST_WIDTH + MIN_HIST_WIDTH)
    return Group(term(title, style="italic"), head, protos, dist, hist)


# --- critical ----------------------------------------------------------------------------------
#: Most characters of the critical report's scan sparkline (a --scan 1000 is resampled).
SPARK_WIDTH = 80


def critical_report(result: CriticalResult) -> RenderableType:
    table = Table(
        title=term(f"{result.scenario} - critical {result.asset} shock for {result.condition}"),
        box=box.SIMPLE_HEAD,
        show_header=False,
        title_justify="left",
    )
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")  # wraps between words on a narrow terminal
    span = f"{result.range_from * 100:+.4g}% to {result.range_to * 100:+.4g}%"
    if result.status == "not_crossed":
        table.add_row("Critical shock", f"none in {span}")
        table.add_row(
            f"{result.metric} at {result.range_to * 100:+.4g}%",
            value_text(result.metric, result.value_at_safe),
        )
    else:
        assert result.critical_shock is not None
        table.add_row(
            "Critical shock",
            f"{result.critical_shock * 100:+.4f}%  ({result.asset} at "
            f"{fmt.price(result.critical_price)}, from {fmt.price(result.start_price)})",
        )
        table.add_row(f"{result.metric} there", value_text(result.metric, result.value_at_critical))
        if result.last_safe_shock is not None:
            table.add_row(
                "Last shock that does not cross",
                f"{result.last_safe_shock * 100:+.4f}%  ({result.metric} "
                f"{value_text(result.metric, result.value_at_safe)})",
            )
        if result.status == "at_start":
            table.add_row("Note", f"crossed already at {result.range_from * 100:+.4g}%")
    search = (
        f"{len(result.scan_shocks):,} scan points over {span}, "
        f"{result.bisections} bisections to {result.tolerance:g}"
    )
    if result.refinements:
        n = len(result.refinements)
        search += (
            f"; {n} rescan{'s' if n != 1 else ''} of {sum(r.points for r in result.refinements):,}"
            f" points down to {_pct(result.spacing)} spacing"
        )
    table.add_row("Search", search)
    table.add_row("Monotone", "yes" if result.monotone else Text("NO", style="bold red"))
    if result.may_cross_earlier:
        what = "crossing" if result.status == "not_crossed" else "smaller crossing"
        table.add_row(
            "Caution",
            Text(
                f"a {what} between scan points {_pct(result.spacing)} apart cannot be ruled out",
                style="yellow",
            ),
        )
    natural = min(len(result.scan_values), SPARK_WIDTH)
    table.add_row("Scan", AtWidth(lambda width: scan_sparkline(result, width), natural, 10))
    return table


def scan_sparkline(result: CriticalResult, width: int = SPARK_WIDTH) -> str:
    """The first scan as a sparkline of at most ``width`` characters: a longer scan is cut into
    ``width`` runs of points, each drawn at its most critical value (its largest for
    ``--above``, smallest for ``--below``), so that a narrow spike stays visible."""
    values = list(result.scan_values)
    if len(values) > width:
        pick = max if result.direction == "above" else min
        buckets = []
        for k in range(width):
            chunk = [
                v
                for v in values[k * len(values) // width : (k + 1) * len(values) // width]
                if math.isfinite(v)
            ]
            buckets.append(pick(chunk) if chunk else math.nan)
        values = buckets
    return charts.sparkline(values)


def _pct(spacing: float) -> str:
    """A spacing (a return) in percentage points: 0.0001 -> ``0.01%``."""
    return f"{spacing * 100:.4g}%"


_STOPPED = {
    "settled": "the last rescan did not move the answer",
    "budget": "the next rescan would exceed --refine {budget:,} points",
    "tolerance": "the next rescan would be finer than --tolerance {tolerance:g}",
}


def monotone_warning(result: CriticalResult) -> str | None:
    """The stderr message when the metric is not monotone (None when it is).

    It never calls the answer certain: a non-monotone metric can cross between any two scan
    points, so it names the final spacing and how to look finer."""
    if result.monotone:
        return None
    t = result.turns[0]
    more = f" (and {len(result.turns) - 1} more turns)" if len(result.turns) > 1 else ""
    text = (
        f"warning: {result.metric} is not monotone in the {result.asset} shock over "
        f"{result.range_from * 100:+.4g}% to {result.range_to * 100:+.4g}%: it goes from "
        f"{value_text(result.metric, t.value_a)} at {t.shock_a * 100:+.4g}% to "
        f"{value_text(result.metric, t.value_b)} at {t.shock_b * 100:+.4g}%{more}"
    )
    if result.status == "at_start":
        return text + (
            f"\n  note: the metric crosses already at {result.range_from * 100:+.4g}%, the start "
            "of the range, so no smaller crossing exists there"
        )
    steps = [
        f"{_pct(r.spacing)} spacing ({r.points:,} points): "
        + (
            f"answer moved to {r.critical_shock * 100:+.4f}%"
            if r.moved and r.critical_shock is not None
            else "answer unchanged"
        )
        for r in result.refinements
    ]
    if steps:
        text += "\n  refined: rescanned from the start of the range at " + "; then ".join(steps)
    if result.stopped in _STOPPED:
        reason = _STOPPED[result.stopped].format(
            budget=result.refine_budget, tolerance=result.tolerance
        )
        text += f"\n  stopped: {reason}"
    end = result.critical_shock if result.critical_shock is not None else result.range_to
    finer = result.spacing / 10
    what = (
        "no scan point crosses, but a crossing"
        if result.status == "not_crossed"
        else "a smaller crossing"
    )
    how = {
        "budget": f"raise --refine (now {result.refine_budget:,})",
        "tolerance": f"lower --tolerance (now {result.tolerance:g}) and raise --refine",
    }.get(result.stopped, "raise --scan")
    text += (
        f"\n  hint: {what} between scan points {_pct(result.spacing)} apart cannot be ruled "
        f"out; to look finer, {how}, or sweep the range, e.g. "
        f"contagion sweep FILE --shock {result.asset}={result.range_from:g}:{end:g}:{finer:.2g}"
    )
    return text


# --- clusters ----------------------------------------------------------------------------------
def clusters_table(result: ClustersResult) -> FitTable:
    table = FitTable(
        one_line(
            f"{result.scenario} - liquidation walls of {result.asset} "
            f"(start {fmt.price(result.start_price)})"
        )
    )
    table.add_column("shock", rank=0)
    table.add_column("price", rank=1)
    table.add_column("liq. (1st round)", short="liq. 1st", rank=2)
    table.add_column("repaid (1st round)", short="repaid 1st", rank=2)
    table.add_column("new", rank=1)
    table.add_column("wall", justify="left", bar=20, rank=1)
    table.add_column("liq. (cascade)", short="liq.", rank=1)
    table.add_column("repaid (cascade)", short="repaid", rank=2)
    table.add_column("bad debt (cascade)", short="bad debt", rank=1)
    table.add_column(f"final {result.asset}", short="final", rank=2)
    peak = max((lv.wall_liquidations for lv in result.levels), default=0)
    for lv in result.levels:
        table.add_row(
            f"{lv.shock * 100:+.4g}%",
            fmt.price(lv.price),
            fmt.count(lv.first_round_liquidations),
            fmt.usd(lv.first_round_repaid_usd),
            fmt.count(lv.wall_liquidations),
            Bar(lv.wall_liquidations, peak),
            fmt.count(lv.cascade_liquidations),
            fmt.usd(lv.cascade_repaid_usd),
            fmt.usd(lv.cascade_bad_debt_usd),
            fmt.price(lv.cascade_final_price),
        )
    return table


# --- check -------------------------------------------------------------------------------------
def check_table(report: CheckReport) -> FitTable:
    failed = len(report.failed)
    title = f"contagion check - {len(report.verdicts)} gate results, " + (
        f"{failed} FAILED" if failed else "all passed"
    )
    table = FitTable(title)
    table.add_column("scenario", justify="left", rank=0, wrap="/")
    table.add_column("gate", justify="left", rank=0, wrap=" ")
    table.add_column("result", justify="left", rank=1)
    table.add_column("value", rank=1)
    table.add_column("limit", rank=1)
    table.add_column("excess", rank=2)
    table.add_column("where", justify="left", rank=3, wrap=" ")
    for v in report.verdicts:
        result = Text("pass", style="green") if v.passed else Text("FAIL", style="bold red")
        table.add_row(
            term(v.scenario),  # a file name and a gate name: untrusted text
            term(v.gate),
            result,
            value_text(v.metric, v.value),
            f"{v.op} {value_text(v.metric, v.limit)}",
            excess_text(v.metric, v.excess, v.limit),
            Short(v.at, _short_where(v.at)),
        )
    return table


def _short_where(at: str) -> str:
    """Where a gate's value was found, in fewer words for a narrow terminal: ``ETH -30%``,
    ``file's path``, ``500 paths (seed 1)``."""
    if at == "on the file's shock path":
        return "file's path"
    return at.removeprefix("at ").removeprefix("on ").replace(" Monte Carlo paths", " paths")


def excess_text(metric: str, excess: float, limit: float) -> str:
    """``+$200K (+20.0%)`` beyond the limit, ``-$300K`` margin left."""
    if not math.isfinite(excess):
        return "-"
    sign = "+" if excess > 0 else "-" if excess < 0 else ""
    text = sign + value_text(metric, abs(excess)).lstrip("+-")
    if limit != 0 and excess != 0:
        text += f" ({excess / abs(limit) * 100:+.1f}%)"
    return text


# --- diff --------------------------------------------------------------------------------------
def diff_table(result: DiffResult, only_changed: bool = False) -> RenderableType:
    title = term(f"diff: {result.base} -> {result.candidate}, on {result.on}", style="italic")
    table = FitTable(continued="diff (continued)")
    for col, short in (
        ("metric", None),
        ("base", None),
        ("candidate", "cand."),
        ("change", None),
        ("change %", "%"),
    ):
        first = col == "metric"
        table.add_column(
            col, short=short, justify="left" if first else "right", rank=0 if first else 1
        )
    failing = {r.change.metric for r in result.failed}
    for c in result.changes:
        if only_changed and c.change == 0:
            continue
        style = "bold red" if c.metric in failing else None
        table.add_row(
            Text(c.metric, style=style or ""),
            value_text(c.metric, c.base),
            value_text(c.metric, c.candidate),
            change_text(c),
            Text(c.to_dict()["relative_change_text"], style=style or ""),
        )
    if not table.rows:
        return Group(title, Text("no metric changed (--all lists them)"))
    return Group(title, table)


def change_text(c: Change, formatter: Callable[[str, float | None], str] = value_text) -> str:
    d = c.change
    if d is None:
        return "-"
    if d == 0:
        return "0"
    return ("+" if d > 0 else "-") + formatter(c.metric, abs(d)).lstrip("+-")
