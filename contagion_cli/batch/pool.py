"""Run many points of one compiled scenario in parallel: sweeps, Monte Carlo paths, scans.

A *point* says which compiled variant to run (a ``--set`` combination) and which shock path:
the variant's own, a one-step path of given returns and liquidity multipliers, or Monte Carlo
path ``i``. :func:`run_chunk` is a pure function of a :class:`Batch` and a list of points and
returns one row of metric values per point; it can be shipped as is to another thread,
process or machine. :func:`run_batch` cuts the points into chunks and runs them on a pool of
worker processes, one per core: the kernel itself releases the GIL (``nogil=True``), but
turning each point's arrays into metrics is Python and holds it, so threads did not scale
past one core. On Linux the workers are forked after the first chunk ran here, so they inherit
the compiled batch and the loaded kernel (nothing is pickled or recompiled); elsewhere, or
with ``CONTAGION_POOL=threads``, a thread pool runs the chunks. A *runner*
(``run_batch(..., runner=...)``) runs the chunks somewhere else instead: the Dask runner of
:mod:`.distributed` ships them to a cluster's workers (``--scheduler``).

Termination: forked workers die with their parent. Each asks the kernel to kill it when the
parent exits (``PR_SET_PDEATHSIG``: even a ``kill -9`` of the parent leaves no worker holding
its pipes), and a SIGTERM to the parent while the pool runs terminates the workers before the
parent exits (:class:`Terminated`, exit code 143).

Determinism: every point runs on its own fresh copy of the state, and Monte Carlo path ``i``
draws its numbers from a generator seeded by ``(seed, i)`` alone (:mod:`.sampler`). A row
therefore depends only on its point, never on the chunking, the order of completion or the
number of workers; rows are put back in point order.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..compile.compiler import Compiled
from ..compile.layout import F8, Path
from ..compile.sampler import PathSampler
from ..engine import kernels
from ..engine.collect import collect
from ..engine.raw import run_raw
from ..errors import InputError, Location, Terminated
from ..results.metrics import Metric, read_all
from ..results.run import RunResult
from ..schema.stochastic import MonteCarloModel
from ..timings import phase

#: A chunk holds at most this many points (progress granularity; memory of one result block).
MAX_CHUNK = 256
#: Chunks per worker to aim for, so that uneven points still keep every core busy.
CHUNKS_PER_WORKER = 8


@dataclass(frozen=True)
class Point:
    """One run of a batch.

    ``shocks`` (``(asset index, return)`` pairs) replaces the variant's path with one step, as
    ``contagion run --shock`` does; ``liquidity`` multiplies liquidity in that step (or, with
    the variant's own path, in its first step); ``mc_path`` runs Monte Carlo path ``i`` instead.
    """

    variant: int = 0
    shocks: tuple[tuple[int, float], ...] | None = None
    liquidity: tuple[tuple[int, float], ...] = ()
    mc_path: int | None = None


@dataclass(frozen=True)
class Batch:
    """What every chunk of a batch shares: compiled variants, the columns, the path model."""

    variants: tuple[Compiled, ...]
    columns: tuple[Metric, ...]
    monte_carlo: MonteCarloModel | None = None


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def chunk_executor() -> kernels.Executor:
    """The JIT, unless CONTAGION_EXECUTOR asks for plain Python (``auto`` is for single runs)."""
    chosen = kernels.default_executor()
    return kernels.Executor.jit if chosen is kernels.Executor.auto else chosen


def point_path(compiled: Compiled, point: Point, sampler: PathSampler | None) -> Path:
    """The shock path of one point, in the compiled scenario's asset order."""
    if point.mc_path is not None:
        assert sampler is not None, "a Monte Carlo point needs a batch with a model"
        path = sampler.path(point.mc_path)
    elif point.shocks is not None:
        returns = np.zeros((1, compiled.n_assets), F8)
        for a, r in point.shocks:
            returns[0, a] = r
        path = Path(returns, np.ones((1, compiled.n_assets), F8))
    else:
        path = compiled.path
        if point.liquidity:
            path = Path(path.returns, path.liquidity.copy())
    if point.liquidity:
        for a, m in point.liquidity:
            path.liquidity[0, a] *= m
    return path


def run_point(
    compiled: Compiled,
    point: Point,
    sampler: PathSampler | None = None,
    executor: kernels.Executor | None = None,
) -> RunResult:
    """One point as a full :class:`~.results.RunResult` (what ``contagion run`` would give)."""
    path = point_path(compiled, point, sampler)
    if path is not compiled.path:
        compiled = dataclasses.replace(compiled, path=path)
    raw = run_raw(compiled, executor=executor or chunk_executor())
    return collect(compiled, raw.outputs, raw.status)


def run_chunk(
    batch: Batch, points: Sequence[Point], executor: kernels.Executor | None = None
) -> np.ndarray:
    """Rows ``[len(points), len(batch.columns)]`` of metric values: a pure function.

    ``executor`` defaults to :func:`chunk_executor` of this process; a remote worker is given
    the client's, so that its environment cannot change the numbers.
    """
    out = np.empty((len(points), len(batch.columns)), F8)
    samplers: dict[int, PathSampler] = {}
    executor = executor or chunk_executor()
    for k, point in enumerate(points):
        compiled = batch.variants[point.variant]
        sampler = None
        if point.mc_path is not None:
            if batch.monte_carlo is None:
                raise ValueError("a Monte Carlo point in a batch without a model")
            sampler = samplers.get(point.variant)
            if sampler is None:
                sampler = PathSampler(batch.monte_carlo, compiled.asset_names)
                samplers[point.variant] = sampler
        out[k] = read_all(run_point(compiled, point, sampler, executor), batch.columns)
    return out


def chunk_size(n_points: int, workers: int) -> int:
    """Points per chunk: several chunks per worker, at most :data:`MAX_CHUNK`."""
    return max(1, min(MAX_CHUNK, math.ceil(n_points / (max(1, workers) * CHUNKS_PER_WORKER))))


#: Runs a batch elsewhere: ``runner(batch, points, progress)`` returns the rows in point order
#: (what :func:`run_batch` returns), e.g. :class:`.distributed.DaskRunner`.
Runner = Callable[[Batch, Sequence[Point], Callable[[int], None] | None], np.ndarray]


def _pool_kind() -> str:
    """``processes`` (forked workers, Linux) or ``threads``: ``CONTAGION_POOL`` may force
    threads; processes need ``fork`` so that workers inherit the batch without pickling."""
    wanted = os.environ.get("CONTAGION_POOL", "").strip().lower() or "processes"
    if wanted not in ("processes", "threads"):
        raise InputError.single(
            f"unknown pool {wanted!r}",
            Location("CONTAGION_POOL"),
            hint="expected processes (the default) or threads",
        )
    if wanted == "threads" or not sys.platform.startswith("linux"):
        return "threads"
    return "processes"


#: The batch a forked worker runs chunks of: set in the parent just before the fork, so that
#: workers inherit it (copy-on-write) instead of receiving it pickled with every task.
_FORKED: tuple[Batch, Sequence[Point]] | None = None


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated


#: ``prctl`` option: the signal the kernel sends a process when its parent exits (Linux).
PR_SET_PDEATHSIG = 1


def _worker_init(parent: int) -> None:
    """In each forked worker: die with the parent, whatever kills it.

    The SIGTERM handler the parent installed is inherited by the fork: back to the default,
    so that a terminated worker stops at once, even inside the kernel (which holds no lock)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _terminate_workers(pool: Executor) -> None:
    """Kill a process pool's workers now (an interrupt should not wait for their chunks)."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        with contextlib.suppress(Exception):
            process.terminate()


def _run_forked(start: int, stop: int) -> np.ndarray:
    assert _FORKED is not None, "a forked chunk without its batch"
    batch, points = _FORKED
    return run_chunk(batch, points[start:stop])


def run_batch(
    batch: Batch,
    points: Sequence[Point],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    runner: Runner | None = None,
) -> np.ndarray:
    """Run all points on ``workers`` worker processes (threads where fork is not available,
    or with ``CONTAGION_POOL=threads``; default: every core); rows in point order.

    ``progress(n)`` is called from this thread after each chunk with the points it finished.
    With a ``runner``, the runner runs them instead (``workers`` is then not used).
    """
    with phase("runs", whole=True):
        return _run_points(batch, points, workers, progress, runner)


def _run_points(
    batch: Batch,
    points: Sequence[Point],
    workers: int | None,
    progress: Callable[[int], None] | None,
    runner: Runner | None,
) -> np.ndarray:
    if runner is not None:
        return runner(batch, points, progress)
    kind = _pool_kind()  # a bad CONTAGION_POOL is refused before any work
    workers = workers or default_workers()
    n = len(points)
    if n == 0:
        return np.empty((0, len(batch.columns)), F8)
    size = chunk_size(n, workers)
    bounds = [(i, min(i + size, n)) for i in range(0, n, size)]
    blocks: list[np.ndarray | None] = [None] * len(bounds)
    parallel = workers > 1 and len(bounds) > 1
    # in parallel, the first chunk still runs here: it loads (or compiles) the kernel once,
    # before any fork
    for i, (start, stop) in enumerate(bounds if not parallel else bounds[:1]):
        blocks[i] = run_chunk(batch, points[start:stop])
        if progress is not None:
            progress(stop - start)
    if parallel:
        _run_rest(batch, points, bounds, blocks, workers, kind, progress)
    return np.vstack([b for b in blocks if b is not None])


def _run_rest(
    batch: Batch,
    points: Sequence[Point],
    bounds: list[tuple[int, int]],
    blocks: list[np.ndarray | None],
    workers: int,
    kind: str,
    progress: Callable[[int], None] | None,
) -> None:
    """Chunks 1… of ``bounds`` on a pool of ``kind``, into ``blocks``."""
    global _FORKED
    pool: Executor
    rest = list(enumerate(bounds))[1:]
    previous = _catch_sigterm()
    if kind == "processes":
        _FORKED = (batch, points)
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(rest)),
            mp_context=multiprocessing.get_context("fork"),
            initializer=_worker_init,
            initargs=(os.getpid(),),
        )
        pending = {pool.submit(_run_forked, lo, hi): i for i, (lo, hi) in rest}
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="contagion")
        pending = {pool.submit(run_chunk, batch, points[lo:hi]): i for i, (lo, hi) in rest}
    try:
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                blocks[i] = future.result()
                if progress is not None:
                    progress(bounds[i][1] - bounds[i][0])
    except BaseException:
        _terminate_workers(pool)  # SIGTERM, Ctrl-C or an error: no worker outlives the batch
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _FORKED = None
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _catch_sigterm() -> Any:
    """Turn SIGTERM into :class:`Terminated` while the pool runs (main thread only); the
    handler it replaces, or None when it could not be installed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        return None
