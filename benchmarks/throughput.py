"""Kernel throughput per book size: position-rounds per second, with the index and without,
and the baselines on the same book."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from contagion_cli.compile.compiler import Compiled

from . import books
from .comparisons import Comparison
from .comparisons import measure as compare
from .timing import KernelRun, kernel


@dataclass(frozen=True)
class SizeRun:
    positions: int
    scenario: Path  # the scenario file (positions in Parquet or CSV files beside it)
    compile_s: float  # load, validate and compile (not part of the throughput)
    comparison: Comparison

    @property
    def index(self) -> KernelRun:
        return self.comparison.index

    @property
    def full(self) -> KernelRun:
        return self.comparison.full

    def rate(self, run: KernelRun) -> float:
        """Position-rounds per second: positions x rounds run / kernel time. With the index
        this is the rate of the work a full scan would have done (effective throughput)."""
        return self.positions * run.total_rounds / run.timed.seconds


def measure(
    compiled: Compiled,
    scenario: Path,
    compile_s: float,
    with_numpy: bool = True,
    budget_s: float = 2.0,
) -> SizeRun:
    """Time the kernel both ways (and the numpy baseline) on a compiled book. The trigger index
    is built by a first, untimed run: it is built once per compiled scenario and shared by its
    runs (as the best of several runs leaves it out at the smaller sizes, where several fit)."""
    if budget_s <= 0.0:
        kernel(compiled, index=True, budget_s=0.0)
    index = kernel(compiled, index=True, budget_s=budget_s)
    full = kernel(compiled, index=False, budget_s=budget_s)
    comparison = compare(compiled, index, full, with_numpy=with_numpy, budget_s=budget_s)
    return SizeRun(books.positions(compiled), scenario, compile_s, comparison)
