"""A 1,000-point shock sweep on one book, through the machinery of ``contagion sweep`` (load,
compile, every point on its own copy of the state, on all cores, one row of metrics each)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from contagion_cli.batch.pool import default_workers
from contagion_cli.batch.sweep import run_sweep

#: The pools' sweep: a small book, so that reading each point's results (Python, under the
#: GIL) weighs as much as the kernel - what threads could not spread over cores.
POOL_AXIS = "ETH=-0.0002:-0.8:0.0002"

#: ETH from -0.05 % to -99.95 % in steps of 0.1 %: 1,000 points.
AXIS = "ETH=-0.0005:-0.9995:0.001"


@dataclass(frozen=True)
class Sweep:
    positions: int
    points: int
    workers: int
    wall_s: float  # load and compile included, as the command would spend them
    mean_rounds: float  # rounds per point (quiet ones included)
    mean_liquidations: float  # liquidations per point


def measure(scenario: Path, positions: int) -> Sweep:
    start = time.perf_counter()
    result = run_sweep(scenario, shocks=[AXIS])
    wall = time.perf_counter() - start
    return Sweep(
        positions=positions,
        points=len(result),
        workers=default_workers(),
        wall_s=wall,
        mean_rounds=float(result.column("total_rounds").mean()),
        mean_liquidations=float(result.column("liquidations").mean()),
    )


@dataclass(frozen=True)
class PoolSweep:
    """The same sweep on one worker, on worker processes and on threads (median of 3 each)."""

    points: int
    workers: int
    one_s: float
    processes_s: float
    threads_s: float


def measure_pools(scenario: Path) -> PoolSweep:
    run_sweep(scenario, shocks=["ETH=-0.1,-0.2"], workers=1)  # load the kernel first

    def timed(workers: int, pool: str) -> tuple[float, int]:
        os.environ["CONTAGION_POOL"] = pool
        try:
            walls = []
            for _ in range(3):
                start = time.perf_counter()
                result = run_sweep(scenario, shocks=[POOL_AXIS], workers=workers)
                walls.append(time.perf_counter() - start)
        finally:
            os.environ.pop("CONTAGION_POOL", None)
        return sorted(walls)[1], len(result)

    workers = default_workers()
    one, points = timed(1, "processes")
    return PoolSweep(
        points=points,
        workers=workers,
        one_s=one,
        processes_s=timed(workers, "processes")[0],
        threads_s=timed(workers, "threads")[0],
    )
