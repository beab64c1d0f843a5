"""The batch commands: sweep, simulate, critical, clusters, check, diff and compare.

Each command wires grid/policy parsing -> batch runs -> result -> renderer in a few lines;
:func:`register` adds them to the ``contagion`` app (cli.py). Reports go to stdout (or
``--output``), progress bars and warnings to stderr. Exit codes as ``contagion run``: 0 ran and
every gate passed, 1 a gate (``check``, ``diff --fail-if``, ``critical --strict``) failed,
2 invalid input, 4 the Dask cluster of ``--scheduler`` could not finish the run.

``--scheduler`` (sweep, simulate, check, diff) hands the batches to :mod:`.distributed`;
without it nothing imports Dask.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, RenderableType

from ..errors import ExitCode, InputError, Location
from .app import REPORT_WIDTH, SetOption, _choice, _errors, _fail, _writable, _write, err_console

# --- shared options --------------------------------------------------------------------------
FileArg = Annotated[Path, typer.Argument(help="Scenario file (YAML).", show_default=False)]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write the report to this file.")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-j",
        help="Worker processes that run points in parallel (threads with "
        "CONTAGION_POOL=threads; default: every core).",
    ),
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on stderr (default: when stderr is a terminal).",
        show_default=False,
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        envvar="CONTAGION_SCHEDULER",
        help="Run the points on a Dask cluster: a scheduler address (tcp://HOST:8786), a "
        "scheduler file (.json) or 'local' (--workers processes here). Results are identical "
        "to a local run. Needs contagion-cli[distributed]; see docs/distributed.md.",
        show_default=False,
    ),
]
ChunkSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--chunk-size",
        help="With --scheduler: points per task (default: about 4 tasks per worker thread, "
        "at most 1,000 points each).",
        show_default=False,
    ),
]
PlotOpt = Annotated[
    Path | None,
    typer.Option("--plot", help="Draw a chart to this .png/.svg/.pdf (needs matplotlib)."),
]
GridShockOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--shock",
        help="An axis of shocks: ASSET=VALUES, values a list and/or ranges START:STOP:STEP, "
        "e.g. ETH=-0.05:-0.80:0.05 or ETH=-10%,-20%,-30% (several --shock: a product grid).",
        show_default=False,
    ),
]
GridLiquidityOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--liquidity",
        help="An axis of liquidity multipliers: ASSET=VALUES, e.g. ETH=1,0.5,0.25.",
        show_default=False,
    ),
]
GridSetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="An axis of parameter values: PATH=V1,V2,..., e.g. "
        "protocols.aave.collateral.ETH.liquidation_threshold=0.8,0.825,0.85.",
        show_default=False,
    ),
]
FixedShockOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--shock",
        help="Run on one step of these shocks instead of the file's path: ASSET=RETURN.",
        show_default=False,
    ),
]
FixedLiquidityOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--liquidity", help="With --shock: liquidity multiplier ASSET=MULT.", show_default=False
    ),
]


class SweepFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


class SimulateFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"


class ClustersFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


class CheckFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class DiffFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def _format(value: str, enum: type) -> Any:
    return _choice(value, enum, "--format")


def _say(text: str) -> None:
    """A line for stderr (warnings, "wrote FILE"): no markup, no wrapping."""
    err_console.print(text, markup=False, soft_wrap=True, highlight=False)


def _workers(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 4096:
        raise InputError.single(
            f"expected a number of workers from 1 to 4096, found {value}",
            Location("--workers"),
            hint="leave it out to use every core",
        )
    return value


def _show(renderable: RenderableType, output: Path | None) -> None:
    """A rich report: the terminal's width and colours, or plain text for a pipe or file."""
    from ..render.analysis import to_text
    from ..render.width import fit_width

    if output is None and sys.stdout.isatty():
        Console(highlight=False, width=fit_width(renderable, None)).print(renderable)
    else:
        _write(to_text(renderable, REPORT_WIDTH), output)


@contextmanager
def _progress(
    enabled: bool | None, description: str
) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """``(set_total, advance)`` callbacks driving a rich progress bar on stderr."""
    show = err_console.is_terminal if enabled is None else enabled
    if not show:
        yield (lambda _n: None), (lambda _n: None)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=err_console.is_terminal,
    )
    task = progress.add_task(description, total=None)
    with progress:
        yield (
            lambda n: progress.update(task, total=n),
            lambda n: progress.advance(task, n),
        )


