"""The safer workflow of docs/security.md: its check script, run as written in a scratch git
repository, holds a pull request to the base branch's policy and keeps its files in bounds."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def workflows() -> list[dict]:
    """The two workflow YAML blocks of docs/security.md."""
    text = (ROOT / "docs" / "security.md").read_text().split("## Running the gate safely", 1)[1]
    blocks = [part.split("\n```", 1)[0] for part in text.split("```yaml\n")[1:]]
    return [yaml.safe_load(block) for block in blocks]


def git(repo: Path, *args: str) -> None:
    user = ["-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", *user, *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "repo"
    (path / "scenarios" / "policies").mkdir(parents=True)
    for rel in ("quickstart.yaml", "policies/quickstart-policy.yaml"):
        shutil.copy(SCENARIOS / rel, path / "scenarios" / rel)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", ".")
    git(path, "commit", "-qm", "base")
    git(path, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(path, "checkout", "-qb", "pr")
    return path


def run_check(repo: Path) -> subprocess.CompletedProcess:
    check = next(s for s in workflows()[0]["jobs"]["check"]["steps"] if s.get("name"))
    assert check["name"] == "contagion check"
    assert "${{" not in check["run"]  # expressions go through env, never into the script
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "BASE_REF": "main",
        "CONTAGION_EXECUTOR": "python",
    }
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", check["run"]],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_workflows_hold_no_secrets_and_the_check_job_writes_nothing():
    check, comment = workflows()
    assert check["permissions"] == {"contents": "read"}
    assert check["jobs"]["check"]["timeout-minutes"] > 0
    checkout = check["jobs"]["check"]["steps"][0]
    assert checkout["with"]["persist-credentials"] is False
    assert "secrets." not in yaml.safe_dump(check) and "secrets." not in yaml.safe_dump(comment)
    assert list(comment[True]) == ["workflow_run"]  # `on:` reads as True in YAML 1.1
    assert "checkout" not in yaml.safe_dump(comment)  # the poster never runs pull-request code


def test_a_pull_request_cannot_loosen_its_own_policy(repo):
    # the riskier candidate, and the policy's limits raised to let it through
    (repo / "scenarios" / "quickstart.yaml").write_text(
        (SCENARIOS / "candidates" / "quickstart.yaml").read_text()
    )
    policy = repo / "scenarios" / "policies" / "quickstart-policy.yaml"
    loose = yaml.safe_load(policy.read_text())
    for gate in loose["gates"]:
        metric, op, _ = gate["check"].split()
        gate["check"] = f"{metric} {op} {'1e18' if '<' in op else '0'}"
    policy.write_text(yaml.safe_dump(loose))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "riskier, and a looser policy")
    proc = run_check(repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (repo / "out" / "check-1.md").read_text().startswith("## ❌ contagion check: 3 of 6")


def test_a_pull_request_reading_a_file_outside_is_invalid_and_quotes_nothing(repo):
    text = (SCENARIOS / "quickstart.yaml").read_text()
    text = text.replace(
        "  aave:\n", "  aave:\n    positions_file: ../../../../../../etc/passwd\n", 1
    )
    (repo / "scenarios" / "quickstart.yaml").write_text(text)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "read a secret")
    proc = run_check(repo)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "is outside the scenario's folder" in proc.stderr
    assert "root:" not in proc.stdout + proc.stderr
