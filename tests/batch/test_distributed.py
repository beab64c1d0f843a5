"""`--scheduler`: batches on a Dask cluster give the local run's numbers, bit for bit.

Clusters here are real: worker processes over TCP on loopback (``LocalCluster``), and one test
starts ``dask scheduler`` and two ``dask worker`` commands. Worker deaths are real too: a
worker process is SIGKILLed while it runs a chunk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from contagion_cli.batch.distributed import (
    MAX_CHUNK,
    ClusterError,
    DaskRunner,
    Settings,
    default_chunk_size,
    fingerprint,
)
from contagion_cli.batch.simulate import model_of, simulate, with_overrides
from contagion_cli.batch.sweep import run_sweep
from contagion_cli.batch.variants import load_compiled, source_of
from contagion_cli.cli.app import app
from contagion_cli.errors import ExitCode, InputError

ROOT = Path(__file__).parents[2]
QUICKSTART = str(ROOT / "scenarios" / "quickstart.yaml")
MONTE_CARLO = str(ROOT / "scenarios" / "quickstart-montecarlo.yaml")
POLICY = str(ROOT / "scenarios" / "policies" / "quickstart-policy.yaml")
#: Monte Carlo paths slow enough (a few ms each) that a worker is killed mid-chunk; with the
#: JIT off (make test-nojit) the kernel is slow enough as it is.
NOJIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
SLOW_PATHS = ("shocks.steps=20",) if NOJIT else ("shocks.steps=200",)
KILL_PATHS, KILL_CHUNK = (80, 10) if NOJIT else (320, 20)
cli_runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None):
    return cli_runner.invoke(app, list(args), env=env)


def local_cluster(workers: int = 2, allowed_failures: int | None = None):
    """Worker processes (each behind a nanny that restarts it) over TCP on loopback."""
    dask = pytest.importorskip("dask")
    distributed = pytest.importorskip("distributed")
    key = "distributed.scheduler.allowed-failures"
    config = {} if allowed_failures is None else {key: allowed_failures}
    with dask.config.set(config):
        return distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address=":0",  # any free port: clusters side by side do not clash
        )


@pytest.fixture(scope="module")
def cluster():
    with local_cluster() as c:
        yield c


@pytest.fixture(scope="module")
def address(cluster) -> str:
    return cluster.scheduler_address


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit (NaN included)."""
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


# --- identical results -----------------------------------------------------------------------
@pytest.mark.parametrize("chunk", [None, "7"])
def test_sweep_on_a_cluster_prints_the_local_csv(address, chunk):
    args = [
        "sweep",
        QUICKSTART,
        "--shock",
        "ETH=-0.02:-0.60:0.02",
        "--set",
        "protocols.compound.collateral.ETH.liquidation_bonus=0.05,0.08",
        "-f",
        "csv",
    ]
    local = cli(*args)
    extra = ["--chunk-size", chunk] if chunk else []
    remote = cli(*args, "--scheduler", address, *extra)
    assert local.exit_code == 0, local.output
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout
    assert f"dask: connected to {address}" in remote.stderr
    assert "60 points" in remote.stderr and "scattered" in remote.stderr


def test_simulation_is_identical_whatever_the_chunking(address):
    compiled = load_compiled(MONTE_CARLO)
    model = with_overrides(model_of(compiled), paths=150, seed=11)
    local = simulate(compiled, model)
    for size in (1, 16, None):
        with DaskRunner(address, chunk_size=size) as runner:
            remote = simulate(compiled, model, runner=runner)
        assert same(remote.values, local.values), size
        assert remote.risk == local.risk


def test_path_mode_compiles_on_the_workers_and_matches(address):
    messages: list[str] = []
    settings = Settings(ship="path")
    axes = ("ETH=-0.1:-0.5:0.1",), (), ("settings.max_rounds=1000,999",)
    local = run_sweep(QUICKSTART, *axes)
    with DaskRunner(address, chunk_size=3, say=messages.append, settings=settings) as runner:
        remote = run_sweep(QUICKSTART, *axes, runner=runner)
    assert same(remote.values, local.values)
    assert any("themselves (path mode)" in m for m in messages)


