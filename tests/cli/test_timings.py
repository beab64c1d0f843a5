"""``--timings``: the seconds of each phase on stderr, one aligned line each; stdout untouched.
And the console script's garbage-collector settings for a short process (cli/startup.py)."""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contagion_cli import timings
from contagion_cli.cli import startup
from contagion_cli.cli.app import app

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
LINE = re.compile(r"^time  (\w+) +(\d+\.\d{3}) s(  .*)?$")
runner = CliRunner()


class Clock:
    """A stand-in for ``time``: the test moves it."""

    def __init__(self) -> None:
        self.now = timings.IMPORTED

    def perf_counter(self) -> float:
        return self.now


def test_each_second_counts_once_under_the_innermost_phase(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timings, "time", clock)
    clock.now += 0.5  # imports and parsing before the command's work
    timings.start()
    with timings.phase("load"):
        clock.now += 0.1
        with timings.phase("validate"):
            clock.now += 0.2
        clock.now += 0.05  # the outer phase resumes
    clock.now += 0.01  # in no phase
    with timings.phase("runs", whole=True):
        clock.now += 1.0
        with timings.phase("kernel"):  # inside a whole phase: counted as "runs"
            clock.now += 2.0
    with timings.phase("load"):  # a phase seen twice adds up
        clock.now += 0.25
    seconds = timings.seconds()
    assert list(seconds) == ["start", "load", "validate", "runs", "other", "total"]
    expected = {
        "start": 0.5,
        "load": 0.4,
        "validate": 0.2,
        "runs": 3.0,
        "other": 0.01,
        "total": 4.11,
    }
    assert seconds == pytest.approx(expected)
    assert sum(v for k, v in seconds.items() if k != "total") == pytest.approx(seconds["total"])


def test_other_threads_record_nothing(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timings, "time", clock)
    timings.start()

    def worker() -> None:
        with timings.phase("kernel"):
            clock.now += 1.0

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert "kernel" not in timings.seconds()


def test_the_lines_are_aligned(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timings, "time", clock)
    timings.start()
    with timings.phase("validate"):
        clock.now += 12.5
    with timings.phase("jit"):
        clock.now += 0.001
    lines = timings.lines()
    assert [LINE.match(line).group(1) for line in lines] == ["start", "validate", "jit", "total"]
    assert len({re.search(r"\d s", line).end() for line in lines}) == 1  # one column
    assert "  12.500 s  the schema" in lines[1]


def _phases(stderr: str) -> dict[str, float]:
    found = {}
    for line in stderr.splitlines():
        match = LINE.match(line)
        if match:
            found[match.group(1)] = float(match.group(2))
    return found


def test_run_prints_its_phases_to_stderr_and_keeps_stdout_clean(monkeypatch):
    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")
    plain = runner.invoke(app, ["run", QUICKSTART, "-f", "json"])
    timed = runner.invoke(app, ["run", QUICKSTART, "-f", "json", "--timings"])
    assert timed.exit_code == 0, timed.output
    assert json.loads(timed.stdout) == json.loads(plain.stdout)  # the report, untouched
    assert "time " not in plain.stderr  # only when asked
    phases = _phases(timed.stderr)
    assert {"start", "load", "validate", "compile", "kernel", "report", "total"} <= set(phases)
    assert all(v >= 0 for v in phases.values())
    parts = sum(v for k, v in phases.items() if k != "total")
    assert parts == pytest.approx(phases["total"], abs=0.004)  # rounding of each line


def test_a_table_report_stays_apart_from_the_timings(monkeypatch):
    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")
    result = runner.invoke(app, ["run", QUICKSTART, "--timings"])
    assert result.exit_code == 0, result.output
    assert "time " not in result.stdout and "Liquidations" in result.stdout
    assert "report" in _phases(result.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ["sweep", QUICKSTART, "--shock", "ETH=-0.1,-0.3", "-f", "json", "-j", "1"],
        ["critical", QUICKSTART, "--asset", "ETH", "--above", "0", "--scan", "6", "-f", "json"],
        ["clusters", QUICKSTART, "--asset", "ETH", "--levels=-0.1,-0.5", "-f", "json"],
        ["diff", QUICKSTART, "--set", "settings.max_rounds=50", "--shock", "ETH=-0.2"],
        ["compare", QUICKSTART, QUICKSTART, "--shock", "ETH=-0.1", "-f", "json"],
    ],
    ids=lambda a: a[0],
)
def test_batch_commands_print_their_phases(monkeypatch, args):
    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")
    result = runner.invoke(app, [*args, "--timings"])
    assert result.exit_code == 0, result.output
    phases = _phases(result.stderr)
    assert {"start", "load", "validate", "compile", "report", "total"} <= set(phases)
    assert "runs" in phases or "kernel" in phases  # compare runs each file as `run` does
    assert all(v >= 0 for v in phases.values())
    assert "time " not in result.stdout
    if "-f" in args:
        json.loads(result.stdout)


