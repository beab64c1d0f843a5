"""Run a compiled scenario: the kernel to its fixed point, then the results (with the entity
view and the coordination comparison when asked for)."""

from __future__ import annotations

import dataclasses

from ..compile.compiler import Compiled
from ..results.run import RunResult
from ..timings import phase
from .collect import collect
from .coordination import compare
from .entities import entity_footprints
from .kernels import Executor
from .raw import run_raw


def run(
    compiled: Compiled,
    trace: bool = False,
    executor: Executor | None = None,
    entities: int = 0,
) -> RunResult:
    """Run the scenario once on fresh copies of its state; the compiled arrays stay untouched.
    ``entities``: how many of the largest entities to report (0: none)."""
    with phase("kernel"):
        raw = run_raw(compiled, trace, executor)
    with phase("report"):
        result = collect(compiled, raw.outputs, raw.status, raw.state)
        if entities > 0:
            found = entity_footprints(compiled, raw.state, raw.outputs.final_price, entities)
            result = dataclasses.replace(result, entities=found)
    if compiled.coordination is not None:
        with phase("kernel"):  # the same scenario once more, each protocol acting alone
            result = dataclasses.replace(result, coordination=compare(compiled, raw, executor))
    return result
