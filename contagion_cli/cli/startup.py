"""The process around a command: Python's cyclic garbage collector during start-up and at exit,
and the C allocator's thresholds (:mod:`..heap`: a run's freed arrays stay for the next run).

Start-up creates a few hundred thousand objects that live until the process ends (modules,
typer's command tree, the pydantic schemas of the scenario). With the default thresholds the
collector scans them ~130 times while they are built, and once more, all of them, when the
interpreter exits: ~100 ms of a 0.4 s run of a small scenario, for no garbage. So the console
script raises the thresholds while the imports run, and :func:`begin` (the command's work
starting) moves what start-up built out of the collector's sight (``gc.freeze``) and restores
them; at exit, everything still alive is frozen too, so the final collection skips it. Objects
are still freed by their reference counts; only cycles left at exit are not collected (files
are closed by their writers, stdout is flushed by the interpreter).

When the command is done, :func:`leave` ends the process without the interpreter's teardown:
after a run of the compiled kernel, deallocating numba's objects and its JIT one by one took
0.1-0.2 s, a tenth of a warm run of 10^6 positions and half of what the JIT adds to a small
one. The exit handlers still run and the output is flushed first.

Only the console script (:mod:`.console`, and ``python -m contagion_cli``) does this; the app
called otherwise (tests, a library user) leaves the collector, the allocator and the
interpreter alone.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import threading

from .. import heap, timings

#: The collector's thresholds while the console script imports: a generation-0 pass per 100,000
#: allocations instead of 700 (memory stays bounded; cycles are rare at import).
STARTUP_THRESHOLDS = (100_000, 20, 100)

_saved: tuple[int, int, int] | None = None


def console_script() -> None:
    """Before the app is imported: fewer collections while the imports run; the allocator's
    thresholds set (:mod:`..heap`: a run's freed arrays stay for the next run)."""
    global _saved
    heap.set_thresholds()
    if _saved is None:
        _saved = gc.get_threshold()
        gc.set_threshold(*STARTUP_THRESHOLDS)


def at_exit() -> None:
    """The command is done: the interpreter's final collection skips what is still alive (the
    process is ending, its memory goes back with it)."""
    gc.freeze()


def leave(code: object) -> None:
    """End the process with exit status ``code`` (a ``SystemExit``'s), skipping the
    interpreter's teardown: the ``atexit`` handlers run (temporary folders, weak finalizers),
    stdout and stderr are flushed, then ``os._exit``. Returns instead, for the caller to exit
    the usual way, whenever skipping the teardown could lose something: another thread still
    running (a worker pool's), an exit message rather than a number, a stream that cannot be
    flushed (a closed pipe: the usual exit reports it)."""
    if code is None:
        code = 0
    if not isinstance(code, int) or threading.active_count() > 1:
        return
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython and PyPy
    if run_exit_handlers is None:
        return
    run_exit_handlers()  # they run once: the usual exit, if it follows, finds none left
    try:
        for stream in {id(s): s for s in (sys.stdout, sys.stderr, sys.__stdout__)}.values():
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def begin() -> None:
    """A command's own work starts (its imports done): the collector back to its thresholds,
    start-up's objects frozen out of its scans; and ``--timings`` starts counting."""
    global _saved
    if _saved is not None:
        gc.freeze()
        gc.set_threshold(*_saved)
        _saved = None
    timings.start()
