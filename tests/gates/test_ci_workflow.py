"""The shipped GitHub Actions workflow (.github/workflows/contagion.yml, shown in docs/ci.md)
and the composite action (action.yml): their shell steps, run as written in a scratch git
repository against the installed ``contagion``, fail the job exactly when they should."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
SCENARIOS = ROOT / "scenarios"
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (BIN / "contagion").exists(),
    reason="needs git and the installed contagion command",
)


WORKFLOW = ROOT / ".github" / "workflows" / "contagion.yml"
ACTION = ROOT / "action.yml"


def workflow() -> dict:
    """The shipped workflow."""
    return yaml.safe_load(WORKFLOW.read_text())


def test_the_docs_show_the_shipped_workflow():
    text = (ROOT / "docs" / "ci.md").read_text()
    section = text.split("## A GitHub Actions workflow", 1)[1]
    shown = section.split("```yaml\n", 1)[1].split("\n```", 1)[0] + "\n"
    assert shown == WORKFLOW.read_text(), "docs/ci.md shows another workflow than the shipped one"


def test_the_workflow_installs_from_the_repository_and_caches_the_kernel():
    steps = workflow()["jobs"]["check"]["steps"]
    install = next(s for s in steps if s.get("name") == "Install contagion")
    assert install["run"] == "pip install '.[parquet]'"  # not on PyPI: from the checkout
    cache = next(s for s in steps if s.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "~/.cache/contagion-cli"
    assert "steps.version.outputs.version" in cache["with"]["key"]
    names = [s.get("name") or s.get("uses") for s in steps]
    assert names.index("Cache the compiled kernel") < names.index("contagion check")


def step(wf: dict, step_id: str) -> dict:
    return next(s for s in wf["jobs"]["check"]["steps"] if s.get("id") == step_id)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


class Repo:
    """A checkout of a pull request: ``origin/main`` holds the shipped files."""

    def __init__(self, path: Path):
        self.path = path
        (path / "scenarios" / "policies").mkdir(parents=True)
        for rel in [
            "quickstart.yaml",
            "mixed.yaml",
            "policies/quickstart-policy.yaml",
            "policies/mixed-policy.yaml",
        ]:
            shutil.copy(SCENARIOS / rel, path / "scenarios" / rel)
        git(path, "init", "-q", "-b", "main")
        git(path, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
        git(path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
        git(path, "update-ref", "refs/remotes/origin/main", "HEAD")
        git(path, "checkout", "-qb", "pr")

    def write(self, rel: str, text: str) -> None:
        target = self.path / "scenarios" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self) -> None:
        git(self.path, "add", ".")
        git(self.path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "change")

    def run_job(self) -> tuple[int, str, str]:
        """The two steps, as a runner would: ``bash -e`` with the step's env and GITHUB_OUTPUT;
        returns the check step's exit code, its log and the Markdown it wrote."""
        wf = workflow()
        shutil.rmtree(self.path / "out", ignore_errors=True)  # a fresh runner
        outputs = self.path / "github_output"
        outputs.write_text("")
        env = {
            **os.environ,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(outputs),
            "NO_COLOR": "1",
        }
        changed = step(wf, "changed")
        for key, value in changed.get("env", {}).items():
            env[key] = value.replace("${{ github.base_ref }}", "main")
        assert "${{" not in changed["run"]  # expressions go through env, not into the script
        first = subprocess.run(
            ["bash", "-e", "-c", changed["run"]], cwd=self.path, env=env, capture_output=True
        )
        assert first.returncode == 0, first.stderr
        count = dict(line.split("=", 1) for line in outputs.read_text().split())["count"]
        assert step(wf, "check")["if"] == "steps.changed.outputs.count != '0'"
        if count == "0":
            return 0, "skipped", ""
        check = step(wf, "check")
        proc = subprocess.run(
            ["bash", "-e", "-c", check["run"]],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        md = self.path / "out" / "contagion.md"
        return proc.returncode, proc.stdout + proc.stderr, md.read_text() if md.exists() else ""


@pytest.fixture
def repo(tmp_path):
    return Repo(tmp_path / "repo")


def test_workflow_fails_on_a_riskier_threshold_and_passes_the_original(repo):
    # an unchanged book (a comment edit) passes; a scenario without a policy is skipped
    original = (SCENARIOS / "quickstart.yaml").read_text()
    repo.write("quickstart.yaml", original + "# reviewed\n")
    repo.write("types/perp-squeeze.yaml", (SCENARIOS / "types" / "perp-squeeze.yaml").read_text())
    repo.write("policies/extra-policy.yaml", "gates: []\n")  # policies are not scenarios
    repo.commit()
    code, log, md = repo.run_job()
    assert code == 0, log
    assert md.count("## ✅ contagion check: all 6 gates passed") == 1
    assert "::notice file=scenarios/types/perp-squeeze.yaml::not checked" in log
    assert "`scenarios/types/perp-squeeze.yaml`: not checked" in md

    # the candidate: compound's ETH liquidation threshold 0.83 -> 0.86 (ltv 0.85)
    repo.write("quickstart.yaml", (SCENARIOS / "candidates" / "quickstart.yaml").read_text())
    repo.commit()
    code, log, md = repo.run_job()
    assert code == 1, log
    assert md.startswith("## ❌ contagion check: 3 of 6 gates failed")
    assert "bad debt of a 30% ETH crash stays under $2.5M" in md
    suites = ET.parse(repo.path / "out" / "check-1.xml").getroot()
    assert suites.get("failures") == "3"


def test_workflow_uses_each_scenarios_own_policy_and_exits_2_on_invalid_input(repo):
    # mixed.yaml has no WBTC: held to the quickstart policy, it would be invalid input (exit 2)
    mixed = (SCENARIOS / "mixed.yaml").read_text()
    repo.write("mixed.yaml", mixed + "# reviewed\n")
    repo.commit()
    code, log, md = repo.run_job()
    assert code == 0, log
    assert "Policy: `scenarios/policies/mixed-policy.yaml`" in md

    repo.write("mixed.yaml", mixed.replace("maintenance_margin: 0.05", "maintenance_margin: -1"))
    repo.commit()
    code, log, md = repo.run_job()
    assert code == 2, log
    assert "::error file=scenarios/mixed.yaml::contagion check exited 2" in log
    assert "`scenarios/mixed.yaml`: invalid input, exit 2" in md


def test_nothing_to_check_skips_the_check_step(repo):
    repo.write("policies/mixed-policy.yaml", "gates: []\n")
    repo.commit()
    assert repo.run_job()[:2] == (0, "skipped")


# --- the composite action ----------------------------------------------------------------------
def action() -> dict:
    return yaml.safe_load(ACTION.read_text())


def test_the_action_installs_from_its_repository():
    spec = action()
    assert spec["runs"]["using"] == "composite"
    assert spec["inputs"]["scenarios"]["required"] and spec["inputs"]["policy"]["required"]
    install = next(s for s in spec["runs"]["steps"] if s.get("name") == "Install contagion")
    assert 'pip install "$GITHUB_ACTION_PATH[parquet]"' in install["run"]
    assert "git+https://github.com/$REPOSITORY@$VERSION" in install["run"]
    assert install["env"]["REPOSITORY"] == "${{ github.action_repository }}"
    for step_ in spec["runs"]["steps"]:
        if "run" in step_:
            assert step_["shell"] == "bash" and "${{" not in step_["run"]


def run_action(cwd: Path, scenarios: str, policy: str, **extra_env: str):
    """The action's check step as the runner runs it (bash -e, inputs through env)."""
    check = next(s for s in action()["runs"]["steps"] if s.get("id") == "check")
    outputs = cwd / "github_output"
    outputs.write_text("")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(outputs),
        "SCENARIOS": scenarios,
        "POLICY": policy,
        "JUNIT": "contagion-junit.xml",
        "ARGS": "",
        **extra_env,
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", check["run"]], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    code = dict(line.split("=", 1) for line in outputs.read_text().split())["exit-code"]
    return proc, int(code)


@pytest.fixture
def workspace(tmp_path) -> Path:
    for rel in ["quickstart.yaml", "candidates/quickstart.yaml", "policies/quickstart-policy.yaml"]:
        (tmp_path / "scenarios" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SCENARIOS / rel, tmp_path / "scenarios" / rel)
    light = tmp_path / "policy.yaml"  # the policy without its Monte Carlo gates: quicker
    light.write_text(
        "gates:\n  - name: bad debt of the quickstart shock stays under $750K\n"
        "    check: bad_debt_usd <= 7.5e5\n  - check: propagation_depth <= 1\n"
    )
    return tmp_path


def test_the_action_passes_fails_and_reports(workspace):
    summary = workspace / "summary.md"
    proc, code = run_action(
        workspace, "scenarios/quickstart.yaml", "policy.yaml",
        GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary),
    )  # fmt: skip
    assert proc.returncode == code == 0, proc.stderr
    assert "::error" not in proc.stderr
    assert summary.read_text().startswith("## ✅ contagion check: all 2 gates passed")

    proc, code = run_action(
        workspace, "scenarios/**/quickstart.yaml", "policy.yaml",
        GITHUB_ACTIONS="true", GITHUB_STEP_SUMMARY=str(summary),
    )  # fmt: skip
    assert proc.returncode == code == 1, proc.stderr
    annotation = (
        "::error file=policy.yaml,line=3,title=contagion check%3A bad debt of the quickstart "
        "shock stays under $750K::scenarios/candidates/quickstart.yaml: bad_debt_usd = $812K"
    )
    assert annotation in proc.stderr
    heads = [line for line in summary.read_text().splitlines() if line.startswith("## ")]
    assert len(heads) == 2 and heads[1].startswith("## ❌")  # appended, not replaced
    suites = ET.parse(workspace / "contagion-junit.xml").getroot()
    classes = {c.get("classname") for c in suites.iter("testcase")}
    assert classes == {"scenarios.quickstart", "scenarios.candidates.quickstart"}


def test_the_action_refuses_a_glob_that_matches_nothing(workspace):
    proc, code = run_action(workspace, "scenarios/nothing-*.yaml", "policy.yaml")
    assert proc.returncode == code == 2
    assert "::error::no scenario file matches 'scenarios/nothing-*.yaml'" in proc.stdout
