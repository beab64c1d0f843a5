"""Reports fit the terminal they are printed on (render/fit.py).

At 80, 100 and 120 columns (a fixed-width, colourless console, as a terminal of that width
shows them) no line is longer than the width, no figure is cut with "…" or broken over two
lines, and every figure of the whole report is still there, in a "(continued)" table where its
column did not fit. ``--wide``, pipes and files get every table whole.
"""

from __future__ import annotations

import io
import os
import re
from functools import cache
from pathlib import Path

import pytest
from rich.console import Console, RenderableType
from typer.testing import CliRunner

from contagion_cli.cli import output
from contagion_cli.cli.app import app
from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run
from contagion_cli.load.scenario import load_scenario
from contagion_cli.render.fit import Bar, FitTable, Short, pack
from contagion_cli.render.formats import Format, plain_text
from contagion_cli.render.report import render_text
from contagion_cli.results.run import RunResult

ROOT = Path(__file__).parents[2]
SCENARIOS = ROOT / "scenarios"
QUICKSTART = SCENARIOS / "quickstart.yaml"
MIXED = SCENARIOS / "mixed.yaml"
VENUES = SCENARIOS / "venues" / "dislocation-uncontained.yaml"
COORDINATED = SCENARIOS / "generations" / "3-coordinated.yaml"
LEVERS = SCENARIOS / "levers" / "liquidators-capital.yaml"
GOLDEN = Path(__file__).parents[1] / "golden"
WIDTHS = (80, 100, 120)

#: A figure as the reports write it: $1.23M, -38.0%, 1,486.88, 2.52x, 0.3397, 12 ...
FIGURE = re.compile(r"[-+]?\$?\d[\d,]*(?:\.\d+)?[%KMBTx]?")


@cache
def result_of(path: Path, trace: bool = False, entities: int = 0) -> RunResult:
    return run(compile_scenario(load_scenario(path)), trace=trace, entities=entities)


def assert_fits(fitted: str, whole: str, width: int) -> None:
    """``fitted`` (printed at ``width``) keeps every figure of ``whole`` and fits."""
    lines = fitted.splitlines()
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, f"{len(too_long)} lines longer than {width}:\n" + "\n".join(too_long)
    assert "\u2026" not in fitted, fitted
    # a figure cut or broken over two lines would leave a token the whole report does not have
    assert set(FIGURE.findall(fitted)) == set(FIGURE.findall(whole)), fitted


RUNS = {
    "quickstart": (QUICKSTART, False, 0),
    "mixed": (MIXED, False, 0),
    "venues": (VENUES, False, 0),
    "entities": (MIXED, False, 20),
    "trace": (MIXED, True, 0),
    "quickstart-trace": (QUICKSTART, True, 0),
    "coordination": (COORDINATED, False, 0),
    "levers": (LEVERS, True, 0),
}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("case", sorted(RUNS))
def test_run_report_fits_the_terminal(case, width):
    result = result_of(*RUNS[case])
    whole = render_text(result, Format.table)
    fitted = render_text(result, Format.table, width, wide=False)
    assert_fits(fitted, whole, width)
    # every table of the whole report is there, its title first
    for title in ("Protocols", "Assets", "Contagion graph"):
        assert title in fitted
    if len(max(whole.splitlines(), key=len)) > width:
        assert fitted != whole


@pytest.mark.parametrize("width", WIDTHS)
def test_quickstart_golden(width):
    """The layout a terminal of each width shows, pinned down (UPDATE_GOLDEN=1 rewrites)."""
    text = render_text(result_of(QUICKSTART), Format.table, width, wide=False)
    text = "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    path = GOLDEN / f"quickstart.{width}.txt"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} changed; rerun with UPDATE_GOLDEN=1 if intended"


def test_narrow_protocols_table_keeps_the_priority_columns_first():
    text = render_text(result_of(MIXED), Format.table, 80, wide=False)
    first = text.index("Protocols\n")
    continued = text.index("Protocols (continued)")
    head = text[first:continued]
    # the figures MODEL.md §5 puts first, abbreviated; the per-type columns and details later
    for header in ("protocol", "liq.", "repaid", "bad debt", "insolv.", "depth"):
        assert header in head
    for header in ("details", "zero-bid", "hedged"):
        assert header not in head and header in text[continued:]
    # each part names its rows again
    assert text[continued:].count("looper") >= 1


