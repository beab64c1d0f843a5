"""`contagion check`: gates, exit codes, JUnit validity, Markdown, and invalid policies."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contagion_cli.cli.app import app
from contagion_cli.errors import InputError, Location
from contagion_cli.gates.policy import load_policy, parse_condition
from contagion_cli.gates.verdict import Condition

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
MC = str(ROOT / "scenarios" / "quickstart-montecarlo.yaml")
POLICY = str(ROOT / "scenarios" / "policies" / "quickstart-policy.yaml")
# the same book with that change made in the file (docs/ci.md, "The CI demo")
CANDIDATE = str(ROOT / "scenarios" / "candidates" / "quickstart.yaml")
# compound lets borrowers run closer to the edge: LT 0.83 -> 0.86 (and LTV with it)
RAISE_LT = [
    "--set",
    "protocols.compound.collateral.ETH.liquidation_threshold=0.86",
    "--set",
    "protocols.compound.collateral.ETH.ltv=0.85",
]
runner = CliRunner()


def cli(*args: str):
    return runner.invoke(app, list(args))


def write(tmp_path: Path, text: str, name: str = "policy.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- the shipped policy: the original passes, a riskier parameter fails -------------------------
def test_original_passes_and_a_raised_liquidation_threshold_fails(tmp_path):
    junit, md = tmp_path / "junit.xml", tmp_path / "check.md"
    ok = cli("check", QUICKSTART, "--policy", POLICY, "--junit", str(junit), "--markdown", str(md))
    assert ok.exit_code == 0, ok.output
    assert "all 6 gates passed" in ok.stderr
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "6" and root.get("failures") == "0"
    assert_junit_shape(root)
    assert md.read_text().startswith("## ✅ contagion check: all 6 gates passed")

    bad = cli("check", QUICKSTART, "--policy", POLICY, *RAISE_LT, "--junit", str(junit))
    assert bad.exit_code == 1, bad.output
    assert "FAIL" in bad.stderr and "beyond the limit by" in bad.stderr
    root = ET.parse(junit).getroot()
    assert_junit_shape(root)
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == QUICKSTART
    failures = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert len(failures) == int(root.get("failures")) == int(suite.get("failures")) >= 1
    first = failures[0].find("failure")
    assert first is not None and first.get("type") == "GateFailed"
    assert "bad_debt_usd" in first.get("message") and "limit <=" in first.get("message")


def test_the_shipped_candidate_fails_the_policy_the_original_passes(tmp_path):
    """Issue 5's done-when, with files: the original exits 0, the riskier candidate exits 1."""
    assert cli("check", QUICKSTART, "--policy", POLICY).exit_code == 0
    md = tmp_path / "check.md"
    bad = cli("check", CANDIDATE, "--policy", POLICY, "--markdown", str(md), "-f", "json")
    assert bad.exit_code == 1, bad.output
    failed = {v["gate"] for v in json.loads(bad.stdout)["verdicts"] if not v["passed"]}
    assert failed == {
        "bad debt of the quickstart shock stays under $750K",
        "bad debt of a 30% ETH crash stays under $2.5M",
        "compound insolvent in fewer than 5% of volatile weeks",
    }
    assert md.read_text().startswith("## ❌ contagion check: 3 of 6 gates failed")
    # the file is the override of the first test, nothing else
    overridden = json.loads(
        cli("check", QUICKSTART, "--policy", POLICY, *RAISE_LT, "-f", "json").stdout
    )
    assert [v["value"] for v in overridden["verdicts"]] == [
        v["value"] for v in json.loads(bad.stdout)["verdicts"]
    ]


def test_every_policy_has_its_scenario_and_checks_it():
    """docs/ci.md's convention: scenarios/**/NAME.yaml is held to policies/NAME-policy.yaml."""
    policies = sorted((ROOT / "scenarios" / "policies").glob("*-policy.yaml"))
    assert {p.name for p in policies} >= {"quickstart-policy.yaml", "mixed-policy.yaml"}
    for policy in policies:
        stem = policy.name.removesuffix("-policy.yaml")
        scenarios = [
            p
            for p in (ROOT / "scenarios").rglob(f"{stem}.yaml")
            if not {"policies", "candidates"} & set(p.parts)
        ]
        assert scenarios, f"{policy.name} has no scenario {stem}.yaml"
        result = cli("check", *map(str, scenarios), "--policy", str(policy))
        assert result.exit_code == 0, result.output


