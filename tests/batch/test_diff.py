"""`contagion diff`: same shocks or paths for both, every metric's change, --fail-if gates."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from contagion_cli.batch.diff import Change, parse_fail_if, remap_path
from contagion_cli.cli.app import app
from contagion_cli.compile.layout import Path as ShockPath
from contagion_cli.errors import InputError

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
MC = str(ROOT / "scenarios" / "quickstart-montecarlo.yaml")
RAISE_LT = [
    "--set",
    "protocols.compound.collateral.ETH.liquidation_threshold=0.86",
    "--set",
    "protocols.compound.collateral.ETH.ltv=0.85",
]
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def changes(result) -> dict[str, dict]:
    assert result.exit_code in (0, 1), result.output
    return {c["metric"]: c for c in json.loads(result.stdout)["changes"]}


def test_a_scenario_against_itself_changes_nothing():
    out = changes(cli("diff", QUICKSTART, QUICKSTART, "-f", "json", "--fail-if", "bad_debt_usd>0"))
    assert all(c["change"] in (0, None) for c in out.values())
    assert out["bad_debt_usd"]["base"] > 0


def test_set_overrides_equal_a_candidate_file(tmp_path):
    data = yaml.safe_load(Path(QUICKSTART).read_text())
    data["protocols"]["compound"]["collateral"]["ETH"].update(ltv=0.85, liquidation_threshold=0.86)
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(yaml.safe_dump(data, sort_keys=False))
    by_file = changes(cli("diff", QUICKSTART, str(candidate), "-f", "json"))
    by_set = changes(cli("diff", QUICKSTART, *RAISE_LT, "-f", "json"))
    assert by_file == by_set
    assert by_set["bad_debt_usd"]["change"] > 0
    assert by_set["protocols.compound.bad_debt_usd"]["change"] == by_set["bad_debt_usd"]["change"]


def test_fail_if_turns_the_diff_into_a_gate():
    failing = cli("diff", QUICKSTART, *RAISE_LT, "--fail-if", "bad_debt_usd>+5%")
    assert failing.exit_code == 1
    assert "FAIL --fail-if bad_debt_usd>+5%" in failing.stderr and "+22.07%" in failing.stderr
    passing = cli("diff", QUICKSTART, *RAISE_LT, "--fail-if", "bad_debt_usd>+50%")
    assert passing.exit_code == 0, passing.output
    absolute = cli("diff", QUICKSTART, *RAISE_LT, "--fail-if", "liquidations>0")
    assert absolute.exit_code == 1
    decrease = cli("diff", QUICKSTART, *RAISE_LT, "--fail-if", "liquidated_usd<-0.1%")
    assert decrease.exit_code == 1


def test_candidate_runs_on_the_bases_shocks(tmp_path):
    data = yaml.safe_load(Path(QUICKSTART).read_text())
    data["shocks"] = [{"ETH": -0.5}]  # the candidate's own path is ignored
    candidate = tmp_path / "c.yaml"
    candidate.write_text(yaml.safe_dump(data, sort_keys=False))
    out = changes(cli("diff", QUICKSTART, str(candidate), "-f", "json"))
    assert out["bad_debt_usd"]["change"] == 0


def test_shock_mode_and_markdown():
    shocked = changes(cli("diff", QUICKSTART, *RAISE_LT, "--shock", "ETH=-0.3", "-f", "json"))
    plain = changes(cli("diff", QUICKSTART, *RAISE_LT, "-f", "json"))
    assert shocked["bad_debt_usd"]["base"] != plain["bad_debt_usd"]["base"]
    md = cli("diff", QUICKSTART, *RAISE_LT, "-f", "markdown", "--fail-if", "bad_debt_usd>+5%")
    assert md.exit_code == 1
    assert md.stdout.startswith("## ❌ contagion diff")
    assert (
        "| `bad_debt_usd` |" in md.stdout and "`--fail-if bad_debt_usd>+5%`: ❌ failed" in md.stdout
    )
    table = cli("diff", QUICKSTART, *RAISE_LT)
    assert "bad_debt_usd" in table.stdout and "protocols.aave.bad_debt_usd" not in table.stdout
    full = cli("diff", QUICKSTART, *RAISE_LT, "--all")
    assert "protocols.aave.bad_debt_usd" in full.stdout
    rows = list(csv.DictReader(io.StringIO(cli("diff", QUICKSTART, *RAISE_LT, "-f", "csv").stdout)))
    assert {"metric", "base", "candidate", "change", "relative_change"} == set(rows[0])


def test_simulations_share_their_paths():
    same = changes(cli("diff", MC, MC, "--paths", "60", "-f", "json"))
    assert same["var95"]["change"] == 0 and same["p_insolvent"]["change"] == 0
    worse = cli(
        "diff",
        MC,
        *RAISE_LT,
        "--paths",
        "150",
        "--seed",
        "4",
        "-f",
        "json",
        "--fail-if",
        "es95>+1%",
    )
    out = changes(worse)
    assert out["es95"]["change"] > 0 and worse.exit_code == 1
    assert json.loads(worse.stdout)["mode"] == "simulate"
    assert "150 Monte Carlo paths" in json.loads(worse.stdout)["on"]
    # every protocol's own loss distribution is tabulated, and it is where the change lives
    compound = out["protocols.compound.bad_debt_usd.p99"]
    assert compound["change"] > 0
    assert {"protocols.aave.bad_debt_usd.mean", "protocols.aave.bad_debt_usd.p95"} <= set(out)


def test_change_arithmetic():
    assert Change("x", 0.0, 0.0).relative == 0.0
    assert Change("x", 0.0, 5.0).relative == math.inf
    assert Change("x", 4.0, 5.0).relative == 0.25
    assert Change("x", None, 5.0).change is None
    rule = parse_fail_if("bad_debt_usd>+5%")
    assert rule.relative and rule.amount == 0.05 and rule.op == ">"
    assert rule.fails(Change("bad_debt_usd", 0.0, 1.0))  # from nothing to something: +inf%
    assert not rule.fails(Change("bad_debt_usd", 100.0, 104.0))
    assert not parse_fail_if("insolvent_protocols>=1").relative


def test_remap_path_by_asset_name():
    path = ShockPath(np.array([[0.0, -0.3, -0.1]]), np.array([[1.0, 0.5, 1.0]]))
    out = remap_path(path, ["USDC", "ETH", "WBTC"], ["ETH", "SOL", "USDC"])
    assert out.returns.tolist() == [[-0.3, 0.0, 0.0]]
    assert out.liquidity.tolist() == [[0.5, 1.0, 1.0]]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["nothing to compare", "CANDIDATE"]),
        ([*RAISE_LT, "--fail-if", "bad_debt_usd"], ["--fail-if", "METRIC>CHANGE"]),
        ([*RAISE_LT, "--fail-if", "bad_debt_usd>lots"], ["--fail-if", "expected a change"]),
        ([*RAISE_LT, "--fail-if", ">5%"], ["--fail-if", "metric name"]),
        ([*RAISE_LT, "--fail-if", "bad_dept_usd>5%"], ["--fail-if", "did you mean"]),
        ([*RAISE_LT, "--fail-if", "var95>5%"], ["--fail-if", "simulation metric"]),
        ([*RAISE_LT, "--shock", "ETH=-0.1,-0.2"], ["--shock", "one value"]),
        ([*RAISE_LT, "--shock", "SOL=-0.1"], ["--shock", "unknown asset"]),
        ([*RAISE_LT, "--liquidity", "ETH=0.5"], ["--liquidity", "needs --shock"]),
        ([*RAISE_LT, "--paths", "10"], ["fixed shock path"]),
        ([*RAISE_LT, "-f", "html"], ["--format"]),
        ([*RAISE_LT, "--workers", "0"], ["--workers"]),
        (["--set", "protocols.aave.close_factor=5"], ["--set", "<= 1"]),
        (["missing.yaml"], ["missing.yaml", "file not found"]),
    ],
)
def test_diff_bad_values_exit_2(args, expected):
    result = cli("diff", QUICKSTART, *args)
    assert result.exit_code == 2, result.output
    for fragment in expected:
        assert fragment in result.output, (fragment, result.output)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--paths", "0"], ["--paths"]),
        (["--seed", "-2"], ["--seed"]),
        (["--shock", "ETH=-0.2", "--paths", "5"], ["exclude each other"]),
        (["--fail-if", "bad_debt_usd>5%"], ["metric of one run", "bad_debt_usd.mean"]),
        (["--fail-if", "vaar95>5%"], ["--fail-if", "unknown simulation metric"]),
    ],
)
def test_simulation_diff_bad_values_exit_2(args, expected):
    result = cli("diff", MC, *RAISE_LT, *args)
    assert result.exit_code == 2, result.output
    for fragment in expected:
        assert fragment in result.output, (fragment, result.output)


def test_parse_fail_if_errors_name_the_option():
    with pytest.raises(InputError, match="--fail-if"):
        parse_fail_if("no operator")
