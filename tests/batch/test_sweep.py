"""`contagion sweep`: grids, equality with one-by-one runs, determinism, formats, bad values."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from contagion_cli.batch import grid
from contagion_cli.batch.pool import Batch, Point, chunk_size, run_batch
from contagion_cli.batch.sweep import run_sweep
from contagion_cli.cli.app import app
from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run
from contagion_cli.errors import InputError
from contagion_cli.load.scenario import load_scenario
from contagion_cli.results.metrics import default_columns

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


# --- grid parsing ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("ETH=-0.05:-0.20:0.05", (-0.05, -0.1, -0.15, -0.2)),
        ("ETH=-0.05:-0.20:-0.05", (-0.05, -0.1, -0.15, -0.2)),  # the step's sign does not matter
        ("ETH=0.1:0.3:0.1", (0.1, 0.2, 0.3)),
        ("ETH=-5%:-15%:5%", (-0.05, -0.1, -0.15)),
        ("ETH=-0.1,-0.3,-0.2", (-0.1, -0.3, -0.2)),
        ("ETH=-0.1,-0.2:-0.4:0.1", (-0.1, -0.2, -0.3, -0.4)),
        ("ETH=-0.3", (-0.3,)),
        ("ETH=-0.05:-0.22:0.05", (-0.05, -0.1, -0.15, -0.2)),  # stop not on the grid: not passed
    ],
)
def test_shock_axis_values(text, values):
    axis = grid.parse_shock_axis(text)
    assert axis.key == "ETH"
    assert axis.values == values


def test_a_200_point_range_has_200_points_and_ends_on_stop():
    axis = grid.parse_shock_axis("ETH=-0.004:-0.80:0.004")
    assert len(axis) == 200
    assert axis.values[0] == -0.004 and axis.values[-1] == -0.8
    assert axis.values[2] == -0.012  # rounded: no 0.012000000000000002


def test_set_axis_keeps_the_typed_text_and_parses_yaml_scalars():
    axis = grid.parse_set_axis("protocols.aave.close_factor=0.5,0.75,1")
    assert axis.texts == ("0.5", "0.75", "1")
    assert axis.values == (0.5, 0.75, 1)
    assert axis.label == "set.protocols.aave.close_factor"


# --- equality with one-by-one runs -------------------------------------------------------------
def _one_by_one(row: dict, sets: dict[str, str], file_liquidity: float | None = None) -> dict:
    shocks = [f"{k[6:]}={v!r}" for k, v in row.items() if k.startswith("shock.")]
    liquidity = [f"{k[10:]}={v!r}" for k, v in row.items() if k.startswith("liquidity.")]
    set_texts = [f"{k[4:]}={sets[k][row[k]]}" for k in row if k.startswith("set.")]
    scenario = load_scenario(QUICKSTART, set_texts, shocks, liquidity)
    return run(compile_scenario(scenario)).to_dict()


def test_sweep_rows_equal_the_same_points_run_one_by_one():
    sets = {"set.protocols.compound.collateral.ETH.liquidation_bonus": {0.05: "0.05", 0.1: "0.1"}}
    result = run_sweep(
        QUICKSTART,
        shocks=["ETH=-0.1:-0.4:0.15", "WBTC=0,-0.2"],
        liquidity=["ETH=1,0.5"],
        sets=["protocols.compound.collateral.ETH.liquidation_bonus=0.05,0.1"],
        workers=2,
    )
    assert len(result) == 3 * 2 * 2 * 2
    assert result.axes == (
        "set.protocols.compound.collateral.ETH.liquidation_bonus",
        "shock.ETH",
        "shock.WBTC",
        "liquidity.ETH",
    )
    for row in result.rows():
        ref = _one_by_one(row, sets)
        for key in ("liquidations", "liquidated_usd", "bad_debt_usd", "shortfall_usd"):
            assert row[key] == ref[key], key
        assert row["insolvent_protocols"] == len(ref["insolvent_protocols"])
        assert row["propagation_depth"] == ref["propagation_depth"]
        assert row["converged"] == ref["converged"]
        for name, proto in ref["protocols"].items():
            assert row[f"protocols.{name}.bad_debt_usd"] == proto["bad_debt_usd"]
            assert row[f"protocols.{name}.insolvent"] == proto["insolvent"]
        assert row["assets.ETH.final_price"] == ref["assets"]["ETH"]["final_price"]


def test_liquidity_axis_without_shocks_scales_the_files_first_step():
    result = run_sweep(QUICKSTART, liquidity=["ETH=1,0.5"], workers=1)
    rows = result.rows()
    plain = run(compile_scenario(load_scenario(QUICKSTART))).to_dict()
    assert rows[0]["bad_debt_usd"] == plain["bad_debt_usd"]
    # the file has liquidity ETH 0.8 in step 1; x0.5 gives 0.4
    halved = load_scenario(QUICKSTART, ["shocks.0.liquidity.ETH=0.4"])
    assert rows[1]["bad_debt_usd"] == run(compile_scenario(halved)).bad_debt_usd


# --- determinism -------------------------------------------------------------------------------
def test_sweep_is_identical_across_runs_worker_counts_and_chunks():
    args = dict(shocks=["ETH=-0.02:-0.60:0.02"], liquidity=["ETH=1,0.6"])
    a = run_sweep(QUICKSTART, workers=1, **args)
    b = run_sweep(QUICKSTART, workers=4, **args)
    c = run_sweep(QUICKSTART, workers=3, **args)
    assert np.array_equal(a.values, b.values, equal_nan=True)
    assert np.array_equal(a.values, c.values, equal_nan=True)
    assert a.coords == b.coords == c.coords


def test_run_batch_reports_progress_and_keeps_point_order():
    compiled = compile_scenario(load_scenario(QUICKSTART))
    eth = compiled.asset_names.index("ETH")
    cols = tuple(default_columns(compiled.protocol_names, compiled.asset_names, ["ETH"]))
    points = [Point(0, ((eth, -0.01 * k),)) for k in range(1, 41)]
    seen = []
    values = run_batch(Batch((compiled,), cols), points, workers=3, progress=seen.append)
    assert sum(seen) == len(points) and len(seen) > 1
    prices = values[:, [c.name for c in cols].index("assets.ETH.final_price")]
    reference = run_batch(Batch((compiled,), cols), points[::-1], workers=1)[::-1]
    assert np.array_equal(values, reference, equal_nan=True)
    assert prices[0] > prices[-1]


def test_parallel_chunks_run_in_worker_processes():
    """Turning a point's arrays into metrics holds the GIL, so threads used one core; the
    chunks after the first run in forked worker processes (Linux), with the same rows."""
    import os

    import contagion_cli.batch.pool as batch_module

    if batch_module._pool_kind() != "processes":
        pytest.skip("worker processes need fork (Linux)")
    compiled = compile_scenario(load_scenario(QUICKSTART))
    eth = compiled.asset_names.index("ETH")
    cols = tuple(default_columns(compiled.protocol_names, compiled.asset_names))
    points = [Point(0, ((eth, -0.001 * k),)) for k in range(1, 601)]
    before = os.times().children_user + os.times().children_system
    forked = run_batch(Batch((compiled,), cols), points, workers=2)
    after = os.times().children_user + os.times().children_system
    assert after > before  # the workers did the work, and were reaped
    assert batch_module._FORKED is None  # nothing of the batch outlives the pool
    alone = run_batch(Batch((compiled,), cols), points, workers=1)
    assert np.array_equal(forked, alone, equal_nan=True)


def test_the_thread_pool_remains_available(monkeypatch):
    monkeypatch.setenv("CONTAGION_POOL", "threads")
    compiled = compile_scenario(load_scenario(QUICKSTART))
    eth = compiled.asset_names.index("ETH")
    cols = tuple(default_columns(compiled.protocol_names, compiled.asset_names))
    points = [Point(0, ((eth, -0.01 * k),)) for k in range(1, 41)]
    threaded = run_batch(Batch((compiled,), cols), points, workers=3)
    assert np.array_equal(threaded, run_batch(Batch((compiled,), cols), points, workers=1))


def test_an_unknown_pool_is_refused_before_any_work(monkeypatch):
    monkeypatch.setenv("CONTAGION_POOL", "thread")
    result = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.2")
    assert result.exit_code == 2, result.output
    assert "CONTAGION_POOL" in result.output and "unknown pool 'thread'" in result.output
    assert "Traceback" not in result.output


def test_chunk_size_gives_every_worker_several_chunks():
    assert chunk_size(1, 16) == 1
    assert chunk_size(1000, 4) == 32
    assert chunk_size(10**6, 2) == 256


# --- the command -------------------------------------------------------------------------------
def test_200_point_sweep_writes_csv_with_a_progress_bar(tmp_path):
    out = tmp_path / "sweep.csv"
    result = cli(
        "sweep",
        QUICKSTART,
        "--shock",
        "ETH=-0.004:-0.80:0.004",
        "-f",
        "csv",
        "-o",
        str(out),
        "--progress",
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 200
    assert rows[0]["shock.ETH"] == "-0.004" and rows[-1]["shock.ETH"] == "-0.8"
    assert {"bad_debt_usd", "protocols.compound.bad_debt_usd", "converged"} <= set(rows[0])
    assert rows[0]["converged"] == "true"
    assert "200/200" in result.stderr


def test_sweep_json_and_table():
    result = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.3", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["points"] == 2 and data["axes"] == ["shock.ETH"]
    assert isinstance(data["rows"][0]["converged"], bool)
    assert isinstance(data["rows"][0]["liquidations"], int)
    table = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.3", "--metric", "liquidated_usd")
    assert table.exit_code == 0, table.output
    assert "shock.ETH" in table.stdout and "-30%" in table.stdout
    assert "compound bad" in table.stdout


def test_sweep_parquet_round_trip(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "s.parquet"
    result = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.3", "-f", "parquet", "-o", str(out))
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.num_rows == 2
    assert table.column("shock.ETH").to_pylist() == [-0.1, -0.3]
    assert str(table.schema.field("converged").type) == "bool"


def test_sweep_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "sweep.png"
    result = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1:-0.4:0.1", "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_optional_extras_are_clear_errors(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("pyarrow", "matplotlib") else real(name, *a),
    )
    parquet = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1", "-f", "parquet", "-o", "x.parquet")
    assert parquet.exit_code == 2
    assert "pyarrow" in parquet.stderr and "contagion-cli[parquet]" in parquet.stderr
    plot = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1", "--plot", str(tmp_path / "a.png"))
    assert plot.exit_code == 2
    assert "matplotlib" in plot.stderr and "contagion-cli[plot]" in plot.stderr


# --- bad values: exit 2, the message names the option ------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["nothing to sweep", "--shock"]),
        (["--shock", "ETH"], ["--shock", "expected PATH=VALUE"]),
        (["--shock", "ETH=abc"], ["--shock", "expected a number"]),
        (["--shock", "ETH=-0.1:-0.5"], ["--shock", "START:STOP:STEP"]),
        (["--shock", "ETH=-0.1:-0.5:0"], ["--shock", "step", "is 0"]),
        (["--shock", "ETH=-0.5:-1.0:0.1"], ["--shock", "> -1"]),
        (["--shock", "ETH=-0.1,,-0.2"], ["--shock", "empty value"]),
        (["--shock", "ETH=0:-0.9:1e-9"], ["--shock", "at most"]),
        (["--shock", "ETX=-0.1"], ["--shock", "unknown asset 'ETX'", "did you mean 'ETH'"]),
        (["--shock", "ETH=-0.1", "--shock", "ETH=-0.2"], ["given twice"]),
        (["--liquidity", "ETH=0"], ["--liquidity", "> 0"]),
        (["--liquidity", "USDC=0.5"], ["--liquidity", "no market"]),
        (["--set", "protocols.aave.close_factor=2"], ["--set", "close_factor", "<= 1"]),
        (["--set", "protocols.aave.close_factor=0.5,"], ["--set", "empty value"]),
        (["--set", "protocols.aavee.close_factor=0.5"], ["--set", "did you mean 'aave'"]),
        (["--shock", "ETH=-0.1", "-f", "xml"], ["--format", "expected one of"]),
        (["--shock", "ETH=-0.1", "-f", "parquet"], ["--format", "--output"]),
        (["--shock", "ETH=-0.1", "--metric", "bad_debt"], ["--metric", "bad_debt_usd"]),
        (["--shock", "ETH=-0.1", "--workers", "0"], ["--workers"]),
        (["--shock", "ETH=-0.1", "--workers", "x"], ["--workers"]),
        (["--shock", "ETH=-0.1", "--plot", "chart.txt"], ["--plot", ".png"]),
    ],
)
def test_bad_values_exit_2_and_name_the_option(args, expected):
    result = cli("sweep", QUICKSTART, *args)
    assert result.exit_code == 2, result.output
    for text in expected:
        assert text in result.output, (text, result.output)


def test_missing_scenario_file_exits_2():
    result = cli("sweep", "no-such.yaml", "--shock", "ETH=-0.1")
    assert result.exit_code == 2
    assert "file not found" in result.stderr


def test_grid_size_limit():
    with pytest.raises(InputError, match="at most"):
        grid.check_size([grid.parse_shock_axis("ETH=-0.1:-0.9:0.1")] * 8, limit=10**6)
    assert math.prod([9] * 3) == grid.grid_size([grid.parse_shock_axis("ETH=-0.1:-0.9:0.1")] * 3)


def test_metric_option_adds_any_run_metric_as_a_column():
    result = cli(
        "sweep",
        QUICKSTART,
        "--shock",
        "ETH=-0.2",
        "--metric",
        "protocols.aave.collateral_sold_usd",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["rows"][0]
    assert row["protocols.aave.collateral_sold_usd"] > 0


def test_terminal_charts_golden():
    from contagion_cli.render import charts

    assert charts.bar(5, 10, 4) == "██"
    assert charts.bar(1, 8, 1) == "▏"
    assert charts.bar(0, 10) == "" and charts.bar(math.nan, 10) == ""
    assert charts.sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    lines = charts.histogram(np.array([0.0, 0.0, 0.0, 1.0]), marks=[("VaR", 1.0)], bins=2, width=3)
    assert lines == ["0 – 0.5  ███        3", "0.5 – 1  █          1  ◀ VaR"]