def test_verdicts_say_by_how_much_and_where():
    data = json.loads(cli("check", QUICKSTART, "--policy", POLICY, *RAISE_LT, "-f", "json").stdout)
    assert data["passed"] is False and data["gates"] == 6
    by_gate = {v["gate"]: v for v in data["verdicts"]}
    crash = by_gate["bad debt of a 30% ETH crash stays under $2.5M"]
    assert crash["passed"] is False and crash["at"] == "at ETH -30%"
    assert math.isclose(crash["excess"], crash["value"] - 2.5e6)
    assert math.isclose(crash["relative_excess"], crash["excess"] / 2.5e6)
    ranged = by_gate["at most one protocol insolvent down to an ETH crash of 30%"]
    assert ranged["points"] == 6
    var = by_gate["95% VaR of bad debt over a volatile week under $1M"]
    assert var["at"] == "on 500 Monte Carlo paths (seed 1)"


def test_markdown_format_and_several_files():
    result = cli("check", QUICKSTART, MC, "--policy", POLICY, "-f", "markdown")
    assert result.exit_code in (0, 1), result.output
    assert f"### `{QUICKSTART}`" in result.stdout and f"### `{MC}`" in result.stdout
    assert "| gate | value | limit | excess | where |" in result.stdout


# --- gate semantics ----------------------------------------------------------------------------
def test_range_gates_report_the_worst_point(tmp_path):
    policy = write(
        tmp_path,
        "gates:\n"
        "  - check: bad_debt_usd <= 1e6\n"
        '    shock: {ETH: "-0.1:-0.4:0.1"}\n'
        "  - check: liquidations >= 1\n"
        "    shock: {ETH: -0.05}\n"
        "  - check: propagation_depth == 1\n"
        "  - check: amplification != 0\n"
        "    shock: {WBTC: -0.1}\n",
    )
    data = json.loads(cli("check", QUICKSTART, "--policy", policy, "-f", "json").stdout)
    v = data["verdicts"]
    assert v[0]["passed"] is False and v[0]["at"] == "at ETH -40%"  # the largest bad debt
    assert v[0]["points"] == 4 and v[0]["failing_points"] == 2
    assert v[1]["passed"] is False and v[1]["value"] == 0 and v[1]["excess"] == 1
    assert v[2]["passed"] is True and v[2]["at"] == "on the file's shock path"
    assert v[3]["passed"] is True  # WBTC has a market, so a shock gives an amplification


def test_a_metric_with_no_value_fails_its_gate(tmp_path):
    policy = write(tmp_path, "gates:\n  - check: amplification <= 100\n    shock: {ETH: 0}\n")
    result = cli("check", QUICKSTART, "--policy", policy, "-f", "json")
    assert result.exit_code == 1
    verdict = json.loads(result.stdout)["verdicts"][0]
    assert verdict["value"] is None and verdict["passed"] is False


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("bad_debt_usd <= 1e6", "bad_debt_usd", "<=", 1e6),
        ("protocols.aave-v3.insolvent==0", "protocols.aave-v3.insolvent", "==", 0.0),
        ("p_insolvent < 1%", "p_insolvent", "<", 0.01),
        ("var95>=-5", "var95", ">=", -5.0),
    ],
)
def test_parse_condition(text, metric, op, limit):
    cond = parse_condition(text, Location("p.yaml", 3))
    assert (cond.metric, cond.op, cond.limit) == (metric, op, limit)


def test_condition_excess_and_worst_point():
    cond = Condition("x", "<=", 10.0, "x <= 10")
    assert cond.excess(12.0) == 2.0 and cond.excess(7.0) == -3.0
    assert cond.worst([1.0, 15.0, 12.0]) == 1
    assert Condition("x", ">", 0.0, "x > 0").worst([3.0, 1.0, 2.0]) == 1
    assert Condition("x", "==", 1.0, "x == 1").worst([1.0, 2.0]) == 1
    assert not cond.holds(math.nan)


