"""One call of the kernel on fresh copies of a compiled scenario's state: the raw arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from ..compile.compiler import Compiled, State
from ..compile.layout import (
    FEATURE_CDP,
    FEATURE_LEVERAGED,
    FEATURE_OPTIONS,
    FEATURE_PERP,
    STATUS_OVER_BUDGET,
    Assets,
    Lending,
    Options,
    Outputs,
    OutputView,
    Params,
    Path,
    Triggers,
    empty_outputs,
    fresh_triggers,
    new_scratch,
    new_triggers,
    with_venues,
)
from . import kernels
from .kernels import AUTO_PYTHON_BUDGET, Executor, default_executor

#: Rounds recorded by ``--trace`` at most (a trace row is small; a runaway cascade is not).
DEFAULT_TRACE_CAP = 10_000


class RawRun(NamedTuple):
    """The kernel's outputs, its status, and the state arrays as the run left them."""

    outputs: OutputView
    status: int
    state: State

    @property
    def assets(self) -> Assets:
        return self.state.assets

    @property
    def lending(self) -> Lending:
        return self.state.lending


def run_raw(
    compiled: Compiled,
    trace: bool = False,
    executor: Executor | None = None,
    index: bool = True,
) -> RawRun:
    """Run the kernel on fresh copies of the state; raw arrays, no result objects.
    ``index=False`` visits every position every round (the straightforward path the index must
    reproduce exactly)."""
    executor = executor or default_executor()
    if executor is Executor.auto and _book_size(compiled) > AUTO_PYTHON_BUDGET:
        # the passes over the whole book before the first budget check (the shortfall before
        # the shock, the index's first rebuild) would alone cost more than numba's start-up
        executor = Executor.jit
    if executor is Executor.auto:
        raw = _run_once(compiled, trace, kernels.python_kernel(), AUTO_PYTHON_BUDGET, index)
        if raw.status != STATUS_OVER_BUDGET:
            return raw
        executor = Executor.jit
    if executor is Executor.jit:
        kernel = kernels.jit_kernel(compiled.features)
    else:
        kernel = kernels.python_kernel()
    return _run_once(compiled, trace, kernel, 0, index)


def _position_counts(st: State) -> tuple[int, int, int, int]:
    """Positions of the lending, cdp, perp and leveraged books."""
    return (
        len(st.lending.protocol),
        len(st.cdp.protocol),
        len(st.perp.protocol),
        len(st.leveraged.protocol),
    )


def _book_size(compiled: Compiled) -> int:
    """Positions of every type in the book (a lower bound on one round's work)."""
    return sum(_position_counts(compiled.state)) + len(compiled.options.protocol)


def _run_once(
    compiled: Compiled, trace: bool, kernel: Callable, budget: int, index: bool
) -> RawRun:
    st = compiled.fresh_state()
    cap = min(DEFAULT_TRACE_CAP, compiled.n_steps * compiled.params.max_rounds) if trace else 0
    params = compiled.params._replace(
        trace_cap=int(cap), work_budget=int(budget), use_index=int(index)
    )
    out = empty_outputs(
        compiled.n_protocols, compiled.n_assets, compiled.n_steps, cap, compiled.n_venues
    )
    status = call_kernel(kernel, compiled, st, compiled.path, params, out)
    return RawRun(OutputView(out), int(status), st)


def call_kernel(
    kernel: Callable, compiled: Compiled, st: State, path: Path, params: Params, out: Outputs
) -> int:
    """One call of ``run_cascade`` on state ``st`` (mutated) with fresh working arrays."""
    n_v = compiled.n_venues
    scratch = new_scratch(
        compiled.protocols, compiled.n_assets, n_v, _position_counts(st), path.returns.shape[0]
    )
    path = with_venues(path, n_v)
    if params.use_index == 1:
        triggers = _triggers(kernel, compiled, st)
    else:  # the full scan visits every position (the kernel reads no index)
        triggers = new_triggers(len(st.lending.protocol), compiled.n_protocols, compiled.n_assets)
    status = kernels.call(
        kernel,
        st.assets,
        st.venues,
        st.book,
        st.lending,
        *_books(kernel, st, compiled.options),
        compiled.protocols,
        st.pstate,
        scratch,
        triggers,
        path,
        params,
        out,
    )
    kernels.after_call(kernel)
    return status


def _books(kernel: Callable, st: State, options: Options) -> tuple[object, ...]:
    """The cdp, perp, leveraged and options books as ``kernel`` takes them: None for a type its
    specialised copy was built without. It never reads that book, and its entry point would
    otherwise unbox every array of it (7 to 11 a book) in code compiled for nothing: a quarter
    of the lending kernel's wrapper, about 1 s of its cold compile (docs/performance.md)."""
    has = kernels.features_of(kernel)
    return (
        st.cdp if has & FEATURE_CDP else None,
        st.perp if has & FEATURE_PERP else None,
        st.leveraged if has & FEATURE_LEVERAGED else None,
        options if has & FEATURE_OPTIONS else None,
    )


def _triggers(kernel: Callable, compiled: Compiled, st: State) -> Triggers:
    """The run's copy of the trigger index of the compiled scenario's start state: built once
    per compiled scenario (the build is a pass over the book; a sweep runs one book a thousand
    times), by the builder of the kernel's own copy; each run changes its copy."""
    lending = compiled.state.lending
    build = kernels.triggers_builder(kernel)
    if build is None or st.lending.protocol is not lending.protocol:
        # a kernel without a known builder, or another book: it builds its own
        return new_triggers(len(lending.protocol), compiled.n_protocols, compiled.n_assets)
    cached = compiled.derived.get("triggers")
    if cached is None or cached[0] is not lending or cached[1] is not compiled.protocols:
        empty = new_triggers(len(lending.protocol), compiled.n_protocols, compiled.n_assets)
        kernels.call(build, lending, compiled.protocols, empty)
        cached = (lending, compiled.protocols, empty)
        compiled.derived["triggers"] = cached
    return fresh_triggers(cached[2])
