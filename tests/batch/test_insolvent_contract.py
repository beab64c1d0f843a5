"""One contract for insolvency: ``run``'s JSON lists the insolvent protocols
(``insolvent_protocols``, MODEL.md §7) and counts them (``insolvent_count``); every metric name
that says ``insolvent_protocols`` (gates, sweeps, ``--fail-if``) means the count, as before."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from contagion_cli.cli.app import app

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
CANDIDATE = str(ROOT / "scenarios" / "candidates" / "quickstart.yaml")
runner = CliRunner()


def test_run_json_lists_and_counts():
    data = json.loads(runner.invoke(app, ["run", QUICKSTART, "-f", "json"]).stdout)
    assert data["insolvent_protocols"] == ["compound"]
    assert data["insolvent_count"] == 1


def test_a_sweep_writes_the_count_under_both_names():
    result = runner.invoke(app, ["sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.4", "-f", "json"])
    rows = json.loads(result.stdout)["rows"]
    assert [r["insolvent_count"] for r in rows] == [0, 2]
    assert all(r["insolvent_protocols"] == r["insolvent_count"] for r in rows)


def test_gates_read_either_name_as_the_count(tmp_path):
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "gates:\n  - check: insolvent_count <= 0\n  - check: insolvent_protocols <= 0\n"
    )
    result = runner.invoke(app, ["check", QUICKSTART, "-p", str(policy), "-f", "json"])
    assert result.exit_code == 1
    verdicts = json.loads(result.stdout)["verdicts"]
    assert [(v["metric"], v["value"], v["passed"]) for v in verdicts] == [
        ("insolvent_count", 1, False),
        ("insolvent_protocols", 1, False),
    ]


def test_fail_if_reads_either_name(tmp_path):
    for name in ("insolvent_count", "insolvent_protocols"):
        args = ["diff", QUICKSTART, "--set", "protocols.compound.reserve_usd=0", "-f", "json"]
        result = runner.invoke(app, [*args, "--fail-if", f"{name}>0", "--all"])
        assert result.exit_code == 0, result.output  # the count does not change
        changes = {c["metric"]: c for c in json.loads(result.stdout)["changes"]}
        assert changes[name]["base"] == 1