def test_check_and_diff_on_a_cluster_match_the_local_reports(address):
    check = ["check", QUICKSTART, MONTE_CARLO, "--policy", POLICY, "-f", "json"]
    diff = [
        "diff",
        MONTE_CARLO,
        "--set",
        "protocols.compound.reserve_usd=1e6",
        "--paths",
        "120",
        "-f",
        "json",
    ]
    for args in (check, diff):
        local = cli(*args)
        remote = cli(*args, "--scheduler", address, "--chunk-size", "9")
        assert local.exit_code == remote.exit_code == 0, remote.output
        assert json.loads(remote.stdout) == json.loads(local.stdout)
        assert remote.stdout == local.stdout


def test_scheduler_from_the_environment(address):
    args = ["simulate", MONTE_CARLO, "--paths", "40", "-f", "json"]
    remote = cli(*args, env={"CONTAGION_SCHEDULER": address})
    assert remote.exit_code == 0, remote.output
    assert "dask: connected" in remote.stderr
    assert remote.stdout == cli(*args).stdout


def test_scheduler_local_starts_and_stops_its_own_cluster():
    pytest.importorskip("distributed")
    args = ["simulate", MONTE_CARLO, "--paths", "30", "-f", "json"]
    remote = cli(*args, "--scheduler", "local", "--workers", "1")
    assert remote.exit_code == 0, remote.output
    assert "connected to a local cluster (1 worker, 1 thread)" in remote.stderr
    assert remote.stdout == cli(*args).stdout


def test_a_scheduler_file_works_like_its_address(address, tmp_path):
    scheduler_file = tmp_path / "scheduler.json"
    scheduler_file.write_text(json.dumps({"address": address}))
    args = ["simulate", MONTE_CARLO, "--paths", "30", "-f", "json"]
    remote = cli(*args, "--scheduler", str(scheduler_file))
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == cli(*args).stdout


# --- worker failures -------------------------------------------------------------------------
@contextmanager
def killer(cluster):
    """``kill()`` SIGKILLs the worker process that is running the most contagion chunks."""
    distributed = pytest.importorskip("distributed")
    with distributed.Client(cluster, set_as_default=False) as observer:
        pids = observer.run(os.getpid)
        killed: list[str] = []

        def kill() -> bool:
            busy = {
                w: [k for k in keys if str(k).startswith("contagion-")]
                for w, keys in observer.processing().items()
            }
            busy = {w: keys for w, keys in busy.items() if keys and w in pids}
            if not busy or killed:
                return False
            worker = max(busy, key=lambda w: len(busy[w]))
            os.kill(pids[worker], signal.SIGKILL)
            killed.append(worker)
            return True

        yield kill, killed


def test_a_worker_killed_mid_run_is_survived():
    compiled = load_compiled(MONTE_CARLO, SLOW_PATHS)
    model = with_overrides(model_of(compiled), paths=KILL_PATHS, seed=3)
    local = simulate(compiled, model)
    messages: list[str] = []
    with local_cluster() as cluster, killer(cluster) as (kill, killed):

        def progress(_n: int) -> None:
            kill()  # at the first finished chunk: the other chunks are still running

        with DaskRunner(cluster.scheduler_address, KILL_CHUNK, say=messages.append) as runner:
            remote = simulate(compiled, model, progress=progress, runner=runner)
    assert killed, "no worker was busy when the first chunk finished"
    assert same(remote.values, local.values)
    assert any("left during the run" in m and killed[0] in m for m in messages)


