"""A long cascade on a large book against one pass over the same book (issue 6 item 4): with
the position index a round costs what the positions near the edge cost, not the book."""

from __future__ import annotations

from dataclasses import dataclass

from contagion_cli.compile.compiler import Compiled

from . import books
from .timing import KernelRun, kernel


@dataclass(frozen=True)
class Cascade:
    positions: int
    shock: float
    index: KernelRun
    full: KernelRun
    one_pass: KernelRun  # no shock, one round, every position checked once

    def passes(self, run: KernelRun) -> float:
        """The run's time in units of one pass over the book."""
        return run.timed.seconds / self.one_pass.timed.seconds


def measure(compiled: Compiled, index: KernelRun, full: KernelRun, budget_s: float) -> Cascade:
    """``index`` and ``full``: the kernel's runs of ``compiled`` (measured for the throughput)."""
    one = kernel(books.one_pass(compiled), index=False, budget_s=budget_s)
    return Cascade(books.positions(compiled), books.SHOCK, index, full, one)