@contextmanager
def _runner(
    scheduler: str | None, chunk_size: int | None, workers: int | None, progress: bool | None
) -> Iterator[Any]:
    """The Dask runner of ``--scheduler``, or None: run here, on threads, without Dask."""
    if not scheduler or not scheduler.strip():
        if chunk_size is not None:
            raise InputError.single(
                "--chunk-size needs --scheduler",
                Location("--chunk-size"),
                hint="a local run chooses its own chunks; --workers sets its worker processes",
            )
        yield None
        return
    from ..batch.distributed import ClusterError, DaskRunner

    local = scheduler.strip() == "local"
    if workers is not None and not local:
        _say("warning: --workers is ignored with --scheduler: the cluster's workers run the points")
    log = progress is not False and not err_console.is_terminal
    runner = DaskRunner(
        scheduler, chunk_size, workers if local else None, say=_say, log_progress=log
    )
    try:
        yield runner
    except ClusterError as exc:
        _fail(ExitCode.CLUSTER_FAILED, exc.render())
    finally:
        runner.close()


def _plot_check(plot: Path | None) -> None:
    if plot is not None:
        from ..render.plots import require_matplotlib

        require_matplotlib(plot)
        _writable(plot, "--plot")


def _scheduler_options(scheduler: str | None, chunk_size: int | None) -> None:
    """--chunk-size without --scheduler, or out of range, is refused before any work (also
    where the run would not use the cluster, e.g. a shock diff)."""
    if chunk_size is None:
        return
    if not scheduler or not scheduler.strip():
        raise InputError.single(
            "--chunk-size needs --scheduler",
            Location("--chunk-size"),
            hint="a local run chooses its own chunks; --workers sets its worker processes",
        )
    from ..batch.distributed import check_chunk_size

    check_chunk_size(chunk_size)


def _max_points(value: int | None) -> None:
    if value is not None and value < 1:
        raise InputError.single(
            f"expected a number of points >= 1, found {value}",
            Location("--max-points"),
            hint="leave it out for the default cap of 1,000,000 points",
        )