def test_the_scenario_is_scattered_again_when_its_only_holder_dies():
    compiled = load_compiled(MONTE_CARLO, SLOW_PATHS)
    model = with_overrides(model_of(compiled), paths=KILL_PATHS // 2, seed=5)
    local = simulate(compiled, model)
    messages: list[str] = []
    # one worker: killing it loses the scattered batch; its nanny starts a fresh, empty one
    with (
        local_cluster(workers=1) as cluster,
        killer(cluster) as (kill, killed),
        DaskRunner(cluster.scheduler_address, 10, say=messages.append) as runner,
    ):
        remote = simulate(compiled, model, progress=lambda _n: kill(), runner=runner)
    assert killed
    assert same(remote.values, local.values)
    assert any("sending it again" in m for m in messages), messages


def test_worker_deaths_beyond_the_retries_fail_with_exit_4_and_no_report():
    args = ["simulate", MONTE_CARLO, "--paths", str(KILL_PATHS), "--set", *SLOW_PATHS]
    with local_cluster(allowed_failures=0) as cluster, killer(cluster) as (kill, killed):
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set() and not kill():
                time.sleep(0.01)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            result = cli(
                *args, "--scheduler", cluster.scheduler_address, "--chunk-size", str(KILL_CHUNK)
            )
        finally:
            stop.set()
            thread.join()
    assert killed
    assert result.exit_code == ExitCode.CLUSTER_FAILED == 4, result.output
    assert result.stdout == ""
    assert "died" in result.stderr and "allowed-failures" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_cluster_whose_workers_all_leave_fails_instead_of_waiting_forever():
    compiled = load_compiled(MONTE_CARLO, SLOW_PATHS)
    model = with_overrides(model_of(compiled), paths=KILL_PATHS, seed=3)
    with local_cluster(workers=1) as cluster:

        def progress(_n: int) -> None:
            cluster.scale(0)  # the only worker leaves, and none is coming

        with (
            DaskRunner(cluster.scheduler_address, KILL_CHUNK, settings=Settings(wait=1)) as runner,
            pytest.raises(ClusterError, match=r"every worker of .* left and none came back"),
        ):
            simulate(compiled, model, progress=progress, runner=runner)


# --- shipping by path: what a worker checks ----------------------------------------------------
def test_path_mode_without_the_file_on_the_workers_is_exit_2(address, tmp_path):
    scenario = tmp_path / "gone.yaml"
    shutil.copy(MONTE_CARLO, scenario)
    compiled = load_compiled(scenario)
    assert source_of(compiled) is not None
    scenario.unlink()  # as if the workers did not share this file system
    model = with_overrides(model_of(compiled), paths=8)
    with (
        DaskRunner(address, settings=Settings(ship="path")) as runner,
        pytest.raises(InputError) as err,
    ):
        simulate(compiled, model, runner=runner)
    text = err.value.render()
    assert "cannot compile" in text and str(scenario) in text and "file not found" in text
    assert "CONTAGION_DASK_SHIP=scatter" in text


def test_path_mode_with_a_different_file_on_the_workers_is_exit_2(address, tmp_path):
    scenario = tmp_path / "edited.yaml"
    shutil.copy(MONTE_CARLO, scenario)
    compiled = load_compiled(scenario)
    text = scenario.read_text().replace("reserve_usd: 2.0e6", "reserve_usd: 3.0e6")
    scenario.write_text(text)  # edited after the client compiled it
    model = with_overrides(model_of(compiled), paths=8)
    with (
        DaskRunner(address, settings=Settings(ship="path")) as runner,
        pytest.raises(InputError, match="other arrays than this client"),
    ):
        simulate(compiled, model, runner=runner)


def test_fingerprints_survive_pickling_and_recompiling():
    import pickle

    a = load_compiled(QUICKSTART)
    assert fingerprint(a) == fingerprint(pickle.loads(pickle.dumps(a)))
    assert fingerprint(a) == fingerprint(load_compiled(QUICKSTART))
    assert fingerprint(a) != fingerprint(load_compiled(QUICKSTART, ["settings.max_rounds=999"]))


# --- bad addresses, missing pieces -----------------------------------------------------------
@pytest.mark.parametrize("address", ["nonsense", "http://127.0.0.1:8786", "CLOSED", "FILE"])
def test_a_bad_scheduler_address_is_exit_2_within_the_timeout(address, tmp_path):
    if address == "CLOSED":
        address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    elif address == "FILE":
        address = str(tmp_path / "never-written.json")  # a scheduler file that never appears
    started = time.perf_counter()
    result = cli(
        "sweep",
        QUICKSTART,
        "--shock",
        "ETH=-0.1,-0.2",
        "--scheduler",
        address,
        env={"CONTAGION_DASK_TIMEOUT": "1"},
    )
    assert time.perf_counter() - started < 20
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert f"cannot connect to the Dask scheduler at {address!r}" in result.stderr
    assert "--scheduler" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_scheduler_without_workers_is_exit_4():
    with local_cluster(workers=0) as cluster:
        result = cli(
            "simulate",
            MONTE_CARLO,
            "--paths",
            "10",
            "--scheduler",
            cluster.scheduler_address,
            env={"CONTAGION_DASK_WAIT": "0.5"},
        )
    assert result.exit_code == ExitCode.CLUSTER_FAILED, result.output
    assert "has no workers" in result.stderr and "dask worker" in result.stderr


def test_without_dask_the_message_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    result = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1", "--scheduler", "tcp://h:8786")
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert "needs Dask" in result.stderr and "contagion-cli[distributed]" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--chunk-size", "10"], "--chunk-size needs --scheduler"),
        (["--chunk-size", "0", "--scheduler", "local"], "expected a number of points"),
    ],
)
def test_bad_chunk_options_are_exit_2(args, message):
    pytest.importorskip("distributed")
    result = cli("sweep", QUICKSTART, "--shock", "ETH=-0.1", *args)
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert message in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONTAGION_DASK_SHIP", "ftp"),
        ("CONTAGION_DASK_TIMEOUT", "-1"),
        ("CONTAGION_DASK_SCATTER_MAX_MB", "lots"),
    ],
)
def test_bad_settings_are_exit_2(name, value):
    pytest.importorskip("distributed")
    result = cli(
        "sweep", QUICKSTART, "--shock", "ETH=-0.1", "--scheduler", "local", env={name: value}
    )
    assert result.exit_code == ExitCode.INVALID_INPUT
    assert name in result.stderr


