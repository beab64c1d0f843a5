"""What `--scheduler` says when a cluster fails (issue 16): workers killed for memory are
blamed on memory (and only they are), and a lost scheduler is one message, not pages of
Dask's tracebacks."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contagion_cli.batch.distributed import (
    LIBRARY_LOGGERS,
    ClusterError,
    DaskRunner,
    Settings,
    quiet_library_logs,
)
from contagion_cli.batch.sweep import run_sweep
from contagion_cli.errors import ExitCode
from contagion_cli.generate import Spec, generate, write

ROOT = Path(__file__).parents[2]
MONTE_CARLO = str(ROOT / "scenarios" / "quickstart-montecarlo.yaml")

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


class KilledWorker(Exception):  # noqa: N818 - the name the runner recognises
    """Stands for distributed's (the runner recognises it by its name)."""

    def __init__(self, address: str) -> None:
        super().__init__("Attempted to run task on 2 different workers")
        self.last_worker = type("WorkerState", (), {"address": address})()
        self.allowed_failures = 1


class FakeClient:
    def __init__(self, events=(), broken: bool = False) -> None:
        self.events = list(events)
        self.broken = broken

    def get_events(self, topic: str):
        assert topic == "worker-restart-memory"
        if self.broken:
            raise OSError("the scheduler is gone")
        return tuple(self.events)


def runner_with(client: FakeClient) -> DaskRunner:
    runner = DaskRunner("tcp://127.0.0.1:1")
    runner.client = client
    runner.started = 1000.0
    return runner


def test_a_memory_restart_is_blamed_on_memory():
    event = {"worker": "tcp://10.0.0.2:4000", "pid": 7, "rss": 3 * 2**30}
    runner = runner_with(FakeClient([(999.5, event)]))
    error = runner._task_error(KilledWorker("tcp://10.0.0.2:4000"), 0, [[1, 2]])
    assert isinstance(error, ClusterError)
    text = error.render()
    assert "died, 2 times" in text
    assert "out of memory: its nanny restarted tcp://10.0.0.2:4000" in text
    assert "3.0 GiB resident" in text and "--memory-limit" in text


def test_a_death_without_a_memory_restart_is_not_blamed_on_memory():
    old = {"worker": "tcp://10.0.0.2:4000", "pid": 7, "rss": 2**30}
    for client in (FakeClient([(10.0, old)]), FakeClient(broken=True)):  # an earlier batch's
        text = runner_with(client)._task_error(KilledWorker("tcp://10.0.0.3:4000"), 0, [[1]])
        text = text.render()
        assert "not for memory, as far as the scheduler knows" in text
        assert "OOM killer" in text and "--memory-limit" not in text


@pytest.fixture(scope="module")
def big_book(tmp_path_factory) -> Path:
    """500,000 positions: compiling them takes a worker ~100 MiB past its idle ~75 MiB."""
    folder = tmp_path_factory.mktemp("big")
    spec = Spec(positions=500_000, protocols=2, assets=2, seed=1)
    return write(generate(spec), folder, "parquet")[0]


def test_workers_killed_for_memory_are_reported_as_such(big_book, monkeypatch):
    pytest.importorskip("pyarrow")
    monkeypatch.setenv("CONTAGION_EXECUTOR", "python")
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            memory_limit="150MiB",
            silence_logs=logging.CRITICAL,
        )
    try:
        settings = Settings(ship="path")  # the workers read the book: that is what fills them
        with (
            DaskRunner(cluster.scheduler_address, 2, settings=settings) as runner,
            pytest.raises(ClusterError) as err,
        ):
            run_sweep(big_book, ["ETH=-0.1,-0.2"], runner=runner)
    finally:
        cluster.close()
    text = err.value.render()
    assert "the workers that ran it died" in text
    assert "out of memory: its nanny restarted" in text, text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_lost_scheduler_is_one_message_without_tracebacks():
    bin_dir = Path(sys.executable).parent
    dask_cmd = shutil.which("dask", path=str(bin_dir))
    exe = shutil.which("contagion", path=str(bin_dir))
    if dask_cmd is None or exe is None:
        pytest.skip("the dask and contagion commands are not installed")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [dask_cmd, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        **quiet,
    )
    worker = subprocess.Popen(
        [dask_cmd, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
        **quiet,
    )
    try:
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        env = {**os.environ, "CONTAGION_EXECUTOR": "python", "CONTAGION_DASK_WAIT": "5"}
        run = subprocess.Popen(
            [exe, "simulate", MONTE_CARLO, "--paths", "2000", "--set", "shocks.steps=20",
             "--scheduler", address, "--chunk-size", "10"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        time.sleep(1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and run.poll() is None:
            # the run is under way once the worker has finished a chunk or two
            with distributed.Client(address, timeout=10, set_as_default=False) as client:
                if client.processing() and any(client.processing().values()):
                    break
            time.sleep(0.2)
        scheduler.kill()
        out, err = run.communicate(timeout=120)
    finally:
        for proc in (worker, scheduler):
            proc.kill()
            proc.wait()
    assert run.returncode == ExitCode.CLUSTER_FAILED, err
    assert out == ""
    assert "error: lost the run on the Dask scheduler" in err
    assert "Traceback" not in err and "distributed." not in err, err


def test_quiet_library_logs_silences_children_with_levels_of_their_own():
    child = logging.getLogger("distributed.client")
    before = {name: logging.getLogger(name).level for name in (*LIBRARY_LOGGERS, child.name)}
    child.setLevel(logging.WARNING)  # as dask's config does
    try:
        quiet_library_logs()
        assert not child.isEnabledFor(logging.ERROR)
        assert not logging.getLogger("asyncio").isEnabledFor(logging.ERROR)
        assert not logging.getLogger("distributed.new.module").isEnabledFor(logging.CRITICAL)
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