# --- sweep -------------------------------------------------------------------------------------
def sweep(
    scenario: FileArg,
    shock: GridShockOpt = None,
    liquidity: GridLiquidityOpt = None,
    set_: GridSetOpt = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="table, csv, json or parquet (needs --output).")
    ] = "table",
    output: OutputOpt = None,
    metric: Annotated[
        str, typer.Option("--metric", help="The metric the table's bars and --plot show.")
    ] = "bad_debt_usd",
    plot: PlotOpt = None,
    workers: WorkersOpt = None,
    progress: ProgressOpt = None,
    scheduler: SchedulerOpt = None,
    chunk_size: ChunkSizeOpt = None,
    max_points: Annotated[
        int | None,
        typer.Option(
            "--max-points",
            help="Most points the grid may have (default 1,000,000): a larger grid is refused "
            "before anything is built, so that a mistyped step cannot start a day-long run.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run a grid of shocks, liquidity multipliers and parameter values: one row per point."""
    import time

    from ..batch import grid
    from ..batch.sweep import run_sweep
    from ..render.analysis import sweep_table
    from ..render.rows import require_pyarrow, to_csv, to_json, write_parquet

    with _errors():
        fmt = _format(format, SweepFormat)
        if fmt is SweepFormat.parquet:
            require_pyarrow()
            if output is None:
                raise InputError.single(
                    "Parquet is binary: give a file with --output", Location("--format")
                )
        _workers(workers)
        _plot_check(plot)
        _max_points(max_points)
        _writable(output, "--output")
        _scheduler_options(scheduler, chunk_size)
        started = time.perf_counter()
        with (
            grid.point_limit(max_points),
            _runner(scheduler, chunk_size, workers, progress) as runner,
            _progress(progress, "sweep") as (set_total, advance),
        ):
            result = run_sweep(
                scenario,
                shock or (),
                liquidity or (),
                set_ or (),
                workers,
                advance,
                set_total,
                extra_metrics=(metric,),
                runner=runner,
            )
        names = [*result.axes, *(m.name for m in result.columns)]
        elapsed = time.perf_counter() - started
        if fmt is SweepFormat.table:
            _show(sweep_table(result, metric), output)
        elif fmt is SweepFormat.csv:
            _write(to_csv(names, result.rows()), output)
        elif fmt is SweepFormat.json:
            _write(to_json(result.to_dict()), output)
        else:
            assert output is not None
            write_parquet(output, names, result.rows())
            _say(f"wrote {output}")
        not_converged = int((result.column("converged") < 0.5).sum())
        if not_converged:
            _say(
                f"warning: {not_converged} of {len(result)} points did not converge "
                "(settings.max_rounds)",
            )
        if plot is not None:
            from ..render.plots import plot_sweep

            plot_sweep(result, plot, metric)
            _say(f"wrote {plot}")
        _say(f"{len(result):,} point{'s' if len(result) != 1 else ''} in {elapsed:.2f} s")


# --- simulate ----------------------------------------------------------------------------------
def simulate_cmd(
    scenario: FileArg,
    paths: Annotated[
        int | None, typer.Option("--paths", "-n", help="Paths (default: the file's 'paths').")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: the file's 'seed').")
    ] = None,
    set_: SetOption = None,
    metric: Annotated[
        str, typer.Option("--metric", help="The loss metric of VaR, EVaR and ES.")
    ] = "bad_debt_usd",
    format: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv or markdown.")
    ] = "table",
    output: OutputOpt = None,
    per_path: Annotated[
        Path | None,
        typer.Option(
            "--per-path", help="Also write every path's metrics (.csv, .json or .parquet)."
        ),
    ] = None,
    plot: PlotOpt = None,
    workers: WorkersOpt = None,
    progress: ProgressOpt = None,
    scheduler: SchedulerOpt = None,
    chunk_size: ChunkSizeOpt = None,
) -> None:
    """Run Monte Carlo paths (the file's 'shocks: {model: ...}') and report VaR, ES, LaR."""
    from ..batch.simulate import model_of, simulate, with_overrides
    from ..batch.variants import load_compiled
    from ..render.analysis import simulation_report
    from ..render.ci import simulation_markdown
    from ..render.rows import to_json

    with _errors():
        fmt = _format(format, SimulateFormat)
        _workers(workers)
        _plot_check(plot)
        _writable(output, "--output")
        _writable(per_path, "--per-path")
        _scheduler_options(scheduler, chunk_size)
        writer = _rows_writer(per_path) if per_path is not None else None
        compiled = load_compiled(scenario, set_ or ())
        model = with_overrides(model_of(compiled, str(scenario)), paths, seed)
        with (
            _runner(scheduler, chunk_size, workers, progress) as runner,
            _progress(progress, "simulate") as (set_total, advance),
        ):
            set_total(model.paths)
            sim = simulate(compiled, model, workers, advance, metric, runner)
        if fmt is SimulateFormat.table:
            _show(simulation_report(sim), output)
        elif fmt is SimulateFormat.json:
            _write(to_json(sim.to_dict()), output)
        elif fmt is SimulateFormat.markdown:
            _write(simulation_markdown(sim), output)
        else:
            _write(_simulation_csv(sim), output)
        if writer is not None and per_path is not None:
            rows = sim.to_dict(include_paths=True)["per_path"]
            writer(per_path, ["path", *(m.name for m in sim.columns)], rows)
        if sim.not_converged:
            _say(
                f"warning: {sim.not_converged} of {sim.paths} paths did not converge "
                "(settings.max_rounds)",
            )
        if plot is not None:
            from ..render.plots import plot_simulation

            plot_simulation(sim, plot)
            _say(f"wrote {plot}")


def _simulation_csv(sim: Any) -> str:
    from ..render.rows import to_csv

    rows = [{"metric": n, "value": sim.lookup(n)} for n in sim.metric_names()]
    for row in rows:
        if row["value"] != row["value"]:
            row["value"] = None
    return to_csv(["metric", "value"], rows)


def _rows_writer(path: Path) -> Callable[[Path, list[str], list[dict[str, Any]]], None]:
    """The writer of a row table, chosen by the file's suffix (checked before any work)."""
    from ..render.rows import require_pyarrow, to_csv, to_json, write_parquet

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return lambda p, cols, rows: _write(to_csv(cols, rows), p)
    if suffix == ".json":
        return lambda p, cols, rows: _write(to_json(rows), p)
    if suffix == ".parquet":
        require_pyarrow("--per-path")

        def parquet(p: Path, cols: list[str], rows: list[dict[str, Any]]) -> None:
            write_parquet(p, cols, rows)
            _say(f"wrote {p}")

        return parquet
    raise InputError.single(
        f"cannot tell the format from {path.name!r}",
        Location("--per-path"),
        hint="use .csv, .json or .parquet",
    )


# --- critical ----------------------------------------------------------------------------------
def critical(
    scenario: FileArg,
    asset: Annotated[str, typer.Option("--asset", help="The asset to shock.")],
    metric: Annotated[
        str, typer.Option("--metric", help="The metric to watch (a name of the JSON report).")
    ] = "bad_debt_usd",
    above: Annotated[
        float | None, typer.Option("--above", help="Find where the metric first exceeds this.")
    ] = None,
    below: Annotated[
        float | None, typer.Option("--below", help="Find where the metric first falls below this.")
    ] = None,
    range_from: Annotated[
        float, typer.Option("--from", help="Start of the shock range (a return).")
    ] = 0.0,
    range_to: Annotated[
        float, typer.Option("--to", help="End of the shock range (0.5 searches upward).")
    ] = -0.99,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Bisection stops at this width (a return).")
    ] = 1e-4,
    scan: Annotated[
        int, typer.Option("--scan", help="Points of the monotonicity scan before bisecting.")
    ] = 100,
    refine: Annotated[
        int,
        typer.Option(
            "--refine",
            help="When the metric is not monotone: points the rescans of [--from, answer] at "
            "10x, 100x, ... the scan's density may run in all (0: no rescans).",
        ),
    ] = 10_000,  # critical.REFINE_POINTS (not imported: the CLI starts without the engine)
    shock: FixedShockOpt = None,
    liquidity: FixedLiquidityOpt = None,
    set_: SetOption = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    output: OutputOpt = None,
    plot: PlotOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when the metric is not monotone.")
    ] = False,
    workers: WorkersOpt = None,
) -> None:
    """Find the smallest shock to one asset at which a metric crosses a threshold."""
    from ..batch.critical import find_critical
    from ..batch.variants import load_compiled
    from ..render.analysis import critical_report, monotone_warning
    from ..render.rows import to_json

    with _errors():
        fmt = _format(format, ReportFormat)
        if (above is None) == (below is None):
            raise InputError.single(
                "give exactly one of --above and --below",
                Location("--above"),
                hint="e.g. --metric bad_debt_usd --above 0",
            )
        threshold = above if above is not None else below
        assert threshold is not None
        if threshold != threshold or abs(threshold) == float("inf"):
            raise InputError.single(
                f"expected a finite threshold, found {threshold}",
                Location("--above" if above is not None else "--below"),
            )
        _workers(workers)
        _plot_check(plot)
        _writable(output, "--output")
        compiled = load_compiled(scenario, set_ or ())
        result = find_critical(
            compiled,
            asset,
            metric,
            float(threshold),
            "above" if above is not None else "below",
            range_from,
            range_to,
            tolerance,
            scan,
            shock or (),
            liquidity or (),
            workers,
            refine=refine,
        )
        if fmt is ReportFormat.table:
            _show(critical_report(result), output)
        else:
            _write(to_json(result.to_dict()), output)
        warning = monotone_warning(result)
        if warning:
            _say(warning)
        if plot is not None:
            from ..render.plots import plot_critical

            plot_critical(result, plot)
            _say(f"wrote {plot}")
        if strict and not result.monotone:
            raise typer.Exit(int(ExitCode.GATE_FAILED))


