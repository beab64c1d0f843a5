"""The kernel against the plain-Python reference and the numpy baseline, on the same compiled
scenario, in the same run; each comparison also checks that the results are the same."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from contagion_cli.compile.compiler import Compiled
from contagion_cli.compile.layout import OutputView

from . import numpy_baseline, plain_python
from .timing import KernelRun, Timed, best_of

#: The test suite's tolerance between the kernel and the reference (amounts; counts are equal).
REFERENCE_REL = 1e-9


@dataclass(frozen=True)
class Comparison:
    positions: int
    index: KernelRun  # the kernel with its position index (the default)
    full: KernelRun  # the kernel visiting every position every round
    numpy: Timed | None
    numpy_same: bool | None  # every output equal to the last bit
    reference: Timed | None
    reference_same: bool | None  # counts equal, amounts within REFERENCE_REL

    def speedup(self, other: Timed | None, run: KernelRun | None = None) -> float | None:
        """How many times faster the kernel (default: with the index) runs than ``other``."""
        if other is None:
            return None
        return other.seconds / (run or self.index).timed.seconds


def measure(
    compiled: Compiled,
    index: KernelRun,
    full: KernelRun,
    with_numpy: bool = True,
    with_reference: bool = False,
    budget_s: float = 2.0,
) -> Comparison:
    """Time the baselines on ``compiled``; ``index`` and ``full`` are the kernel's runs of the
    same compiled scenario."""
    numpy_timed = numpy_same = None
    if with_numpy:
        inputs = numpy_baseline.inputs_from(compiled)
        numpy_timed, outcome = best_of(lambda: numpy_baseline.run(inputs), budget_s)
        numpy_same = not numpy_baseline.differences(outcome, index.outputs)
    ref_timed = ref_same = None
    if with_reference:
        simulate = plain_python.load().simulate
        # one run: it takes seconds, so the clock's noise is small against it
        ref_timed, result = best_of(lambda: simulate(compiled.scenario), 0.0, 1)
        ref_same = agrees_with_reference(result, index.outputs, compiled)
    return Comparison(
        positions=int(compiled.position_counts.sum()),
        index=index,
        full=full,
        numpy=numpy_timed,
        numpy_same=numpy_same,
        reference=ref_timed,
        reference_same=ref_same,
    )


def agrees_with_reference(ref: dict[str, Any], out: OutputView, compiled: Compiled) -> bool:
    """Rounds and counts equal, amounts within the test suite's tolerance."""
    if ref["total_rounds"] != int(out.counters[2]):
        return False
    for p, name in enumerate(compiled.protocol_names):
        want = ref["protocols"][name]
        if want.liquidations != int(out.liquidations[p]):
            return False
        if want.bad_debt_positions != int(out.closed_positions[p]):
            return False
        for mine, theirs in (
            (out.repaid_usd[p], want.repaid_usd),
            (out.bad_debt_usd[p], want.bad_debt_usd),
            (out.shortfall_usd[p], want.shortfall_usd),
        ):
            if not math.isclose(float(mine), theirs, rel_tol=REFERENCE_REL, abs_tol=1e-6):
                return False
    for a, name in enumerate(compiled.asset_names):
        final = ref["assets"][name]["final_price"]
        if not math.isclose(float(out.final_price[a]), final, rel_tol=REFERENCE_REL):
            return False
    return True
