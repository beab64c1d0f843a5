"""A SIGTERM to a sweep (a cancelled CI job) stops its forked workers too (issue 16): no worker
is left running, holding the job's pipes open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contagion_cli.errors import ExitCode

ROOT = Path(__file__).parents[2]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="forked workers and /proc: Linux"
)


def children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid`` (zombies count as gone)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def start_sweep() -> subprocess.Popen:
    """A sweep of ~10,000 points on 2 forked workers (a minute of plain-Python kernel)."""
    exe = Path(sys.executable).with_name("contagion")
    args = [
        str(exe), "sweep", str(ROOT / "scenarios" / "quickstart.yaml"),
        "--shock", "ETH=-0.01:-0.90:0.0001", "--workers", "2", "--no-progress", "-f", "csv",
    ]  # fmt: skip
    env = {**os.environ, "CONTAGION_EXECUTOR": "python", "CONTAGION_POOL": "processes"}
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_terminating_a_sweep_stops_its_workers(how):
    proc = start_sweep()
    try:
        # the first chunk runs in the parent; the workers are forked after it
        assert wait_for(lambda: len(children(proc.pid)) >= 2, 60), "no workers were forked"
        workers = children(proc.pid)
        proc.send_signal(getattr(signal, how))
        # stdout reaches EOF: no worker kept the pipe open
        _out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if how == "SIGTERM":
        assert proc.returncode == ExitCode.TERMINATED, err
        assert "terminated (SIGTERM)" in err and "Traceback" not in err
    else:  # the parent cannot clean up: the kernel kills its workers (PR_SET_PDEATHSIG)
        assert proc.returncode == -signal.SIGKILL
    assert wait_for(lambda: not any(alive(w) for w in workers), 10), [
        w for w in workers if alive(w)
    ]
