"""Run batches on a Dask cluster: ``--scheduler`` on sweep, simulate, check and diff.

The points of a batch (:mod:`.batch`) are cut into chunks; each chunk is one Dask task that
runs :func:`.batch.run_chunk` on a worker — the kernel, samplers and metric readers of a local
run — and returns its rows, which are put back in point order. A row depends only on its point
(each point runs on its own copy of the state; Monte Carlo path ``i`` draws from
``(seed, i)``), so the result is the local run's, bit for bit, whatever the chunk size, the
number of workers, the order of completion or the chunks run again after a failure. The worker
is given the client's executor (jit or python), so its environment cannot change the numbers.

Shipping the scenario (docs/distributed.md, "Shipping the scenario"), once per batch, never
per task:

- **scatter**: the compiled batch is sent to every worker once (``client.scatter(...,
  broadcast=True)``); each task names it. Needs nothing shared. The default for batches up to
  ``CONTAGION_DASK_SCATTER_MAX_MB`` (32 MiB pickled).
- **path**: each task carries only where the variants come from (:class:`.variants.Source`:
  the absolute file path and the ``--set`` texts) and their fingerprints; a worker compiles
  them itself from the shared file system, once per process (an LRU cache), and checks that
  the fingerprint matches the client's. The default for larger batches: their arrays never go
  through the scheduler.

Failures: a chunk whose worker dies is run again on another worker by the scheduler, up to its
``distributed.scheduler.allowed-failures`` (Dask's default 3); beyond that the run fails
(:class:`ClusterError`, exit 4), saying whether the workers were restarted for exceeding their
memory limit (the nannies' ``worker-restart-memory`` events on the scheduler) or died of
something else. Scattered data lost with every worker that held it is
scattered again (at most :data:`MAX_RESHIPS` times). A cluster left without any worker for
``CONTAGION_DASK_WAIT`` seconds fails the run rather than letting it wait forever. Rows are
only returned once every chunk is back: a failed run reports nothing.

Dask is imported only when a runner is built: without ``--scheduler`` nothing here runs. The
command line silences Dask's own logging (:func:`quiet_library_logs`): a lost scheduler is one
message of this module's, not pages of the client's tracebacks.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import math
import os
import pickle
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..compile.compiler import Compiled
from ..compile.layout import F8
from ..engine.kernels import Executor
from ..errors import InputError, Location
from ..results.metrics import Metric
from ..schema.stochastic import MonteCarloModel
from .pool import Batch, Point, chunk_executor, default_workers, run_chunk
from .variants import Source, source_of

#: Environment variables (docs/distributed.md, "Settings"); CONTAGION_SCHEDULER is --scheduler's.
ENV_TIMEOUT = "CONTAGION_DASK_TIMEOUT"
ENV_WAIT = "CONTAGION_DASK_WAIT"
ENV_SHIP = "CONTAGION_DASK_SHIP"
ENV_SCATTER_MAX = "CONTAGION_DASK_SCATTER_MAX_MB"

#: Seconds to reach the scheduler, and to wait for its first worker.
DEFAULT_TIMEOUT = 10.0
DEFAULT_WAIT = 60.0
#: Batches larger than this (pickled) are compiled by the workers from the file.
DEFAULT_SCATTER_MAX_MB = 32.0
#: Default chunking: about this many chunks per worker thread, at most MAX_CHUNK points each.
CHUNKS_PER_THREAD = 4
MAX_CHUNK = 1000
#: Scattered data lost with all its holders is scattered again at most this many times.
MAX_RESHIPS = 3
#: Compiled batches a worker process keeps (path mode).
WORKER_CACHE = 4
#: Progress lines on a non-terminal stderr: at each tenth of the points, at most this often (s).
LOG_EVERY = 2.0
#: Seconds between looks at finished chunks, and between looks at the workers while waiting.
POLL = 0.01
WATCH_EVERY = 1.0
#: Largest --chunk-size accepted.
MAX_CHUNK_SIZE = 10_000_000

SHIP_MODES = ("auto", "scatter", "path")
INSTALL_HINT = "pip install 'contagion-cli[distributed]' (on this machine and on every worker)"
SHARED_HINT = (
    f"path mode needs the same files at the same absolute path on every worker (a shared file "
    f"system); or set {ENV_SHIP}=scatter to send the compiled scenario instead"
)


class ClusterError(Exception):
    """The cluster could not finish a run (exit 4): workers lost beyond the retries, no
    workers, the scheduler gone. Nothing of the run is reported."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class WorkerSetupError(Exception):
    """Raised on a worker that cannot rebuild a batch (file unreadable, different contents,
    another contagion-cli version). Plain strings only, so that it pickles back unchanged."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.message = message
        self.hint = hint


# --- settings --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """What the ``CONTAGION_DASK_*`` variables set (each checked: a bad value is exit 2)."""

    timeout: float = DEFAULT_TIMEOUT
    wait: float = DEFAULT_WAIT
    ship: str = "auto"
    scatter_max_bytes: int = int(DEFAULT_SCATTER_MAX_MB * 2**20)

    @classmethod
    def from_env(cls, environ: Any = None) -> Settings:
        env = os.environ if environ is None else environ
        ship = env.get(ENV_SHIP, "").strip().lower() or "auto"
        if ship not in SHIP_MODES:
            raise InputError.single(
                f"unknown shipping mode {ship!r}",
                Location(ENV_SHIP),
                hint="expected one of: " + ", ".join(SHIP_MODES),
            )
        return cls(
            timeout=_positive(env, ENV_TIMEOUT, DEFAULT_TIMEOUT),
            wait=_positive(env, ENV_WAIT, DEFAULT_WAIT),
            ship=ship,
            scatter_max_bytes=int(_positive(env, ENV_SCATTER_MAX, DEFAULT_SCATTER_MAX_MB) * 2**20),
        )


def _positive(env: Any, name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise InputError.single(f"expected a positive number, found {text!r}", Location(name))
    return value


def check_chunk_size(value: int | None) -> int | None:
    """``--chunk-size``: 1 to 10^7 points."""
    if value is not None and not 1 <= value <= MAX_CHUNK_SIZE:
        raise InputError.single(
            f"expected a number of points from 1 to {MAX_CHUNK_SIZE:,}, found {value}",
            Location("--chunk-size"),
            hint="leave it out for the default (about 4 chunks per worker thread)",
        )
    return value


def default_chunk_size(n_points: int, threads: int) -> int:
    """Points per chunk: about :data:`CHUNKS_PER_THREAD` chunks per worker thread (so that a
    slow chunk or a lost worker does not hold up the end), at most :data:`MAX_CHUNK`."""
    per = math.ceil(n_points / (max(1, threads) * CHUNKS_PER_THREAD))
    return max(1, min(MAX_CHUNK, per))


# --- what a chunk runs on the worker ----------------------------------------------------------
@dataclass(frozen=True)
class PathSpec:
    """A batch by reference (path mode): where each variant comes from and its fingerprint."""

    sources: tuple[Source, ...]
    fingerprints: tuple[str, ...]
    columns: tuple[Metric, ...]
    monte_carlo: MonteCarloModel | None


_CACHE: collections.OrderedDict[tuple[str, ...], tuple[Compiled, ...]] = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()


def run_chunk_task(
    shipped: Batch | PathSpec, points: Sequence[Point], executor: str, version: str
) -> np.ndarray:
    """One chunk on a worker: :func:`.batch.run_chunk` of the shipped batch.

    A module-level function, so that Dask pickles it by reference (the workers import
    ``contagion_cli``); ``version`` is the client's, which must be the worker's.
    """
    if version != __version__:
        raise WorkerSetupError(
            f"worker {_worker_name()} runs contagion-cli {__version__}, this client {version}",
            "install the same version of contagion-cli on the client and every worker",
        )
    if isinstance(shipped, PathSpec):
        batch = Batch(_compile_on_worker(shipped), shipped.columns, shipped.monte_carlo)
    else:
        batch = shipped
    return run_chunk(batch, points, Executor(executor))


def _compile_on_worker(spec: PathSpec) -> tuple[Compiled, ...]:
    """The variants of ``spec``, compiled from their files once per worker process."""
    with _CACHE_LOCK:  # one compile per process, however many threads ask at once
        hit = _CACHE.get(spec.fingerprints)
        if hit is not None:
            _CACHE.move_to_end(spec.fingerprints)
            return hit
        loaded: dict[tuple[Any, ...], Any] = {}
        out = []
        for source, expected in zip(spec.sources, spec.fingerprints, strict=True):
            group = (source.path, source.sets, source.set_axes)
            if group not in loaded:
                try:
                    loaded[group] = source.load()
                except InputError as exc:
                    problems = "; ".join(
                        line.removeprefix("error: ") for line in exc.render().splitlines()
                    )
                    raise WorkerSetupError(
                        f"worker {_worker_name()} cannot compile {source.path}: {problems}",
                        SHARED_HINT,
                    ) from None
            compiled = loaded[group].compiled[source.index]
            if fingerprint(compiled) != expected:
                raise WorkerSetupError(
                    f"worker {_worker_name()} compiled {source.path} to other arrays than this "
                    "client did (the file, or a file it reads, differs there or changed)",
                    SHARED_HINT,
                )
            out.append(compiled)
        _CACHE[spec.fingerprints] = result = tuple(out)
        while len(_CACHE) > WORKER_CACHE:
            _CACHE.popitem(last=False)
        return result


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        import socket

        return socket.gethostname()


# --- fingerprints and sizes ---------------------------------------------------------------------
#: Fields of a compiled scenario no metric of a batch reads: the parsed model (its file
#: locations differ between machines) and the account names (only ``run --entities`` shows them).
UNCHECKED_FIELDS = frozenset({"scenario", "entity_names"})
_PLAIN = (str, bytes, int, float, complex, bool, type(None), np.generic)


def _leaves(obj: Any) -> Iterator[Any]:
    """Every array and plain value of a compiled scenario, in a fixed order."""
    if isinstance(obj, (np.ndarray, *_PLAIN)):
        yield obj
    elif isinstance(obj, Compiled):
        for f in fields(obj):
            if f.name not in UNCHECKED_FIELDS:
                yield f.name
                yield from _leaves(getattr(obj, f.name))
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            yield from _leaves(getattr(obj, f.name))
    elif isinstance(obj, list | tuple):
        yield f"{type(obj).__name__}[{len(obj)}]"
        for item in obj:
            yield from _leaves(item)
    elif isinstance(obj, dict):
        yield f"dict[{len(obj)}]"
        for key in sorted(obj, key=str):
            yield str(key)
            yield from _leaves(obj[key])
    else:  # anything else by its pickle (never its repr: that may hold an address)
        yield pickle.dumps(obj, protocol=5)


def fingerprint(compiled: Compiled) -> str:
    """SHA-256 of every array, name and option of a compiled scenario that a batch reads.

    The fields in :data:`UNCHECKED_FIELDS` are left out; the scenario's name is in.
    """
    h = hashlib.sha256(compiled.scenario.name.encode())
    for leaf in _leaves(compiled):
        if isinstance(leaf, np.ndarray):
            a = np.ascontiguousarray(leaf)
            h.update(f"|a{a.dtype.descr}{a.shape}|".encode())
            h.update(memoryview(a).cast("B") if a.size else b"")
        elif isinstance(leaf, bytes):
            h.update(f"|b{len(leaf)}|".encode())
            h.update(leaf)
        else:
            h.update(f"|{type(leaf).__name__}:{leaf!r}".encode())
    return h.hexdigest()


class _Counter:
    """A file that only counts what is written to it."""

    def __init__(self) -> None:
        self.n = 0

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self.n += n
        return n


def batch_nbytes(batch: Batch) -> int:
    """Bytes of the pickled variants of a batch: what scattering sends to each worker
    (counted as pickle writes them, never held in memory)."""
    counter = _Counter()
    pickle.Pickler(counter, protocol=5).dump(batch.variants)
    return counter.n


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


# --- the runner ------------------------------------------------------------------------------
def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InputError.single(
            "--scheduler needs Dask (dask.distributed), which is not installed",
            Location("--scheduler"),
            hint=INSTALL_HINT,
        ) from None
    return distributed


#: Loggers whose records the command line drops while Dask runs: the runner explains every
#: cluster failure itself, and Dask's client logs each lost connection with its traceback.
LIBRARY_LOGGERS = ("distributed", "tornado", "asyncio")


def quiet_library_logs() -> None:
    """Silence Dask's (and its event loop's) logging in this process, for good: records from a
    closing client can come at exit. For the command line; a library caller keeps its logs."""
    import logging

    silent = logging.CRITICAL + 10
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(silent)
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        # children with a level of their own (dask's config gives distributed.client one)
        if isinstance(logger, logging.Logger) and name.startswith(
            tuple(f"{n}." for n in LIBRARY_LOGGERS)
        ):
            logger.setLevel(silent)


def _check_address(address: str) -> None:
    """A scheduler address Dask cannot parse (``bogus``: no port) is refused before a Client
    exists: a Client that fails in its constructor over such an address is left half-made, and
    its ``__del__`` then prints a traceback at exit after a 2 x timeout wait."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(address)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(loc)
    except (ValueError, TypeError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise InputError.single(
            f"cannot connect to the Dask scheduler at {address!r}: not an address ({reason})",
            Location("--scheduler"),
            hint="give tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786), a scheduler file (.json) "
            "or 'local'",
        ) from None


def _disarm_failed_client(exc: BaseException, client_type: type) -> None:
    """Mark a Client left half-made by a failed constructor as closed, so that its
    ``__del__`` does not wait and print a traceback at exit (it holds no connection)."""
    tb = exc.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if isinstance(candidate, client_type):
            with contextlib.suppress(Exception):
                candidate.status = "closed"
        tb = tb.tb_next


@dataclass
class _Shipment:
    arg: Any  # what each task gets: the scattered batch (a Future) or a PathSpec
    text: str
    scattered: Any = None  # the Future of a scattered batch

    def lost(self) -> bool:
        return self.scattered is not None and self.scattered.status != "finished"


class DaskRunner:
    """Runs batches on a Dask cluster; a :data:`.batch.Runner` (call it like one).

    ``address``: a scheduler address (``tcp://host:8786``), a scheduler file (``*.json``,
    as written by ``dask scheduler --scheduler-file``), or ``local`` for a cluster of
    ``workers`` processes on this machine. The connection is made on the first batch, so that
    input errors come before any wait. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        address: str,
        chunk_size: int | None = None,
        workers: int | None = None,
        say: Callable[[str], None] | None = None,
        log_progress: bool = False,
        settings: Settings | None = None,
        quiet: bool = False,
    ) -> None:
        self.distributed = _import_distributed()
        self.address = address.strip()
        if not self.address:
            raise InputError.single("expected a scheduler address", Location("--scheduler"))
        self.chunk_size = check_chunk_size(chunk_size)
        if self.address != "local" and not self.address.endswith(".json"):
            _check_address(self.address)
        self.workers = workers
        self.say = say or (lambda _text: None)
        self.log_progress = log_progress
        self.settings = settings or Settings.from_env()
        self.quiet = quiet  # the command line: Dask's own logs silenced (quiet_library_logs)
        if quiet:
            quiet_library_logs()
        self.client: Any = None
        self.cluster: Any = None
        self.started = time.time()  # of the current batch: older memory events are not its

    # --- connection ---
    def __enter__(self) -> DaskRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client (and the local cluster this runner started)."""
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        for thing in (client, cluster):
            if thing is not None:
                # closing after a failure must not mask the failure
                with contextlib.suppress(Exception):
                    thing.close()

    def _where(self) -> str:
        return "a local cluster" if self.address == "local" else self.address

    def _start_local(self) -> None:
        """A cluster of worker processes on this machine (``--scheduler local``)."""
        dd = self.distributed
        try:
            self.cluster = dd.LocalCluster(
                n_workers=self.workers or default_workers(),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=":0",
                # its workers write to this process's stderr: only what this module says
                silence_logs=logging.CRITICAL if self.quiet else logging.WARNING,
            )
            self.client = dd.Client(
                self.cluster, timeout=self.settings.timeout, set_as_default=False
            )
        except Exception as exc:
            self.close()
            raise ClusterError(
                f"could not start a local Dask cluster: {str(exc).strip() or exc!r}",
                hint="run without --scheduler to use the cores of this process",
            ) from None

    def _connect_remote(self) -> None:
        """A client of the scheduler at ``address`` (or in the scheduler file)."""
        dd, timeout = self.distributed, self.settings.timeout
        try:
            if self.address.endswith(".json"):
                self.client = dd.Client(
                    scheduler_file=self._scheduler_file(), timeout=timeout, set_as_default=False
                )
            else:
                self.client = dd.Client(self.address, timeout=timeout, set_as_default=False)
        except Exception as exc:  # any failure to connect is the address's
            self.close()
            _disarm_failed_client(exc, dd.Client)
            reason = str(exc).strip() or type(exc).__name__
            if isinstance(exc, MemoryError):  # a non-Dask service answered with garbage
                reason = "what answered there does not speak the Dask protocol"
            raise InputError.single(
                f"cannot connect to the Dask scheduler at {self.address!r}: {reason}",
                Location("--scheduler"),
                hint=f"start one with 'dask scheduler' and give its address, e.g. "
                f"tcp://HOST:8786 (connection timeout {timeout:g} s: {ENV_TIMEOUT})",
            ) from None

    def _scheduler_file(self) -> str:
        """The scheduler file, once it exists (a scheduler started with the job may write it
        a moment later); Dask itself would wait for it forever."""
        path = Path(self.address).expanduser()
        deadline = time.monotonic() + self.settings.timeout
        while not path.is_file():
            if time.monotonic() > deadline:
                raise FileNotFoundError(f"no scheduler file {path}")
            time.sleep(0.1)
        return str(path)

    def connect(self) -> Any:
        """The client, connected (bounded by ``CONTAGION_DASK_TIMEOUT``) and with a worker."""
        if self.client is not None:
            return self.client
        if self.address == "local":
            self._start_local()
        else:
            self._connect_remote()
        try:
            self.client.wait_for_workers(1, timeout=self.settings.wait)
        except Exception:  # a TimeoutError, whatever its module
            self.close()
            raise ClusterError(
                f"the Dask scheduler at {self.address} has no workers "
                f"(waited {self.settings.wait:g} s)",
                hint=f"start workers with 'dask worker {self.address}' (the wait is {ENV_WAIT})",
            ) from None
        threads = self._nthreads()
        self.say(
            f"dask: connected to {self._where()} ({_count(len(threads), 'worker')}, "
            f"{_count(sum(threads.values()), 'thread')})"
        )
        return self.client

    # --- one batch ---
    def __call__(
        self,
        batch: Batch,
        points: Sequence[Point],
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Rows ``[len(points), len(batch.columns)]`` in point order (as ``run_batch``)."""
        n, ncols = len(points), len(batch.columns)
        if n == 0:
            return np.empty((0, ncols), F8)
        self.connect()
        threads = self._nthreads()
        size = self.chunk_size or default_chunk_size(n, sum(threads.values()))
        chunks = [list(points[i : i + size]) for i in range(0, n, size)]
        shipment = self._ship(batch)
        self.say(f"dask: {n:,} points in {len(chunks):,} chunks of up to {size:,}; {shipment.text}")
        blocks = self._run(chunks, batch, shipment, ncols, progress)
        gone = sorted(set(threads) - set(self._nthreads()))
        if gone:
            self.say(
                f"warning: dask: {len(gone)} worker(s) left during the run ({', '.join(gone)}); "
                "the chunks they had not returned ran again on other workers"
            )
        return np.vstack(blocks)

    def _nthreads(self) -> dict[str, int]:
        """Threads per worker address (empty when the scheduler cannot say)."""
        try:
            return dict(self.client.nthreads())
        except Exception:  # the scheduler went away: the run itself will say so
            return {}

    def _ship(self, batch: Batch) -> _Shipment:
        """Send the batch to the workers once: scatter it, or tell them which files to compile."""
        sources = [source_of(c) for c in batch.variants]
        nbytes = batch_nbytes(batch)
        mode = self.settings.ship
        known = all(s is not None for s in sources)
        if mode == "auto":
            mode = "path" if known and nbytes > self.settings.scatter_max_bytes else "scatter"
        if mode == "path":
            if not known:
                raise InputError.single(
                    "this batch was not compiled from a file, so workers cannot compile it",
                    Location(ENV_SHIP),
                    hint=f"unset {ENV_SHIP} or set it to scatter",
                )
            spec = PathSpec(
                tuple(s for s in sources if s is not None),
                tuple(fingerprint(c) for c in batch.variants),
                batch.columns,
                batch.monte_carlo,
            )
            files = sorted({s.path for s in spec.sources})
            return _Shipment(spec, f"workers compile {', '.join(files)} themselves (path mode)")
        try:
            future = self.client.scatter(batch, broadcast=True, hash=False)
        except Exception as exc:  # no worker left, the scheduler gone, a timeout
            if _lacks_contagion(exc):
                raise _install_error(exc, "a worker") from None
            raise ClusterError(
                f"could not send the scenario to the workers of {self._where()}: "
                f"{str(exc).strip() or type(exc).__name__}"
            ) from None
        return _Shipment(future, f"scenario scattered to every worker ({_size(nbytes)})", future)

    def _run(
        self,
        chunks: list[list[Point]],
        batch: Batch,
        shipment: _Shipment,
        ncols: int,
        progress: Callable[[int], None] | None,
    ) -> list[np.ndarray]:
        """Submit every chunk, collect the rows as chunks finish, survive lost scattered data."""
        dd, client = self.distributed, self.client
        self.started = time.time()
        executor = chunk_executor().value
        run_id = uuid.uuid4().hex[:8]
        blocks: list[np.ndarray | None] = [None] * len(chunks)
        pending: dict[Any, int] = {}  # future -> chunk index
        completed = dd.as_completed(loop=client.loop, with_results=True, raise_errors=False)
        reships = 0

        def submit(i: int) -> None:
            key = f"contagion-{run_id}-{i}" + (f"-s{reships}" if reships else "")
            future = client.submit(
                run_chunk_task,
                shipment.arg,
                chunks[i],
                executor,
                __version__,
                key=key,
                pure=False,
            )
            pending[future] = i
            completed.add(future)

        for i in range(len(chunks)):
            submit(i)
        total = sum(len(c) for c in chunks)
        done_points, next_log, started = 0, 0.1, time.perf_counter()
        last_log = started
        watch = _Watchdog(self)
        try:
            while pending:
                if not completed.has_ready():
                    watch.check(done_points, total)  # all workers gone for good: give up
                    time.sleep(POLL)
                    continue
                future, result = next(completed)
                i = pending.pop(future, None)
                if i is None:
                    continue  # a chunk submitted again after its scattered data was lost
                if future.status == "finished":
                    block = np.asarray(result, dtype=F8)
                    if block.shape != (len(chunks[i]), ncols):  # pragma: no cover - defensive
                        raise ClusterError(
                            f"chunk {i} came back with {block.shape} values, expected "
                            f"{(len(chunks[i]), ncols)}"
                        )
                    blocks[i] = block
                    done_points += len(chunks[i])
                    if progress is not None:
                        progress(len(chunks[i]))
                    now = time.perf_counter()
                    if self.log_progress and (
                        done_points == total
                        or (done_points >= next_log * total and now - last_log >= LOG_EVERY)
                    ):
                        # a log-friendly line (batch jobs): each tenth, at most every LOG_EVERY s
                        self.say(
                            f"dask: {done_points:,}/{total:,} points "
                            f"({done_points / total:.0%}) in {now - started:.1f} s"
                        )
                        next_log = math.floor(done_points / total * 10 + 1) / 10
                        last_log = now
                elif future.status == "error":
                    raise self._task_error(future.exception(), i, chunks)
                elif shipment.lost() and reships < MAX_RESHIPS and client.status == "running":
                    # every worker holding the scattered batch left: scatter it again and
                    # submit the chunks still outstanding (old futures are dropped)
                    reships += 1
                    self.say(
                        "warning: dask: the scenario was lost with its workers; sending it again"
                    )
                    again = [i, *pending.values()]
                    client.cancel(list(pending))
                    pending.clear()
                    try:
                        client.wait_for_workers(1, timeout=self.settings.wait)
                    except Exception:  # a TimeoutError, whatever its module
                        raise watch.gone(done_points, total) from None
                    shipment = self._ship(batch)
                    for j in again:
                        submit(j)
                elif shipment.lost() and client.status == "running":
                    # the workers holding the scenario kept dying: say why, as for a chunk
                    raise ClusterError(
                        f"the workers holding the scenario died {reships + 1} times "
                        f"({self._deaths()}); nothing of this run is reported",
                        hint=self._death_hint(),
                    )
                else:
                    raise ClusterError(
                        f"lost the run on the Dask scheduler at {self._where()}: chunk {i} "
                        "was cancelled (the scheduler went away or the client was disconnected)",
                        hint="nothing of this run is reported; run it again",
                    )
        finally:
            if pending:
                client.cancel(list(pending))
        missing = [i for i, b in enumerate(blocks) if b is None]
        if missing:  # pragma: no cover - defensive: as_completed ended early
            raise ClusterError(f"{len(missing)} chunks never came back (first: chunk {missing[0]})")
        return [b for b in blocks if b is not None]

    def _task_error(self, exc: BaseException, i: int, chunks: list[list[Point]]) -> BaseException:
        """The exception a failed chunk stands for: cluster, setup (input) or a bug (as is)."""
        first = sum(len(c) for c in chunks[:i])
        where = f"chunk {i} (points {first}-{first + len(chunks[i]) - 1})"
        if type(exc).__name__ == "KilledWorker":
            last = getattr(getattr(exc, "last_worker", None), "address", None)
            tries = getattr(exc, "allowed_failures", None)
            times = f"{tries + 1} times, " if isinstance(tries, int) else ""
            return ClusterError(
                f"{where}: the workers that ran it died, {times}more often than the scheduler "
                f"allows ({self._deaths(last)})",
                hint=self._death_hint(last)
                + "; the scheduler's retries are its allowed-failures setting "
                "(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES)",
            )
        if isinstance(exc, WorkerSetupError):
            return InputError.single(exc.message, Location("--scheduler"), hint=exc.hint)
        if _lacks_contagion(exc):
            return _install_error(exc, f"{where}: a worker")
        return exc

    def _memory_restarts(self) -> dict[str, dict[str, Any]]:
        """Workers their nanny restarted for exceeding the memory limit during this batch
        (worker address -> the event: its pid and resident bytes); empty when the scheduler
        cannot say."""
        try:
            events = self.client.get_events("worker-restart-memory")
        except Exception:  # the scheduler gone, an old Dask: no evidence either way
            return {}
        out: dict[str, dict[str, Any]] = {}
        for stamp, event in events or ():
            if isinstance(event, dict) and stamp >= self.started - 1.0 and "worker" in event:
                out[str(event["worker"])] = event
        return out

    def _deaths(self, last: str | None = None) -> str:
        """Why the workers died, as far as the scheduler knows: its memory restarts, or none."""
        restarts = self._memory_restarts()
        if not restarts:
            return (
                "not for memory, as far as the scheduler knows: no worker was restarted for "
                "exceeding its memory limit; a crash, or a kill from outside such as the "
                "system's OOM killer"
            )
        shown = last if last in restarts else next(iter(restarts))
        rss = restarts[shown].get("rss")
        used = f" ({_size(rss)} resident)" if isinstance(rss, int | float) else ""
        others = len(restarts) - 1
        more = f", and {_count(others, 'other worker')} likewise" if others else ""
        return (
            f"out of memory: its nanny restarted {shown} for exceeding the worker's memory "
            f"limit{used}{more}"
        )

    def _death_hint(self, last: str | None = None) -> str:
        if self._memory_restarts():
            return (
                "give the workers more memory (dask worker --memory-limit), fewer threads "
                "each, or use a smaller --chunk-size"
            )
        return "see the workers' logs for why they died"


class _Watchdog:
    """Fails a run whose cluster has had no worker for ``CONTAGION_DASK_WAIT`` seconds: its
    tasks would wait for one forever."""

    def __init__(self, runner: DaskRunner) -> None:
        self.runner = runner
        self.next_check = time.monotonic() + WATCH_EVERY
        self.empty_since: float | None = None

    def check(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now < self.next_check:
            return
        self.next_check = now + WATCH_EVERY
        if self.runner._nthreads():
            self.empty_since = None
            return
        if self.empty_since is None:
            self.empty_since = now
        if now - self.empty_since >= self.runner.settings.wait:
            raise self.gone(done, total)

    def gone(self, done: int, total: int) -> ClusterError:
        return ClusterError(
            f"every worker of {self.runner._where()} left and none came back within "
            f"{self.runner.settings.wait:g} s ({done:,} of {total:,} points were done; "
            "nothing is reported)",
            hint="see the workers' logs: a worker that crashes on every task (memory, a "
            f"broken installation) leaves this way; the wait is {ENV_WAIT}",
        )


def _lacks_contagion(exc: BaseException) -> bool:
    """Whether a worker failed because it cannot import this package."""
    text = str(exc)
    return "No module named" in text and "contagion_cli" in text


def _install_error(exc: BaseException, who: str) -> InputError:
    return InputError.single(
        f"{who} cannot import contagion_cli ({str(exc).strip()})",
        Location("--scheduler"),
        hint="install contagion-cli[distributed], the same version as here, on every worker",
    )