# --- invalid input: exit 2 with file:line ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gates: []\n", ["gates", "must not be empty"]),
        ("gatez: []\n", [":1:1:", "unknown key 'gatez'", "did you mean 'gates'"]),
        ("gates:\n  - check: bad_debt_usd\n", [":2:", "expected METRIC OP NUMBER"]),
        ("gates:\n  - check: bad_debt_usd <= lots\n", [":2:", "expected a number"]),
        ("gates:\n  - check: bad_debt <= 1\n", [":2:", "did you mean 'bad_debt_usd'"]),
        ("gates:\n  - check: protocols.aavee.bad_debt_usd <= 1\n", ["did you mean 'aave'"]),
        ("gates:\n  - chek: bad_debt_usd <= 1\n", ["unknown key 'chek'", "did you mean 'check'"]),
        (
            "gates:\n  - check: bad_debt_usd <= 1\n    shock: {ETH: -1.5}\n",
            [":3:", "gates[0].shock.ETH", "> -1"],
        ),
        (
            "gates:\n  - check: bad_debt_usd <= 1\n    shock: {ETH: '-0.1:-0.5'}\n",
            [":3:", "START:STOP:STEP"],
        ),
        ("gates:\n  - check: bad_debt_usd <= 1\n    shock: {SOL: -0.1}\n", ["unknown asset 'SOL'"]),
        ("gates:\n  - check: var95 <= 1\n", ["needs Monte Carlo paths", "fixed shock path"]),
        (
            "gates:\n  - check: bad_debt_usd <= 1\n    simulate: {paths: 10}\n",
            ["metric of one run", "bad_debt_usd.p95"],
        ),
        ("gates:\n  - check: var95 <= 1\n    simulate: {paths: 0}\n", ["simulate.paths", ">= 1"]),
        (
            "gates:\n  - check: var95 <= 1\n    simulate: {paths: 10}\n    shock: {ETH: -0.1}\n",
            ["either 'shock'", "or 'simulate'"],
        ),
        (
            "gates:\n  - check: var96 <= 1\n    simulate: {model: gbm, paths: 5,\n"
            "      assets: {ETH: {volatility: 1}}}\n",
            ["unknown simulation metric 'var96'", "did you mean", "'var95'"],
        ),
        ("- just a list\n", ["expected a mapping at the top level"]),
        (
            "gates:\n  - check: var95 <= 1\n    simulate: {model: gbm, paths: 5,\n"
            "      assets: {SOL: {volatility: 1}}}\n",
            [":2:", "gates[0].simulate.assets.SOL", "unknown asset 'SOL'"],
        ),
    ],
)
def test_invalid_policies_exit_2_with_their_location(tmp_path, text, expected):
    policy = write(tmp_path, text)
    result = cli("check", QUICKSTART, "--policy", policy)
    assert result.exit_code == 2, result.output
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--policy", "missing.yaml"], ["missing.yaml", "file not found"]),
        (["--policy", POLICY, "-f", "junit"], ["--format", "expected one of"]),
        (["--policy", POLICY, "--workers", "0"], ["--workers"]),
        (["--policy", POLICY, "--set", "protocols.aave.close_factor=7"], ["--set", "<= 1"]),
        ([], ["--policy"]),
    ],
)
def test_bad_options_exit_2(args, expected):
    result = cli("check", QUICKSTART, *args)
    assert result.exit_code == 2, result.output
    for fragment in expected:
        assert fragment in result.output


def test_an_invalid_scenario_exits_2(tmp_path):
    bad = write(tmp_path, "name: x\nassets: {}\n", "bad.yaml")
    result = cli("check", bad, "--policy", POLICY)
    assert result.exit_code == 2 and "bad.yaml" in result.stderr


def test_load_policy_collects_every_problem(tmp_path):
    policy = write(tmp_path, "gates:\n  - check: a\n  - check: b <= c\n")
    with pytest.raises(InputError) as exc:
        load_policy(policy)
    assert len(exc.value.problems) == 2


def test_junit_escapes_and_stays_valid(tmp_path):
    policy = write(
        tmp_path,
        'gates:\n  - name: "bad debt < $1 & <tags> \\"quoted\\""\n    check: bad_debt_usd < 1\n',
    )
    junit = tmp_path / "j.xml"
    result = cli("check", QUICKSTART, "--policy", policy, "--junit", str(junit))
    assert result.exit_code == 1
    assert_junit_shape(ET.parse(junit).getroot())
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert case is not None and case.get("name") == 'bad debt < $1 & <tags> "quoted"'


