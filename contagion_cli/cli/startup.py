"""The process around a command: Python's cyclic garbage collector during start-up and at exit.

Start-up creates a few hundred thousand objects that live until the process ends (modules,
typer's command tree, the pydantic schemas of the scenario). With the default thresholds the
collector scans them ~130 times while they are built, and once more, all of them, when the
interpreter exits: ~100 ms of a 0.4 s run of a small scenario, for no garbage. So the console
script raises the thresholds while the imports run, and :func:`begin` (the command's work
starting) moves what start-up built out of the collector's sight (``gc.freeze``) and restores
them; at exit, everything still alive is frozen too, so the final collection skips it. Objects
are still freed by their reference counts; only cycles left at exit are not collected (files
are closed by their writers, stdout is flushed by the interpreter).

Only the console script (:mod:`.console`, and ``python -m contagion_cli``) does this; the app
called otherwise (tests, a library user) leaves the collector alone.
"""

from __future__ import annotations

import gc

from .. import timings

#: The collector's thresholds while the console script imports: a generation-0 pass per 100,000
#: allocations instead of 700 (memory stays bounded; cycles are rare at import).
STARTUP_THRESHOLDS = (100_000, 20, 100)

_saved: tuple[int, int, int] | None = None


def console_script() -> None:
    """Before the app is imported: fewer collections while the imports run."""
    global _saved
    if _saved is None:
        _saved = gc.get_threshold()
        gc.set_threshold(*STARTUP_THRESHOLDS)


def at_exit() -> None:
    """The command is done: the interpreter's final collection skips what is still alive (the
    process is ending, its memory goes back with it)."""
    gc.freeze()


def begin() -> None:
    """A command's own work starts (its imports done): the collector back to its thresholds,
    start-up's objects frozen out of its scans; and ``--timings`` starts counting."""
    global _saved
    if _saved is not None:
        gc.freeze()
        gc.set_threshold(*_saved)
        _saved = None
    timings.start()
