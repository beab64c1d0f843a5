"""The ``contagion`` console script (and ``python -m contagion_cli``): the app, in a process
whose garbage collector is set for a short life (:mod:`.startup`) before the app is imported."""

from __future__ import annotations

from . import startup


def main() -> None:
    startup.console_script()
    try:
        from .app import main as app_main

        app_main()
    finally:
        startup.at_exit()