def test_default_chunking():
    assert default_chunk_size(10, 4) == 1
    assert default_chunk_size(999, 2) == 125  # four chunks per thread
    assert default_chunk_size(10**6, 8) == MAX_CHUNK
    assert default_chunk_size(5, 0) == 2  # no workers counted yet


def test_cluster_error_renders_like_an_input_error():
    text = ClusterError("chunk 3 was lost", hint="run it again").render()
    assert text == "error: chunk 3 was lost\n  hint: run it again"


def test_without_scheduler_dask_is_never_imported():
    code = """
import sys
from typer.testing import CliRunner
from contagion_cli.cli.app import app
r = CliRunner()
q, mc = sys.argv[1], sys.argv[2]
for args in (["sweep", q, "--shock", "ETH=-0.1,-0.2"], ["simulate", mc, "--paths", "5"]):
    result = r.invoke(app, args)
    assert result.exit_code == 0, result.output
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
assert not loaded, loaded
assert "contagion_cli.batch.distributed" not in sys.modules
print("ok")
"""
    proc = subprocess.run(
        [sys.executable, "-c", code, QUICKSTART, MONTE_CARLO],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# --- the acceptance run: `dask scheduler`, two `dask worker`, the installed command -----------
@pytest.mark.slow
def test_dask_scheduler_and_two_workers_reproduce_the_local_sweep(tmp_path):
    distributed = pytest.importorskip("distributed")
    bin_dir = Path(sys.executable).parent
    dask_cmd = shutil.which("dask", path=str(bin_dir)) or shutil.which("dask")
    exe = shutil.which("contagion", path=str(bin_dir)) or shutil.which("contagion")
    if dask_cmd is None or exe is None:
        pytest.skip("the dask and contagion commands are not installed")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = ["--no-dashboard"]
    procs = [
        subprocess.Popen(
            [dask_cmd, "scheduler", "--host", "127.0.0.1", "--port", str(port), *common],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [dask_cmd, "worker", address, "--nworkers", "1", "--nthreads", "1", *common],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=tmp_path,  # workers need no checkout: path mode uses absolute paths
                )
            )
        args = [exe, "sweep", QUICKSTART, "--shock", "ETH=-0.01:-0.99:0.01", "-f", "csv"]
        local = subprocess.run(args, capture_output=True, text=True, timeout=300)
        with distributed.Client(address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
        remote = subprocess.run(
            [*args, "--scheduler", address],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "CONTAGION_DASK_WAIT": "60"},
        )
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    assert remote.stdout == local.stdout
    assert "dask: connected to" in remote.stderr and "(2 workers" in remote.stderr
