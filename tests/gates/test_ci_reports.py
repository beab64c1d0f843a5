"""What ``contagion check`` gives CI: JUnit classes from file paths, GitHub annotations at the
policy line (escaped), the job summary, and the JSON Schema of policy files."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.gates.check import CheckReport
from contagion_cli.gates.verdict import Condition, Verdict
from contagion_cli.render.ci import classname, github_annotations

ROOT = Path(__file__).parents[2]
SCENARIOS = ROOT / "scenarios"
runner = CliRunner()
POLICY = """\
name: two limits
gates:
  - name: bad debt under $750K
    check: bad_debt_usd <= 7.5e5
  - check: propagation_depth <= 1
"""


@pytest.fixture
def two_files(tmp_path) -> tuple[Path, Path, Path]:
    """Two files whose scenarios are both named `quickstart`, and a policy."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = tmp_path / "a" / "quickstart.yaml"
    second = tmp_path / "b" / "quickstart.yaml"
    shutil.copy(SCENARIOS / "quickstart.yaml", first)
    shutil.copy(SCENARIOS / "candidates" / "quickstart.yaml", second)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return first, second, policy


def check(monkeypatch, tmp_path, *args: str, **env: str):
    for key in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return runner.invoke(app, ["check", *args])


# --- JUnit -------------------------------------------------------------------------------------
def test_two_files_with_one_scenario_name_are_two_classes(two_files, tmp_path, monkeypatch):
    out = tmp_path / "junit.xml"
    result = check(
        monkeypatch, tmp_path, "a/quickstart.yaml", "b/quickstart.yaml", "-p", "policy.yaml",
        "--junit", str(out),
    )  # fmt: skip
    assert result.exit_code == 1, result.output  # the candidate fails the bad-debt gate
    cases = list(ET.parse(out).getroot().iter("testcase"))
    assert [c.get("classname") for c in cases] == ["a.quickstart"] * 2 + ["b.quickstart"] * 2
    assert [c.get("file") for c in cases] == ["a/quickstart.yaml"] * 2 + ["b/quickstart.yaml"] * 2
    ids = {(c.get("classname"), c.get("name")) for c in cases}
    assert len(ids) == 4  # no two test cases collide


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("scenarios/candidates/quickstart.yaml", "scenarios.candidates.quickstart"),
        ("./quickstart.yml", "quickstart"),
        ("/abs/dir/v1.2.yaml", "abs.dir.v1_2"),
        ("C:\\risk\\prod.YAML", "C:.risk.prod"),
        ("", "contagion"),
    ],
)
def test_classname(path, name):
    assert classname(path) == name


# --- GitHub annotations and the job summary ----------------------------------------------------
def _report(gate: str, scenario: str = "s.yaml", policy: str = "p.yaml") -> CheckReport:
    cond = Condition("bad_debt_usd", "<=", 1.0, "bad_debt_usd <= 1")
    v = Verdict(cond, "float", 2.0, False, gate, scenario, "s", "on the file's shock path", line=7)
    ok = Verdict(
        cond, "float", 0.5, True, "fine", scenario, "s", "on the file's shock path", line=9
    )
    return CheckReport(policy, None, (v, ok))


def test_annotations_point_at_the_policy_line_of_failed_gates_only():
    (line,) = github_annotations(_report("bad debt <= $1"))
    assert line.startswith("::error file=p.yaml,line=7,title=contagion check%3A bad debt <= $1::")
    assert line.endswith(
        "::s.yaml: bad_debt_usd = $2.00, limit <= $1.00: beyond the limit by $1.00 "
        "(100.0%25 of the limit) on the file's shock path"  # % escaped
    )


def test_annotation_text_is_escaped():
    """%, CR and LF would end or garble a workflow command; ':' and ',' a property."""
    (line,) = github_annotations(_report("50% loss,\r\nline two: x", "dir/a,b.yaml", "p:q.yaml"))
    head, _, message = line.removeprefix("::error ").partition("::")
    assert head == (
        "file=p%3Aq.yaml,line=7,title=contagion check%3A 50%25 loss%2C%0D%0Aline two%3A x"
    )
    assert message.startswith("dir/a,b.yaml: ") and "\n" not in line and "\r" not in line


def test_check_annotates_and_summarises_under_github_actions(two_files, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    args = ["a/quickstart.yaml", "b/quickstart.yaml", "-p", "policy.yaml", "-f", "json"]
    result = check(
        monkeypatch, tmp_path, *args, GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary)
    )
    assert result.exit_code == 1
    json.loads(result.stdout)  # stdout stays the report
    errors = [line for line in result.stderr.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and errors[0].startswith("::error file=policy.yaml,line=4,")
    text = summary.read_text()
    assert text.startswith("# earlier step\n## ❌ contagion check: 1 of 4 gates failed")


def test_no_annotations_outside_github_actions(two_files, tmp_path, monkeypatch):
    result = check(monkeypatch, tmp_path, "b/quickstart.yaml", "-p", "policy.yaml")
    assert result.exit_code == 1 and "::error" not in result.output


def test_an_unwritable_summary_is_a_warning(two_files, tmp_path, monkeypatch):
    result = check(
        monkeypatch, tmp_path, "a/quickstart.yaml", "-p", "policy.yaml",
        GITHUB_STEP_SUMMARY=str(tmp_path / "no-such-dir" / "summary.md"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "warning: cannot append to $GITHUB_STEP_SUMMARY" in result.stderr


# --- the JSON Schema of policy files -----------------------------------------------------------
jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture(scope="module")
def policy_schema() -> dict:
    result = runner.invoke(app, ["schema", "--policy"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["title"] == "contagion policy"
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@pytest.mark.parametrize("path", sorted((SCENARIOS / "policies").glob("*.yaml")), ids=str)
def test_shipped_policies_follow_the_schema(policy_schema, path):
    jsonschema.Draft202012Validator(policy_schema).validate(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize(
    ("policy", "fragment"),
    [
        ({"gates": [{"chek": "bad_debt_usd <= 1"}]}, "'chek' was unexpected"),
        ({"name": "x"}, "'gates' is a required property"),
        ({"gates": []}, "should be non-empty"),
        ({"gates": [{"check": 5}]}, "is not of type 'string'"),
        ({"gates": [{"check": "x <= 1", "simulate": {"paths": 0}}]}, "paths"),
    ],
)
def test_the_schema_refuses_what_check_refuses(policy_schema, policy, fragment, tmp_path):
    errors = list(jsonschema.Draft202012Validator(policy_schema).iter_errors(policy))
    assert errors and any(fragment in e.message or fragment in str(e.path) for e in errors)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(policy))
    result = runner.invoke(app, ["check", str(SCENARIOS / "quickstart.yaml"), "-p", str(path)])
    assert result.exit_code == 2  # contagion check refuses it too


def test_schema_policy_to_a_file(tmp_path):
    out = tmp_path / "policy.schema.json"
    result = runner.invoke(app, ["schema", "--policy", "-o", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text())["title"] == "contagion policy"
    scenario = json.loads(runner.invoke(app, ["schema"]).stdout)
    assert scenario["title"] == "contagion scenario"
