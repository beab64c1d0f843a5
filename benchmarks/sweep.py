"""A 1,000-point shock sweep on one book, through the machinery of ``contagion sweep`` (load,
compile, every point on its own copy of the state, on all cores, one row of metrics each)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from contagion_cli.batch import default_workers
from contagion_cli.sweep import run_sweep

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
