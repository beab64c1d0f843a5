"""Seconds per phase of a command, for ``--timings``: where a run's time goes.

The pipeline marks its phases with :func:`phase` (load, validate, compile, jit, kernel, report;
a batch's runs); a phase inside another pauses the outer one, so each second counts once, under
the innermost phase, and the lines add up to the total. Recording costs two clock reads a phase
and is always on; the command line prints the totals when asked (:func:`lines`). Only the
thread that started the command records: the threads of a batch runner would interleave their
phases on one stack.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from . import IMPORTED

#: The phases in the order of the pipeline, each with what it covers (the lines' order).
PHASES = {
    "start": "imports and the command line, before the command's work",
    "load": "the scenario file, overrides, positions files",
    "validate": "the schema and the cross-checks",
    "compile": "the scenario as arrays",
    "jit": "numba: imported, the kernel loaded from its cache (or compiled)",
    "kernel": "the cascade",
    "runs": "a batch's runs, all of them (workers included)",
    "report": "results, the report written",
    "other": "in no phase above: checks of the options, messages",
    "total": "since the package was imported",
}

_totals: dict[str, float] = {}
_stack: list[list] = []  # [name, when it last resumed]
_owner: int | None = None
_began: float | None = None
_sealed = False  # inside a phase that takes its inner phases' time as its own


def start() -> None:
    """Start recording for this thread's command (forgets an earlier one's phases)."""
    global _owner, _began, _sealed
    _totals.clear()
    _stack.clear()
    _sealed = False
    _owner = threading.get_ident()
    _began = time.perf_counter()
    _totals["start"] = _began - IMPORTED


@contextmanager
def phase(name: str, whole: bool = False) -> Iterator[None]:
    """Count the time of the block under ``name`` (an enclosing phase pauses meanwhile).
    ``whole``: the phases inside it count as this one (a batch's runs are "runs" whether its
    points run here, and would record kernel and report, or in worker processes, which do
    not)."""
    global _sealed
    if threading.get_ident() != _owner or _sealed:
        yield
        return
    now = time.perf_counter()
    if _stack:
        outer = _stack[-1]
        _totals[outer[0]] = _totals.get(outer[0], 0.0) + now - outer[1]
    _stack.append([name, now])
    _sealed = whole
    try:
        yield
    finally:
        _sealed = False
        end = time.perf_counter()
        inner = _stack.pop()
        _totals[inner[0]] = _totals.get(inner[0], 0.0) + end - inner[1]
        if _stack:
            _stack[-1][1] = end


def seconds() -> dict[str, float]:
    """The phases seen since :func:`start`, in the pipeline's order; ``other`` for the time in
    no phase (when there is a millisecond of it), then ``total``."""
    found = {name: _totals[name] for name in PHASES if name in _totals}
    found.update({name: t for name, t in _totals.items() if name not in found})
    if _began is None:
        return found
    total = time.perf_counter() - IMPORTED
    other = total - sum(found.values())
    if other >= 0.001:
        found["other"] = other
    found["total"] = total
    return found


def lines() -> list[str]:
    """One aligned line per phase: ``time  load       0.004 s  the scenario file, ...``."""
    found = seconds()
    width = max(map(len, found), default=0)
    return [
        f"time  {name:<{width}}  {t:7.3f} s  {PHASES.get(name, '')}".rstrip()
        for name, t in found.items()
    ]
