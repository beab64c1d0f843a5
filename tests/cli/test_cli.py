"""The command line: formats, options, exit codes, golden tables and the installed entry point."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cases import CHAIN
from helpers import run_scenario, scenario_from_yaml
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.render.formats import Format as OutputFormat
from contagion_cli.render.report import render_text

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
GOLDEN = Path(__file__).parents[1] / "golden"
runner = CliRunner()


def run_cli(*args: str):
    return runner.invoke(app, list(args))


def run_json(*args: str) -> dict:
    result = run_cli("run", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_carries_the_stable_keys():
    data = run_json(QUICKSTART)
    for key in ("converged", "rounds", "bad_debt_usd", "propagation_depth", "protocols", "assets"):
        assert key in data
    assert isinstance(data["converged"], bool)
    for proto in data["protocols"].values():
        for key in (
            "liquidations",
            "repaid_usd",
            "bad_debt_usd",
            "shortfall_usd",
            "insolvent",
            "first_distress_round",
            "depth",
        ):
            assert key in proto
    for asset in data["assets"].values():
        for key in ("start_price", "shocked_price", "final_price", "sold_units", "slippage_usd"):
            assert key in asset


def test_quickstart_shows_a_cross_protocol_cascade():
    data = run_json(QUICKSTART)
    assert data["converged"] is True
    assert data["propagation_depth"] >= 1
    assert data["bad_debt_usd"] > 0
    assert data["protocols"]["compound"]["depth"] == 1
    assert data["contagion"]["edges"][0] == {
        "from": "aave",
        "to": "compound",
        "asset": "ETH",
        "round": 2,
    }


def test_shock_option_replaces_the_path():
    mild = run_json(QUICKSTART, "--shock", "ETH=-0.05")
    assert mild["liquidations"] == 0
    assert mild["assets"]["ETH"]["shocked_price"] == pytest.approx(2850.0)
    percent = run_json(QUICKSTART, "--shock", "ETH=-5%")
    assert percent["assets"]["ETH"]["shocked_price"] == pytest.approx(2850.0)
    both = run_json(
        QUICKSTART, "--shock", "ETH=-0.3", "--shock", "WBTC=-0.2", "--liquidity", "ETH=0.5"
    )
    assert both["assets"]["WBTC"]["shocked_price"] == pytest.approx(48000.0)
    assert both["bad_debt_usd"] > run_json(QUICKSTART, "--shock", "ETH=-0.3")["bad_debt_usd"]


def test_set_option_changes_a_parameter():
    base = run_json(QUICKSTART)
    tighter = run_json(
        QUICKSTART,
        "--set",
        "protocols.compound.collateral.ETH.liquidation_threshold=0.70",
        "--set",
        "protocols.compound.collateral.ETH.ltv=0.7",
    )
    assert (
        tighter["protocols"]["compound"]["liquidations"]
        != base["protocols"]["compound"]["liquidations"]
    )
    shock = run_json(QUICKSTART, "--set", "shocks.0.ETH=-0.01")
    assert shock["liquidations"] == 0


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["--set", "protocols.aavee.reserve_usd=1"],
            ["no protocol named 'aavee'", "did you mean 'aave'"],
        ),
        (
            ["--set", "protocols.aave.close_factor=2"],
            ["--set protocols.aave.close_factor=2", "protocols.aave.close_factor", "<= 1"],
        ),
        (["--set", "protocols.aave.close_factr=0.5"], ["unknown key 'close_factr'"]),
        (["--set", "noequals"], ["expected PATH=VALUE"]),
        (["--set", "shocks.7.ETH=-0.1"], ["index 7 is out of range"]),
        (["--set", "name.x=1"], ["is a single value"]),
        (["--shock", "ETH=abc"], ["--shock", "expected a number"]),
        (["--shock", "BTC=-0.3"], ["--shock BTC=-0.3", "unknown asset 'BTC'"]),
        (["--shock", "ETH=-1.2"], ["--shock ETH=-1.2", "> -1"]),
        (["--shock", "ETH=-0.1", "--shock", "ETH=-0.2"], ["shocked twice"]),
        (["--liquidity", "ETH=0.5"], ["--liquidity needs --shock"]),
        (["--shock", "ETH=-0.1", "--liquidity", "USDC=0.5"], ["has no market"]),
        (["--format", "xml"], ["unknown value 'xml'", "table, json, csv, markdown"]),
        (["--graph", "graph.png"], ["cannot tell the graph format"]),
    ],
)
def test_bad_options_exit_2(args, fragments):
    result = run_cli("run", QUICKSTART, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output


def test_strict_fails_when_not_converged():
    args = ("run", QUICKSTART, "--set", "settings.max_rounds=1", "--format", "json")
    loose = run_cli(*args)
    assert loose.exit_code == 0
    assert json.loads(loose.stdout)["converged"] is False
    assert "not converged" in loose.stderr
    strict = run_cli(*args, "--strict")
    assert strict.exit_code == 1
    converged = run_cli("run", QUICKSTART, "--strict", "--format", "json")
    assert converged.exit_code == 0


def test_csv_is_long_format():
    result = run_cli("run", QUICKSTART, "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0].keys() == {"section", "name", "field", "value"}
    bad = {(r["name"], r["field"]): r["value"] for r in rows if r["section"] == "protocol"}
    assert float(bad[("compound", "bad_debt_usd")]) > 0
    assert any(r["section"] == "edge" for r in rows)


def test_markdown_has_tables_and_mermaid():
    result = run_cli("run", QUICKSTART, "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith("## contagion: quickstart")
    assert "| protocol | type |" in result.stdout
    assert "```mermaid" in result.stdout


def test_output_file_and_graph_files(tmp_path):
    out = tmp_path / "report.json"
    dot = tmp_path / "graph.dot"
    mmd = tmp_path / "graph.mmd"
    result = run_cli("run", QUICKSTART, "-f", "json", "-o", str(out), "--graph", str(dot))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert json.loads(out.read_text())["propagation_depth"] >= 1
    assert '"aave" -> "compound" [label="ETH @ round 2"]' in dot.read_text()
    result = run_cli("run", QUICKSTART, "-f", "json", "--graph", str(mmd))
    assert "p_aave -->|ETH @ r2| p_compound" in mmd.read_text()


def test_trace_in_json_and_table():
    data = run_json(QUICKSTART, "--trace")
    assert [row["round"] for row in data["trace"]] == list(range(1, data["total_rounds"] + 1))
    assert data["trace"][0]["liquidations"]["aave"] > 0
    table = run_cli("run", QUICKSTART, "--trace")
    assert "Rounds" in table.stdout and "ETH price" in table.stdout


def test_table_report_on_stdout():
    result = run_cli("run", QUICKSTART)
    assert result.exit_code == 0
    for fragment in ("Protocols", "Assets", "Contagion graph", "compound", "via ETH"):
        assert fragment in result.stdout


def test_schema_command_is_a_json_schema():
    result = run_cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "contagion scenario"
    assert "assets" in schema["properties"]


def test_version():
    result = run_cli("--version")
    assert result.exit_code == 0 and "contagion-cli" in result.stdout


# --- golden strings ----------------------------------------------------------------------------
def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"golden file {path} is missing; create it with UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} changed; rerun with UPDATE_GOLDEN=1 if intended"


@pytest.mark.parametrize("fmt", [OutputFormat.table, OutputFormat.markdown, OutputFormat.csv])
def test_golden_chain_report(fmt):
    result = run_scenario(scenario_from_yaml(CHAIN), trace=True)
    text = render_text(result, fmt, width=140)
    _golden(f"chain.{fmt.value}.txt", text.replace(result.version, "<version>"))


# --- the real entry points ---------------------------------------------------------------------
def test_installed_command_runs_in_a_subprocess():
    # this interpreter's own script first: a `contagion` elsewhere on PATH may be another
    # project's (the PyPI name belongs to one)
    beside = Path(sys.executable).parent / "contagion"
    exe = str(beside) if beside.exists() else shutil.which("contagion")
    assert exe is not None, "the contagion command is not installed"
    env = {k: v for k, v in os.environ.items() if k != "CONTAGION_EXECUTOR"}  # the default
    proc = subprocess.run(
        [exe, "run", QUICKSTART, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["propagation_depth"] >= 1
    bad = subprocess.run(
        [exe, "run", "/nonexistent.yaml"], capture_output=True, text=True, timeout=600
    )
    assert bad.returncode == 2
    assert "file not found" in bad.stderr and "Traceback" not in bad.stderr


def test_a_file_gets_whole_tables_at_any_width():
    """rich shrinks columns to the console and ends cut cells with an ellipsis; a file's report
    is widened instead (a terminal's is fitted: tests/render/test_width.py)."""
    from contagion_cli.render.table import run_report
    from contagion_cli.render.width import fit_width

    result = run_scenario(scenario_from_yaml(CHAIN))
    report = run_report(result)
    assert fit_width(report, 80) > 80
    text = render_text(result, OutputFormat.table, width=80)
    assert "\u2026" not in text
    assert "$70.0K" in text and "reserve used" in text


def test_readme_shows_what_the_quickstart_prints():
    """The README walks through the quickstart's output: it must be today's output."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    prompt = "$ contagion run scenarios/quickstart.yaml\n"
    start = readme.index(prompt) + len(prompt)
    shown = readme[start : readme.index("```", start)]
    result = run_cli("run", QUICKSTART)
    assert result.exit_code == 0
    printed = "\n".join(line.rstrip() for line in result.stdout.splitlines()).strip("\n")
    assert shown.strip("\n") == printed, "README.md's quickstart output is out of date"


def test_python_dash_m():
    proc = subprocess.run(
        [sys.executable, "-m", "contagion_cli", "--version"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0 and "contagion-cli" in proc.stdout