# --- clusters ----------------------------------------------------------------------------------
def clusters(
    scenario: FileArg,
    asset: Annotated[str, typer.Option("--asset", help="The asset whose price levels to walk.")],
    levels: Annotated[
        str,
        typer.Option("--levels", help="Shocks of the asset: values and/or ranges START:STOP:STEP."),
    ] = "-0.02:-0.80:0.02",
    set_: SetOption = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    output: OutputOpt = None,
    plot: PlotOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """Liquidations each price level triggers, with and without the cascade (the walls)."""
    from ..batch.clusters import liquidation_clusters
    from ..batch.variants import load_compiled
    from ..render.analysis import clusters_table
    from ..render.rows import to_csv, to_json

    with _errors():
        fmt = _format(format, ClustersFormat)
        _workers(workers)
        _plot_check(plot)
        _writable(output, "--output")
        compiled = load_compiled(scenario, set_ or ())
        result = liquidation_clusters(compiled, asset, levels, workers)
        if fmt is ClustersFormat.table:
            _show(clusters_table(result), output)
        elif fmt is ClustersFormat.json:
            _write(to_json(result.to_dict()), output)
        else:
            rows = result.rows()
            _write(to_csv(list(rows[0]) if rows else [], rows), output)
        if plot is not None:
            from ..render.plots import plot_clusters

            plot_clusters(result, plot)
            _say(f"wrote {plot}")


# --- check -------------------------------------------------------------------------------------
def check(
    scenarios: Annotated[
        list[Path], typer.Argument(help="Scenario files to check.", show_default=False)
    ],
    policy: Annotated[
        Path, typer.Option("--policy", "-p", help="Policy file: the gates (docs/ci.md).")
    ],
    set_: SetOption = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="table, json or markdown.")
    ] = "table",
    output: OutputOpt = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write JUnit XML (for CI test reports).")
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="Also write a Markdown summary (a pull-request comment)."),
    ] = None,
    workers: WorkersOpt = None,
    progress: ProgressOpt = None,
    scheduler: SchedulerOpt = None,
    chunk_size: ChunkSizeOpt = None,
) -> None:
    """Check scenarios against a policy's gates: exit 0 all pass, 1 a gate failed, 2 invalid."""
    from ..batch.variants import load_compiled
    from ..gates.check import check_files
    from ..gates.policy import load_policy
    from ..render.analysis import check_table
    from ..render.ci import check_markdown, junit_xml, verdict_message
    from ..render.rows import to_json

    with _errors():
        fmt = _format(format, CheckFormat)
        _workers(workers)
        for path, option in ((output, "--output"), (junit, "--junit"), (markdown, "--markdown")):
            _writable(path, option)
        _scheduler_options(scheduler, chunk_size)
        rules = load_policy(policy)
        compiled = [(str(path), load_compiled(path, set_ or ())) for path in scenarios]
        with (
            _runner(scheduler, chunk_size, workers, progress) as runner,
            _progress(progress, "check") as (_, advance),
        ):
            started = time.perf_counter()
            report = check_files(rules, compiled, workers, advance, runner)
            elapsed = time.perf_counter() - started
        if fmt is CheckFormat.table:
            _show(check_table(report), output)
        elif fmt is CheckFormat.json:
            _write(to_json(report.to_dict()), output)
        else:
            _write(check_markdown(report), output)
        if junit is not None:
            _write(junit_xml(report, seconds=elapsed), junit)
        if markdown is not None:
            _write(check_markdown(report), markdown)
        for v in report.failed:
            _say(f"FAIL {v.scenario}: {v.gate}: {verdict_message(v)}")
        total, failed = len(report.verdicts), len(report.failed)
        _say(
            f"{failed} of {total} gates failed" if failed else f"all {total} gates passed",
        )
        if failed:
            raise typer.Exit(int(ExitCode.GATE_FAILED))


