"""Bad values of the batch commands' options that no other test covers: exit 2 and a clear
message naming the option, before any work (an unwritable --output is refused before the run,
so a typo does not cost a long sweep)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import assert_error
from typer.testing import CliRunner

from contagion_cli.batch import grid
from contagion_cli.cli.app import app

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
MC = str(ROOT / "scenarios" / "quickstart-montecarlo.yaml")
POLICY = str(ROOT / "scenarios" / "policies" / "quickstart-policy.yaml")
runner = CliRunner()

MISSING = "no-such-dir/out.txt"  # relative to tmp_path: a folder that does not exist


def cli(*args: str):
    return runner.invoke(app, list(args))


# --- output paths, checked before the run -------------------------------------------------------
COMMANDS = {
    "sweep": ["sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.2"],
    "simulate": ["simulate", MC, "--paths", "4"],
    "critical": ["critical", QUICKSTART, "--asset", "ETH", "--above", "0"],
    "clusters": ["clusters", QUICKSTART, "--asset", "ETH", "--levels", "-0.1,-0.2"],
    "check": ["check", QUICKSTART, "--policy", POLICY],
    "diff": ["diff", QUICKSTART, "--set", "protocols.aave.close_factor=0.4"],
}
FILE_OPTIONS = [
    ("sweep", "--output"),
    ("simulate", "--output"),
    ("simulate", "--per-path"),
    ("critical", "--output"),
    ("clusters", "--output"),
    ("clusters", "--plot"),
    ("check", "--output"),
    ("check", "--junit"),
    ("check", "--markdown"),
    ("diff", "--output"),
]


def _file_for(option: str) -> str:
    """A file name every command writes for ``option`` (a report's extension names its format:
    critical writes no CSV)."""
    return {"--plot": "out.png", "--junit": "out.xml", "--per-path": "out.csv"}.get(option, "out")


@pytest.mark.parametrize(("command", "option"), FILE_OPTIONS)
def test_a_file_in_a_missing_folder_is_refused_before_the_run(command, option, tmp_path):
    name = _file_for(option)
    target = tmp_path / "no-such-dir" / name
    started = time.perf_counter()
    result = cli(*COMMANDS[command], option, str(target))
    assert_error(result, option, "does not exist")
    assert result.stdout == ""  # nothing ran, nothing was printed
    assert time.perf_counter() - started < 10


@pytest.mark.parametrize(("command", "option"), FILE_OPTIONS)
def test_a_folder_or_a_file_under_a_file_is_refused(command, option, tmp_path):
    name = _file_for(option)
    assert_error(cli(*COMMANDS[command], option, str(tmp_path)), option, "folder")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_error(cli(*COMMANDS[command], option, str(blocker / name)), option, "is not a folder")


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere; needs file modes"
)
def test_a_read_only_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        result = cli(*COMMANDS["sweep"], "--output", str(locked / "s.csv"))
        assert_error(result, "--output", "permission denied")
    finally:
        locked.chmod(0o700)


def test_clusters_plot_with_a_bad_extension():
    assert_error(cli(*COMMANDS["clusters"], "--plot", "walls.bmp"), "--plot", ".png")


# --- missing scenario files ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["simulate", "nope.yaml"],
        ["critical", "nope.yaml", "--asset", "ETH", "--above", "0"],
        ["clusters", "nope.yaml", "--asset", "ETH"],
        ["diff", "nope.yaml", "--set", "protocols.aave.close_factor=0.4"],
        ["diff", "nope.yaml", QUICKSTART],
    ],
)
def test_a_missing_scenario_file_is_exit_2(args):
    assert_error(cli(*args), "nope.yaml")


# --- other values --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["critical", QUICKSTART, "--asset", "ETH", "--below", "nan"], ["--below", "finite"]),
        (["critical", QUICKSTART, "--asset", "ETH", "--below", "inf"], ["--below", "finite"]),
        (
            ["critical", QUICKSTART, "--asset", "ETH", "--above", "0", "--refine", "-1"],
            ["--refine"],
        ),
        (
            ["clusters", QUICKSTART, "--asset", "ETH", "--set", "protocols.aave.close_factor=2"],
            ["--set"],
        ),
        (["clusters", QUICKSTART, "--asset", "ETH", "--set", "nope"], ["--set"]),
        (["sweep", QUICKSTART, "--shock", "ETH=-0.1", "--max-points", "0"], ["--max-points"]),
    ],
)
def test_other_bad_values_exit_2(args, expected):
    assert_error(cli(*args), *expected)


# --- --scheduler and --chunk-size ----------------------------------------------------------------
SCHEDULED = {
    "sweep": COMMANDS["sweep"],
    "simulate": COMMANDS["simulate"],
    "check": COMMANDS["check"],
    "diff-shock": [*COMMANDS["diff"], "--shock", "ETH=-0.2"],
    "diff-paths": ["diff", MC, "--set", "protocols.aave.close_factor=0.4", "--paths", "4"],
}


@pytest.mark.parametrize("command", list(SCHEDULED))
def test_chunk_size_without_scheduler_is_exit_2(command):
    assert_error(cli(*SCHEDULED[command], "--chunk-size", "3"), "--chunk-size", "--scheduler")


@pytest.mark.parametrize("command", list(SCHEDULED))
@pytest.mark.parametrize("size", ["0", "-5", "100000000"])
def test_chunk_size_out_of_range_is_exit_2(command, size):
    args = [*SCHEDULED[command], "--scheduler", "tcp://127.0.0.1:9", "--chunk-size", size]
    assert_error(cli(*args), "--chunk-size")


@pytest.mark.parametrize("command", ["sweep", "simulate", "check", "diff-paths"])
def test_an_unparsable_scheduler_address_is_exit_2_at_once(command):
    pytest.importorskip("distributed")
    started = time.perf_counter()
    result = cli(*SCHEDULED[command], "--scheduler", "bogus")
    assert_error(result, "--scheduler", "bogus", "port")
    assert time.perf_counter() - started < 5


def test_a_bogus_scheduler_leaves_no_traceback_at_exit():
    """In a process of its own: a half-made Dask Client used to print a ``Client.__del__``
    traceback at interpreter exit, after a wait of twice the timeout."""
    pytest.importorskip("distributed")
    env = {**os.environ, "CONTAGION_DASK_TIMEOUT": "1"}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "contagion_cli", *COMMANDS["sweep"], "--scheduler", "bogus"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
    assert "--scheduler" in proc.stderr and proc.stdout == ""
    assert time.perf_counter() - started < 15


# --- grid size caps ----------------------------------------------------------------------------
def test_an_absurd_range_is_refused_before_anything_is_built():
    started = time.perf_counter()
    result = cli("sweep", QUICKSTART, "--shock", "ETH=0:-0.9:1e-7")
    assert_error(result, "--shock", "9,000,001", "1,000,000", "--max-points", "1e-06")
    assert time.perf_counter() - started < 3


def test_a_product_grid_over_the_cap_is_refused_and_max_points_lowers_it():
    result = cli(
        "sweep", QUICKSTART, "--shock", "ETH=0:-0.5:0.0001", "--shock", "WBTC=0:-0.5:0.001"
    )
    assert_error(result, "5,001", "501", "--max-points")
    low = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1:-0.3:0.1", "--max-points", "2")
    assert_error(low, "--shock", "at most 2")
    ok = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1:-0.3:0.1", "--max-points", "3", "-f", "csv")
    assert ok.exit_code == 0, ok.output
    assert len(ok.stdout.splitlines()) == 4


def test_the_cap_in_force_is_scoped():
    with grid.point_limit(2):
        assert grid.max_points() == 2
        with pytest.raises(grid.InputError, match="3 values; at most 2"):
            grid.parse_shock_axis("ETH=-0.1:-0.3:0.1")
    assert grid.max_points() == grid.MAX_POINTS == 1_000_000
    assert len(grid.parse_shock_axis("ETH=-0.1:-0.3:0.1")) == 3


def test_a_policy_gate_over_the_cap_is_refused(tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text("gates:\n  - check: bad_debt_usd <= 1e6\n    shock: {ETH: '0:-0.9:1e-7'}\n")
    started = time.perf_counter()
    assert_error(cli("check", QUICKSTART, "--policy", str(policy)), "9,000,001", "1,000,000")
    product = tmp_path / "product.yaml"
    product.write_text(
        "gates:\n  - check: bad_debt_usd <= 1e6\n"
        "    shock: {ETH: '0:-0.5:0.0001', WBTC: '0:-0.5:0.001'}\n"
    )
    assert_error(cli("check", QUICKSTART, "--policy", str(product)), "5,001", "1,000,000")
    assert time.perf_counter() - started < 5