# --- golden reports ----------------------------------------------------------------------------
def _report():
    from contagion_cli.gates.check import CheckReport
    from contagion_cli.gates.verdict import Condition, Verdict

    common = dict(scenario="s.yaml", scenario_name="s", kind="float")
    passed = Verdict(
        condition=Condition("propagation_depth", "<=", 1.0, "propagation_depth <= 1"),
        source="depth",
        passed=True,
        value=1.0,
        at="on the file's shock path",
        **common,
    )
    failed = Verdict(
        condition=Condition("bad_debt_usd", "<=", 1e6, "bad_debt_usd <= 1e6"),
        source="bad debt",
        passed=False,
        value=1.25e6,
        at="at ETH -30%",
        points=4,
        failing_points=2,
        **common,
    )
    return CheckReport("p.yaml", "limits", (passed, failed))


def test_markdown_summary_golden():
    from contagion_cli.render.ci import check_markdown

    assert check_markdown(_report()) == (
        "## ❌ contagion check: 1 of 2 gates failed\n"
        "\n"
        "Policy: `p.yaml` (limits)\n"
        "\n"
        "### `s.yaml`\n"
        "\n"
        "|  | gate | value | limit | excess | where |\n"
        "| --- | --- | ---: | ---: | ---: | --- |\n"
        "| ✅ | depth | 1 | <= 1 | 0 | on the file's shock path |\n"
        "| ❌ | bad debt | $1.25M | <= $1.00M | +$250K (+25.0%) | at ETH -30% |\n"
        "\n"
        "**Failed:**\n"
        "\n"
        "- `s.yaml` — bad debt: bad_debt_usd = $1.25M, limit <= $1.00M: beyond the limit by "
        "$250K (25.0% of the limit) at ETH -30% (2 of 4 points fail)\n"
    )


def test_junit_golden():
    from contagion_cli.render.ci import junit_xml

    text = junit_xml(_report())
    assert text.splitlines()[:4] == [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="contagion check p.yaml" tests="2" failures="1" errors="0" time="0.000">',
        '  <testsuite name="s.yaml" tests="2" failures="1" errors="0" skipped="0" time="0.000">',
        '    <testcase name="depth" classname="s" file="s.yaml" time="0.000">',
    ]
    assert_junit_shape(ET.fromstring(text.split("\n", 1)[1]))
    failure = ET.fromstring(text.split("\n", 1)[1]).find(
        "testsuite/testcase[@name='bad debt']/failure"
    )
    assert failure is not None and failure.get("message", "").startswith("bad_debt_usd = $1.25M")


# The common JUnit schema (Jenkins' junit-10.xsd, which GitLab, GitHub report actions and
# junitparser follow): the elements, attributes and types a JUnit consumer relies on.
_JUNIT_ATTRS = {
    "testsuites": ({"name", "time", "tests", "failures", "disabled", "errors"}, set()),
    "testsuite": (
        {"name", "tests", "failures", "errors", "time", "disabled", "skipped", "timestamp"}
        | {"hostname", "id", "package", "file", "log", "url", "version"},
        {"name", "tests"},
    ),
    # `file` (and `line`) on a test case: pytest's xunit1 family, which GitHub's JUnit report
    # actions and junitparser read to link a case to its file
    "testcase": ({"name", "assertions", "time", "classname", "status", "file", "line"}, {"name"}),
    "failure": ({"message", "type"}, set()),
    "system-out": (set(), set()),
}
_JUNIT_CHILDREN = {
    "testsuites": {"testsuite"},
    "testsuite": {"properties", "testcase", "system-out", "system-err"},
    "testcase": {"skipped", "error", "failure", "system-out", "system-err"},
    "failure": set(),
    "system-out": set(),
}


