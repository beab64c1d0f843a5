"""The ``contagion`` console script (and ``python -m contagion_cli``): the app, in a process
whose garbage collector is set for a short life (:mod:`.startup`) before the app is imported,
and which ends without the interpreter's teardown once the command is done."""

from __future__ import annotations

from . import startup


def main() -> None:
    startup.console_script()
    try:
        from .app import main as app_main

        app_main()
    finally:
        startup.at_exit()


def script() -> None:
    """The console script's entry point: :func:`main`, then the process ends at once
    (:func:`.startup.leave`). ``main`` alone ends with ``SystemExit``, for callers that go on."""
    try:
        main()
    except SystemExit as exc:
        startup.leave(exc.code)
        raise
    startup.leave(0)