# --- diff --------------------------------------------------------------------------------------
def diff(
    base: Annotated[Path, typer.Argument(help="The base scenario file.", show_default=False)],
    candidate: Annotated[
        Path | None,
        typer.Argument(
            help="The candidate scenario file (default: the base with the --set overrides).",
            show_default=False,
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a value of the candidate: PATH=VALUE (repeatable).",
            show_default=False,
        ),
    ] = None,
    shock: FixedShockOpt = None,
    liquidity: FixedLiquidityOpt = None,
    paths: Annotated[
        int | None,
        typer.Option("--paths", "-n", help="Compare simulations of this many paths."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the simulations.")] = None,
    fail_if: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if",
            help="Exit 1 when a change compares true: METRIC>CHANGE, e.g. 'bad_debt_usd>+5%' "
            "(relative) or 'insolvent_protocols>0' (absolute). Repeatable.",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="table, json, csv or markdown.")
    ] = "table",
    output: OutputOpt = None,
    all_metrics: Annotated[
        bool, typer.Option("--all", help="Also list metrics that did not change.")
    ] = False,
    workers: WorkersOpt = None,
    progress: ProgressOpt = None,
    scheduler: SchedulerOpt = None,
    chunk_size: ChunkSizeOpt = None,
) -> None:
    """Run a base and a candidate on the same shocks or paths; tabulate every metric's change.

    With --scheduler, the simulations run on the cluster; the two runs of a shock diff run
    here."""
    from ..batch.diff import build_shock_path, diff_runs, diff_simulations, parse_fail_if
    from ..batch.simulate import model_of, with_overrides
    from ..batch.variants import load_compiled
    from ..render.analysis import change_text, diff_table, value_text
    from ..render.ci import diff_markdown
    from ..render.rows import to_csv, to_json
    from ..schema.stochastic import MonteCarloModel

    with _errors():
        fmt = _format(format, DiffFormat)
        _workers(workers)
        _writable(output, "--output")
        _scheduler_options(scheduler, chunk_size)
        rules = [parse_fail_if(t) for t in fail_if or ()]
        if candidate is None and not set_:
            raise InputError.single(
                "nothing to compare: give a CANDIDATE file or --set overrides",
                Location("CANDIDATE"),
                hint="e.g. contagion diff base.yaml --set protocols.aave.close_factor=0.4",
            )
        if liquidity and not shock:
            raise InputError.single(
                "--liquidity needs --shock (it scales liquidity in the one step --shock builds)",
                Location("--liquidity"),
            )
        base_c = load_compiled(base)
        cand_c = load_compiled(candidate if candidate is not None else base, set_ or ())
        labels = (str(base), str(candidate) if candidate is not None else f"{base} + --set")
        simulated = (
            paths is not None
            or seed is not None
            or (not shock and isinstance(base_c.scenario.shocks, MonteCarloModel))
        )
        if simulated:
            if shock:
                raise InputError.single(
                    "--shock and --paths/--seed exclude each other",
                    Location("--shock"),
                    hint="a diff runs either one shock or the Monte Carlo paths",
                )
            model = with_overrides(model_of(base_c, str(base)), paths, seed)
            with (
                _runner(scheduler, chunk_size, workers, progress) as runner,
                _progress(progress, "diff") as (set_total, advance),
            ):
                set_total(2 * model.paths)
                result = diff_simulations(
                    base_c, cand_c, labels, model, rules, workers, advance, runner
                )
        else:
            path, on = build_shock_path(base_c, shock or (), liquidity or ())
            result = diff_runs(base_c, cand_c, labels, path, on, rules)
        if fmt is DiffFormat.table:
            _show(diff_table(result, only_changed=not all_metrics), output)
        elif fmt is DiffFormat.json:
            _write(to_json(result.to_dict()), output)
        elif fmt is DiffFormat.csv:
            rows = [c.to_dict() for c in result.changes]
            cols = ["metric", "base", "candidate", "change", "relative_change"]
            _write(to_csv(cols, rows), output)
        else:
            _write(diff_markdown(result, only_changed=not all_metrics), output)
        for r in result.failed:
            c = r.change
            _say(
                f"FAIL --fail-if {r.rule.text}: {c.metric} changed by {change_text(c)} "
                f"({c.to_dict()['relative_change_text']}): {value_text(c.metric, c.base)} -> "
                f"{value_text(c.metric, c.candidate)}",
            )
        if result.failed:
            raise typer.Exit(int(ExitCode.GATE_FAILED))