def test_the_console_script_names_numbas_start(tmp_path):
    """In a process of its own, as a user runs it: the JIT's start is a phase of its own
    (numba's JIT off here: no compile in a test, the same phases)."""
    env = {**os.environ, "CONTAGION_EXECUTOR": "jit", "NUMBA_DISABLE_JIT": "1"}
    args = [sys.executable, "-m", "contagion_cli", "run", QUICKSTART, "-f", "json", "--timings"]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)
    phases = _phases(done.stderr)
    assert {"start", "load", "validate", "compile", "jit", "kernel", "report"} <= set(phases)


# --- the collector of a short process --------------------------------------------------------


@pytest.fixture
def collector():
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    startup._saved = None


def test_the_console_script_collects_less_while_it_imports(collector):
    before = gc.get_threshold()
    startup.console_script()
    assert gc.get_threshold() == startup.STARTUP_THRESHOLDS
    frozen = gc.get_freeze_count()
    startup.begin()  # the command's work starts: the usual thresholds, start-up frozen
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() > frozen


def test_begin_leaves_the_collector_alone_outside_the_console_script(collector):
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    startup.begin()
    assert gc.get_threshold() == before and gc.get_freeze_count() == frozen


def test_the_console_script_freezes_at_exit_whatever_happens(collector, monkeypatch):
    from contagion_cli.cli import app as app_module
    from contagion_cli.cli import console

    def failing() -> None:
        assert gc.get_threshold() == startup.STARTUP_THRESHOLDS  # set before the app runs
        raise SystemExit(2)

    monkeypatch.setattr(app_module, "main", failing)
    with pytest.raises(SystemExit):
        console.main()
    assert gc.get_freeze_count() > 0


def _leave(body: str) -> subprocess.CompletedProcess:
    """``body`` in a fresh interpreter (os._exit would end the test runner itself)."""
    code = "import atexit, sys, threading\nfrom contagion_cli.cli import startup\n" + body
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_leave_runs_the_exit_handlers_flushes_and_keeps_the_status():
    done = _leave(
        "atexit.register(lambda: print('handler ran'))\n"
        "print('unflushed', end='')\n"
        "sys.stderr.write('to stderr')\n"
        "startup.leave(3)\n"
        "print('never')\n"
    )
    assert done.returncode == 3
    assert done.stdout == "unflushedhandler ran\n"
    assert done.stderr == "to stderr"


def test_leave_returns_while_another_thread_runs():
    """A worker thread still alive: the usual exit, which waits for it, not os._exit."""
    done = _leave(
        "stop = threading.Event()\n"
        "worker = threading.Thread(target=stop.wait)\n"
        "worker.start()\n"
        "startup.leave(0)\n"
        "print('returned')\n"
        "stop.set()\n"
        "sys.exit(5)\n"
    )
    assert done.returncode == 5 and done.stdout == "returned\n"


def test_leave_returns_for_an_exit_message():
    done = _leave("startup.leave('a message')\nprint('returned')\n")
    assert done.returncode == 0 and done.stdout == "returned\n"


def test_the_console_script_ends_with_the_command_s_status(tmp_path):
    """``python -m contagion_cli`` (the console script's entry): the report whole and the exit
    status of the command, for a run, an input error and a usage error."""
    ok = subprocess.run(
        [sys.executable, "-m", "contagion_cli", "run", QUICKSTART, "-f", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ok.returncode == 0 and json.loads(ok.stdout)["scenario"]
    missing = subprocess.run(
        [sys.executable, "-m", "contagion_cli", "run", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2 and "not found" in missing.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "contagion_cli", "run", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert usage.returncode == 2 and "no-such-option" in usage.stderr