def test_wide_tables_stay_whole():
    """--wide, pipes and files: one table per section, full headers, whatever the width."""
    result = result_of(MIXED)
    text = render_text(result, Format.table, 80)
    assert "(continued)" not in text
    assert "liquidations" in text and "reserve used" in text and "hedged (units)" in text
    assert max(len(line) for line in text.splitlines()) > 120


# --- the layout --------------------------------------------------------------------------------
def _demo() -> FitTable:
    table = FitTable("Demo")
    table.add_column("name", justify="left", rank=0)
    table.add_column("alpha", short="a", rank=2)
    table.add_column("beta", rank=1)
    table.add_column("gamma long header", short="gamma", rank=1)
    table.add_column("notes", justify="left", rank=3, wrap="; ")
    table.add_column("bar", justify="left", bar=20, rank=1)
    table.add_row("first", "1,000.00", "$1.00M", "12", "ETH 400.00; WBTC -1.20", Bar(1, 2))
    table.add_row("second", "2.00", "$3.25K", Short("yes", "y"), "", Bar(2, 2))
    return table


def _text(renderable: RenderableType, width: int) -> str:
    return plain_text(renderable, width, wide=False)


def test_a_table_that_fits_is_one_table_with_full_headers():
    text = _text(_demo(), 200)
    assert "(continued)" not in text and "gamma long header" in text and "yes" in text
    assert "█" * 20 in text  # the bar at its natural width


def test_a_narrower_table_abbreviates_before_it_splits():
    table = _demo()
    whole = max(len(line) for line in _text(table, 200).splitlines())
    short = [w for w in range(40, whole) if table.layout(w) == [(list(range(6)), True)]]
    assert short, "no width at which the abbreviated table fits in one piece"
    text = _text(table, short[-1])
    assert "gamma long header" not in text and "gamma" in text and " y " in text + " "


def test_a_split_table_repeats_its_keys_and_keeps_column_order():
    table = _demo()
    plan = table.layout(40)
    assert len(plan) > 1
    for columns, _ in plan:
        assert columns[0] == 0 and columns == sorted(columns)
    # rank 1 (beta, gamma, bar) before rank 2 (alpha) before rank 3 (notes)
    order = [k for columns, _ in plan for k in columns[1:]]
    assert order.index(2) < order.index(1) < order.index(4)
    text = _text(table, 40)
    assert text.count("Demo (continued)") == len(plan) - 1
    assert max(len(line) for line in text.splitlines()) <= 40
    assert "\u2026" not in text


def test_text_breaks_only_at_its_separator():
    assert pack("ETH 400.00; WBTC -1.20", "; ", 12) == "ETH 400.00;\nWBTC -1.20"
    assert pack("ETH 400.00; WBTC -1.20", "; ", 40) == "ETH 400.00; WBTC -1.20"
    assert pack("scenarios/candidates/quickstart.yaml", "/", 22) == (
        "scenarios/candidates/\nquickstart.yaml"
    )
    text = _text(_demo(), 44)
    assert "ETH 400.00" in text and "WBTC -1.20" in text


def test_a_piece_too_wide_for_any_table_breaks_inside_and_figures_stay_whole():
    # A checkout folder whose name alone is wider than the terminal leaves the figures room.
    folder = "a-rather-long-folder-name-for-a-checkout-of-the-repository-on-a-ci-runner"
    table = FitTable("Gates")
    table.add_column("scenario", justify="left", rank=0, wrap="/")
    table.add_column("gate", justify="left", rank=0, wrap=" ")
    table.add_column("value", rank=1)
    table.add_column("excess", rank=2)
    table.add_row(
        f"/tmp/{folder}/scenarios/quickstart.yaml", "bad debt", "$812K", "+$62.6K (+8.3%)"
    )
    for width in WIDTHS:
        text = _text(table, width)
        assert_fits(text, _text(table, 400), width)
        assert "quickstart.yaml" in text
    assert folder not in _text(table, 80)  # broken inside the folder name
    assert pack("ab/" + "x" * 10, "/", 4) == "ab/\nxxxx\nxxxx\nxx"