# --- compare -----------------------------------------------------------------------------------
class CompareFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


def compare_cmd(
    scenarios: Annotated[
        list[Path],
        typer.Argument(help="Scenario files: the designs to compare.", show_default=False),
    ],
    shock: FixedShockOpt = None,
    liquidity: FixedLiquidityOpt = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a value in every file: PATH=VALUE (repeatable).",
            show_default=False,
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            help="Name a design (one per file, in order; default: each scenario's name).",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="table, markdown, json or csv.")
    ] = "table",
    output: OutputOpt = None,
) -> None:
    """Run several scenario files and show the designs side by side: a column per file."""
    from ..batch.compare import compare
    from ..render.compare import compare_markdown, compare_table
    from ..render.rows import to_csv, to_json

    with _errors():
        fmt = _format(format, CompareFormat)
        result = compare(scenarios, label or (), set_ or (), shock or (), liquidity or ())
        if fmt is CompareFormat.table:
            _show(compare_table(result), output)
        elif fmt is CompareFormat.markdown:
            _write(compare_markdown(result), output)
        elif fmt is CompareFormat.json:
            _write(to_json(result.to_dict()), output)
        else:
            _write(to_csv(result.columns(), result.rows()), output)
        if not result.same_shocks:
            _say("warning: the files' shock paths differ; use --shock to run them on one")
        for d in result.designs:
            if not d.result.converged:
                _say(f"warning: {d.label}: not converged (settings.max_rounds)")


def register(app: typer.Typer) -> None:
    """Add the batch commands to the ``contagion`` app."""
    app.command()(sweep)
    app.command("simulate")(simulate_cmd)
    app.command()(critical)
    app.command()(clusters)
    app.command()(check)
    app.command()(diff)
    app.command("compare")(compare_cmd)