def assert_junit_shape(root: ET.Element) -> None:
    """``root`` has the shape of the common JUnit schema, and its counts and times add up."""

    def walk(el: ET.Element) -> None:
        allowed, required = _JUNIT_ATTRS[el.tag]
        assert set(el.attrib) <= allowed, (el.tag, set(el.attrib) - allowed)
        assert required <= set(el.attrib), (el.tag, required - set(el.attrib))
        for key in ("tests", "failures", "errors", "skipped", "disabled"):
            if key in el.attrib:
                assert el.attrib[key].isdigit(), (el.tag, key, el.attrib[key])
        if "time" in el.attrib:
            assert float(el.attrib["time"]) >= 0 and "e" not in el.attrib["time"].lower()
        for child in el:
            assert child.tag in _JUNIT_CHILDREN[el.tag], (el.tag, child.tag)
            walk(child)

    assert root.tag == "testsuites"
    walk(root)
    suites = root.findall("testsuite")
    cases = root.findall("testsuite/testcase")
    assert int(root.get("tests", "0")) == len(cases)
    assert int(root.get("failures", "0")) == len(root.findall("testsuite/testcase/failure"))
    for suite in suites:
        assert int(suite.get("tests", "0")) == len(suite.findall("testcase"))
        assert int(suite.get("failures", "0")) == len(suite.findall("testcase/failure"))
        assert all("time" in c.attrib for c in suite.findall("testcase"))
        assert float(suite.get("time", "0")) == pytest.approx(
            sum(float(c.get("time", "0")) for c in suite.findall("testcase")), abs=2e-3
        )


def test_junit_time_is_the_wall_time_shared_out_by_points():
    from contagion_cli.render.ci import junit_xml

    root = ET.fromstring(junit_xml(_report(), seconds=2.0).split("\n", 1)[1])
    assert_junit_shape(root)
    assert root.get("time") == "2.000"
    suite = root.find("testsuite")
    assert suite is not None and suite.get("time") == "2.000"
    # the gates of a file run as one batch: 1 point and 4 points share the 2 seconds
    assert [c.get("time") for c in suite.iter("testcase")] == ["0.400", "1.600"]


def test_junit_of_several_files_has_a_timed_suite_each(tmp_path):
    junit = tmp_path / "j.xml"
    result = cli("check", QUICKSTART, CANDIDATE, "--policy", POLICY, "--junit", str(junit))
    assert result.exit_code == 1
    root = ET.parse(junit).getroot()
    assert_junit_shape(root)
    assert [s.get("name") for s in root.findall("testsuite")] == [QUICKSTART, CANDIDATE]
    assert [s.get("failures") for s in root.findall("testsuite")] == ["0", "3"]


# --- `contagion validate` on a policy file (issue 16) -------------------------------------------


def test_validate_accepts_a_policy_file():
    from typer.testing import CliRunner

    from contagion_cli.cli.app import app

    result = CliRunner().invoke(app, ["validate", POLICY])
    assert result.exit_code == 0, result.output
    assert "a policy (quickstart risk limits) of 6 gates" in result.stderr


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("gates:\n  - check: bad_debt_usd <= \n", [":2:", "expected a number after '<='"]),
        ("gates:\n  - check: bad_debt_usd <= 1e6\n    shok: {ETH: -0.2}\n", ["unknown key"]),
        ("gates: []\n", ["gates", "must not be empty"]),
        ("name: x\ngates:\n  - {check: bad_debt_usd <= 1, simulate: {paths: 0}}\n", ["paths"]),
    ],
    ids=["bad-limit", "typo", "no-gates", "bad-paths"],
)
def test_validate_reports_a_bad_policy_like_check_does(tmp_path, text, fragments):
    from typer.testing import CliRunner

    from contagion_cli.cli.app import app

    path = tmp_path / "policy.yaml"
    path.write_text(text)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    assert f"error: {path}" in result.output
    for fragment in fragments:
        assert fragment in result.output


def test_validate_refuses_set_on_a_policy(tmp_path):
    from typer.testing import CliRunner

    from contagion_cli.cli.app import app

    args = ["validate", POLICY, "--set", "gates.0.check=liquidations >= 0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "is a policy: --set changes scenarios" in result.output


def test_a_scenario_is_still_validated_as_a_scenario():
    from typer.testing import CliRunner

    from contagion_cli.cli.app import app

    result = CliRunner().invoke(app, ["validate", str(ROOT / "scenarios" / "quickstart.yaml")])
    assert result.exit_code == 0 and "3 assets, 2 protocols, 13 positions" in result.stderr
