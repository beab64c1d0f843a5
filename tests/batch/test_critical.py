"""`contagion critical` (bisection on cases with known thresholds, the monotonicity check) and
`contagion clusters` (liquidation walls where the positions put them)."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import scenario_from_yaml
from typer.testing import CliRunner

from contagion_cli.batch.clusters import liquidation_clusters
from contagion_cli.batch.critical import find_critical
from contagion_cli.cli.app import app
from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.render.analysis import SPARK_WIDTH, monotone_warning, scan_sparkline

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
runner = CliRunner()

# One ETH of collateral per position and a price with no market (liquidations sell at the
# price, no impact), so every threshold is known in closed form: with LT 0.8 a position owing
# d USDC is liquidatable when 0.8 x 100 x (1 + s) < d, i.e. below s = d/80 - 1.
BOOK = """
name: known-thresholds
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 100}}
protocols:
  lend:
    type: lending
    collateral:
      ETH: {{ltv: 0.7, liquidation_threshold: 0.8, liquidation_bonus: 0.05}}
    positions:
{positions}
shocks:
  - {{ETH: 0.0}}
"""


def book(*debts: float) -> str:
    rows = "\n".join(
        f"      - {{account: p{i}, collateral: {{ETH: 1}}, debt: {{USDC: {d}}}}}"
        for i, d in enumerate(debts)
    )
    return BOOK.format(positions=rows)


def compiled(*debts: float):
    return compile_scenario(scenario_from_yaml(book(*debts)))


def cli(*args: str):
    return runner.invoke(app, list(args))


# --- bisection on known thresholds -------------------------------------------------------------
def test_first_liquidation_at_the_known_shock():
    r = find_critical(compiled(70), "ETH", "liquidations", 0, tolerance=1e-6, scan=20)
    assert r.status == "found" and r.monotone
    assert r.critical_shock < -0.125 <= r.last_safe_shock
    assert abs(r.critical_shock - (-0.125)) <= 1e-6
    assert r.value_at_critical == 1 and r.value_at_safe == 0
    assert r.critical_price == pytest.approx(87.5, abs=1e-3)


def test_bad_debt_starts_where_the_collateral_no_longer_covers_debt_plus_bonus():
    # below HF 0.95 the whole debt is repaid: bad debt once 100(1+s)/1.05 < 70, s < -0.265
    r = find_critical(compiled(70), "ETH", "bad_debt_usd", 0, tolerance=1e-7)
    assert r.status == "found" and r.monotone
    assert abs(r.critical_shock - (-0.265)) <= 1e-7
    assert r.critical_shock < -0.265 <= r.last_safe_shock
    assert r.bisections > 10


def test_below_direction_and_upward_ranges():
    # the price of an asset without a market is 100 (1 + s): below 40 from s = -0.6
    r = find_critical(
        compiled(70), "ETH", "assets.ETH.final_price", 40.0, direction="below", tolerance=1e-6
    )
    assert abs(r.critical_shock - (-0.6)) <= 1e-6
    up = find_critical(
        compiled(70), "ETH", "assets.ETH.final_price", 150.0, range_to=1.0, tolerance=1e-6
    )
    assert abs(up.critical_shock - 0.5) <= 1e-6


def test_not_crossed_and_crossed_at_the_start():
    r = find_critical(compiled(70), "ETH", "bad_debt_usd", 1e9, scan=10)
    assert r.status == "not_crossed" and r.critical_shock is None
    at = find_critical(compiled(70), "ETH", "liquidations", 0, range_from=-0.5, scan=10)
    assert at.status == "at_start" and at.critical_shock == -0.5


def test_a_non_monotone_metric_is_reported():
    quick = compile_scenario(scenario_from_yaml(Path(QUICKSTART).read_text()))
    r = find_critical(quick, "ETH", "liquidations", 0, scan=60)
    assert not r.monotone and r.turns
    assert all(abs(t.shock_b) > abs(t.shock_a) for t in r.turns)
    assert any(t.value_b < t.value_a for t in r.turns)


# The quickstart's bad debt first appears in a window about 0.06 percentage points wide, from
# -15.1184% (a sweep at 1e-6: `contagion sweep scenarios/quickstart.yaml --shock
# ETH=-0.151:-0.1515:0.000001 -f csv`; none at 1e-5 from 0 down to there) to -15.18%, then is 0
# again until -15.6%: the default 1% scan steps over it, and bisecting its first crossing
# interval once answered -16.05%.
QUICK_FIRST_BAD_DEBT = -0.151184


def quickstart():
    return compile_scenario(scenario_from_yaml(Path(QUICKSTART).read_text()))


def test_a_crossing_between_scan_points_is_found_by_refining():
    r = find_critical(quickstart(), "ETH", "bad_debt_usd", 0)
    assert r.status == "found" and not r.monotone and r.may_cross_earlier
    assert abs(r.critical_shock - QUICK_FIRST_BAD_DEBT) <= r.tolerance
    assert r.value_at_critical > 0
    assert [x.spacing for x in r.refinements] == pytest.approx([1e-3, 1e-4])
    assert r.spacing == pytest.approx(1e-4) and r.stopped == "tolerance"
    # with no rescans the answer is the first crossing the 1% scan sees, far beyond
    coarse = find_critical(quickstart(), "ETH", "bad_debt_usd", 0, refine=0)
    assert coarse.critical_shock < -0.155 and coarse.stopped == "budget"
    assert not coarse.refinements and coarse.spacing == pytest.approx(0.01)


def test_refining_stops_when_a_rescan_no_longer_moves_the_answer():
    # liquidations start at a few percent: the rescans of [0, answer] are small and settle
    r = find_critical(quickstart(), "ETH", "liquidations", 0, tolerance=1e-5, scan=60)
    assert not r.monotone and r.refinements
    assert r.stopped in ("settled", "tolerance", "budget")
    if r.stopped == "settled":
        assert not r.refinements[-1].moved
        assert r.refinements[-1].critical_shock == r.critical_shock
    assert r.scan_points == 60 + sum(x.points for x in r.refinements) <= 60 + r.refine_budget


def test_a_monotone_metric_is_not_refined():
    r = find_critical(compiled(70), "ETH", "bad_debt_usd", 0, tolerance=1e-7)
    assert r.monotone and not r.refinements and not r.may_cross_earlier and r.stopped == ""
    assert monotone_warning(r) is None


@pytest.mark.parametrize("extra", [[], ["--scan", "1000"], ["--refine", "0"]])
def test_the_warning_never_claims_the_answer_stands(extra):
    result = cli("critical", QUICKSTART, "--asset", "ETH", "--above", "0", "-f", "json", *extra)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["monotone"] is False and data["turns"]
    assert data["may_cross_earlier"] is True
    assert data["spacing"] > 0 and data["stopped"] in ("settled", "budget", "tolerance")
    if extra != ["--refine", "0"]:
        assert abs(data["critical_shock"] - QUICK_FIRST_BAD_DEBT) <= data["tolerance"]
    err = result.stderr
    assert "not monotone" in err and "cannot be ruled out" in err
    assert "stands" not in err and "does not affect" not in err
    assert f"{data['spacing'] * 100:.4g}% apart" in err  # names the final spacing
    assert "contagion sweep" in err  # and how to look finer
    assert {"budget": "--refine", "tolerance": "--tolerance", "settled": "--scan"}[
        data["stopped"]
    ] in err.split("hint:")[1]


def test_the_table_cautions_and_caps_the_sparkline():
    result = cli("critical", QUICKSTART, "--asset", "ETH", "--above", "0", "--scan", "1000")
    assert result.exit_code == 0, result.output
    assert "Caution" in result.stdout and "cannot be ruled out" in result.stdout
    spark = next(line for line in result.stdout.splitlines() if line.strip().startswith("Scan"))
    bars = spark.split("Scan", 1)[1].strip()
    assert 0 < len(bars) <= SPARK_WIDTH


def test_the_resampled_sparkline_keeps_a_narrow_spike():
    values = [0.0] * 1000
    values[501] = 5.0
    r = replace(find_critical(compiled(70), "ETH", "liquidations", 0, scan=5), scan_values=values)
    r = replace(r, scan_shocks=tuple(range(1000)))
    line = scan_sparkline(r)
    assert len(line) == SPARK_WIDTH and "█" in line


# --- the command -------------------------------------------------------------------------------
def test_critical_command_table_json_and_strict(tmp_path):
    path = tmp_path / "book.yaml"
    path.write_text(book(70))
    table = cli("critical", str(path), "--asset", "ETH", "--above", "0")
    assert table.exit_code == 0, table.output
    assert "-26.50" in table.stdout and "Monotone" in table.stdout
    data = json.loads(
        cli("critical", str(path), "--asset", "ETH", "--above", "0", "-f", "json").stdout
    )
    assert data["status"] == "found" and data["monotone"] is True
    assert data["condition"] == "bad_debt_usd > 0" and len(data["scan"]) == 100
    loose = cli(
        "critical", QUICKSTART, "--asset", "ETH", "--metric", "liquidations", "--above", "0"
    )
    assert loose.exit_code == 0
    assert "not monotone" in loose.stderr
    strict = cli(
        "critical",
        QUICKSTART,
        "--asset",
        "ETH",
        "--metric",
        "liquidations",
        "--above",
        "0",
        "--strict",
    )
    assert strict.exit_code == 1


def test_critical_with_fixed_other_shocks_and_liquidity():
    result = cli(
        "critical",
        QUICKSTART,
        "--asset",
        "ETH",
        "--above",
        "0",
        "--shock",
        "WBTC=-0.1",
        "--liquidity",
        "ETH=0.8",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    crit = json.loads(result.stdout)["critical_shock"]
    # the quickstart's own shock (ETH -20%, WBTC -10%, liquidity 0.8) has bad debt: it lies beyond
    assert -0.2 < crit < 0


def test_critical_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "c.png"
    result = cli("critical", QUICKSTART, "--asset", "ETH", "--above", "0", "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--asset", "ETH"], ["--above", "exactly one"]),
        (["--asset", "ETH", "--above", "0", "--below", "1"], ["exactly one"]),
        (["--asset", "ETX", "--above", "0"], ["--asset", "did you mean 'ETH'"]),
        (["--asset", "ETH", "--above", "x"], ["--above"]),
        (["--asset", "ETH", "--above", "nan"], ["--above", "finite"]),
        (["--asset", "ETH", "--above", "0", "--metric", "bad"], ["--metric", "unknown metric"]),
        (["--asset", "ETH", "--above", "0", "--metric", "var95"], ["--metric"]),
        (["--asset", "ETH", "--above", "0", "--from", "-1"], ["--from", "> -1"]),
        (["--asset", "ETH", "--above", "0", "--to", "-1.5"], ["--to", "> -1"]),
        (["--asset", "ETH", "--above", "0", "--to", "0"], ["--to", "empty"]),
        (["--asset", "ETH", "--above", "0", "--tolerance", "0"], ["--tolerance"]),
        (["--asset", "ETH", "--above", "0", "--tolerance", "2"], ["--tolerance"]),
        (["--asset", "ETH", "--above", "0", "--scan", "2"], ["--scan"]),
        (["--asset", "ETH", "--above", "0", "--shock", "ETH=-0.1"], ["--shock", "--asset"]),
        (["--asset", "ETH", "--above", "0", "--shock", "WBTC=-0.1,-0.2"], ["--shock", "one"]),
        (["--asset", "ETH", "--above", "0", "--liquidity", "USDC=0.5"], ["--liquidity"]),
        (["--asset", "ETH", "--above", "0", "-f", "csv"], ["--format"]),
        (["--asset", "ETH", "--above", "0", "--workers", "0"], ["--workers"]),
        (["--asset", "ETH", "--above", "0", "--set", "protocols.aave.close_factor=2"], ["--set"]),
        (["--asset", "ETH", "--above", "0", "--plot", "p.bmp"], ["--plot"]),
    ],
)
def test_critical_bad_values_exit_2(args, expected):
    result = cli("critical", QUICKSTART, *args)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output, (text, result.output)


# --- clusters ----------------------------------------------------------------------------------
def test_walls_sit_at_the_liquidation_prices():
    # liquidatable below s = 70/80 - 1 = -0.125, 58/80 - 1 = -0.275, 45/80 - 1 = -0.4375
    r = liquidation_clusters(compiled(70, 58, 45), "ETH", "-0.05:-0.50:0.05")
    walls = {round(lv.shock, 2): lv.wall_liquidations for lv in r.levels}
    assert walls == {
        -0.05: 0,
        -0.1: 0,
        -0.15: 1,
        -0.2: 0,
        -0.25: 0,
        -0.3: 1,
        -0.35: 0,
        -0.4: 0,
        -0.45: 1,
        -0.5: 0,
    }
    assert [lv.first_round_liquidations for lv in r.levels][-1] == 3
    assert r.levels[2].price == pytest.approx(85.0)
    for lv in r.levels:  # no market: nothing moves the price, so the cascade adds nothing
        assert lv.cascade_liquidations >= lv.first_round_liquidations
        assert lv.cascade_final_price == pytest.approx(lv.price)


def test_clusters_command_formats_and_plot(tmp_path):
    table = cli("clusters", QUICKSTART, "--asset", "ETH", "--levels", "-0.05:-0.40:0.05")
    assert table.exit_code == 0, table.output
    assert "liquidation walls of ETH" in table.stdout and "█" in table.stdout
    csv_out = cli("clusters", QUICKSTART, "--asset", "ETH", "--levels", "-0.1,-0.2", "-f", "csv")
    assert csv_out.stdout.splitlines()[0].startswith("shock,price,first_round_liquidations")
    data = json.loads(
        cli("clusters", QUICKSTART, "--asset", "ETH", "--levels", "-0.1,-0.2", "-f", "json").stdout
    )
    assert [lv["shock"] for lv in data["levels"]] == [-0.1, -0.2]
    # at -20% the cascade liquidates more than the price move alone: aave's selling pulls in
    # compound
    assert data["levels"][1]["cascade_liquidations"] > data["levels"][1]["first_round_liquidations"]
    if importlib.util.find_spec("matplotlib") is not None:
        out = tmp_path / "walls.png"
        plotted = cli("clusters", QUICKSTART, "--asset", "ETH", "--plot", str(out))
        assert plotted.exit_code == 0 and out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--asset", "ETH", "--levels", "-0.2,-0.1"], ["--levels", "move away"]),
        (["--asset", "ETH", "--levels", "0,-0.1"], ["--levels", "non-zero"]),
        (["--asset", "ETH", "--levels", "-0.1:-2:0.1"], ["--levels", "> -1"]),
        (["--asset", "ETH", "--levels", "a:b:c"], ["--levels", "expected a number"]),
        (["--asset", "BTC", "--levels", "-0.1"], ["--asset", "unknown asset"]),
        (["--asset", "ETH", "-f", "parquet"], ["--format"]),
        (["--asset", "ETH", "--workers", "-2"], ["--workers"]),
    ],
)
def test_clusters_bad_values_exit_2(args, expected):
    result = cli("clusters", QUICKSTART, *args)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output, (text, result.output)