def test_bars_shrink_to_fit():
    table = FitTable()
    table.add_column("k", rank=0)
    table.add_column("bar", justify="left", bar=40)
    table.add_row("a", Bar(1, 1))
    assert "█" * 40 in _text(table, 200)
    narrow = _text(table, 30)
    assert "█" * 20 in narrow and "█" * 30 not in narrow


# --- the command line --------------------------------------------------------------------------
class Recorder(Console):
    """A terminal that keeps what a command printed, to print it again at other widths."""

    printed: list[RenderableType]

    def print(self, *objects, **kwargs) -> None:  # type: ignore[no-untyped-def, override]
        self.printed.extend(objects)


def _printed(monkeypatch, *args: str) -> RenderableType:
    recorder = Recorder(file=io.StringIO(), width=80)
    recorder.printed = []
    monkeypatch.setattr(output, "terminal", lambda: recorder)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code in (0, 1), result.output
    assert len(recorder.printed) == 1
    return recorder.printed[0]


POLICY = """\
gates:
  - name: bad debt of the quickstart shock stays under $750K
    check: bad_debt_usd <= 7.5e5
  - name: at most one protocol insolvent down to an ETH crash of 30%
    check: insolvent_protocols <= 1
    shock: {ETH: "-0.10:-0.30:0.10"}
  - name: compound insolvent in fewer than 5% of volatile weeks
    check: protocols.compound.p_insolvent < 5%
    simulate: {model: gbm, steps: 2, assets: {ETH: {volatility: 0.8}}, paths: 40, seed: 1}
"""

BATCH = {
    "sweep": ["sweep", str(QUICKSTART), "--shock", "ETH=-0.1:-0.5:0.1"],
    "simulate": ["simulate", str(SCENARIOS / "quickstart-montecarlo.yaml"), "--paths", "60"],
    "critical": ["critical", str(QUICKSTART), "--asset", "ETH", "--above", "0", "--scan", "30"],
    "clusters": ["clusters", str(QUICKSTART), "--asset", "ETH", "--levels", "-0.05:-0.8:0.05"],
    "check": [
        "check",
        str(QUICKSTART),
        str(SCENARIOS / "candidates" / "quickstart.yaml"),
        "--policy",
        "{policy}",
    ],
    "diff": ["diff", str(QUICKSTART), str(SCENARIOS / "candidates" / "quickstart.yaml")],
    "compare": ["compare", *(str(p) for p in sorted((SCENARIOS / "generations").glob("*.yaml")))],
}


@pytest.mark.parametrize("command", sorted(BATCH))
def test_batch_tables_fit_the_terminal(command, monkeypatch, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    args = [a.replace("{policy}", str(policy)) for a in BATCH[command]]
    report = _printed(monkeypatch, *args)
    whole = plain_text(report)
    for width in WIDTHS:
        assert_fits(_text(report, width), whole, width)


def test_the_terminal_gets_fitted_tables_and_wide_gets_them_whole(monkeypatch):
    buffer = io.StringIO()
    terminal = Console(file=buffer, width=80, color_system=None, highlight=False)
    monkeypatch.setattr(output, "terminal", lambda: terminal)
    assert CliRunner().invoke(app, ["run", str(MIXED)]).exit_code == 0
    fitted = buffer.getvalue()
    assert "Protocols (continued)" in fitted
    assert max(len(line) for line in fitted.splitlines()) <= 80

    buffer.seek(0)
    buffer.truncate()
    terminal.width = 80
    assert CliRunner().invoke(app, ["run", str(MIXED), "--wide"]).exit_code == 0
    wide = buffer.getvalue()
    assert "(continued)" not in wide and "hedged (units)" in wide
    assert max(len(line) for line in wide.splitlines()) > 80


def test_a_pipe_gets_whole_tables():
    result = CliRunner().invoke(app, ["run", str(MIXED)])
    assert result.exit_code == 0
    assert "(continued)" not in result.stdout and "hedged (units)" in result.stdout


def test_readme_shows_what_an_80_column_terminal_prints():
    readme = (ROOT / "README.md").read_text()
    marker = "In an 80-column terminal the protocols table reads:\n\n```\n"
    start = readme.index(marker) + len(marker)
    shown = readme[start : readme.index("```", start)]
    text = render_text(result_of(QUICKSTART), Format.table, 80, wide=False)
    printed = "\n".join(line.rstrip() for line in text.splitlines())
    assert shown.strip("\n") in printed
