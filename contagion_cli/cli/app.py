"""The ``contagion`` command line: the app and its commands. Each command is a module of this
package that wires load -> compile -> run -> render in a few lines; guard.py maps what goes
wrong to exit codes (README, "Exit codes")."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .. import __version__
from ..engine import kernels
from ..errors import ExitCode
from . import check, compare, critical, generate, run, simulate, sweep
from .output import err_console, say

app = typer.Typer(
    name="contagion",
    help="Stress-test DeFi liquidation cascades: shock prices, fire liquidations to a fixed "
    "point, and see slippage, contagion between protocols and bad debt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
# the JIT's notes (a compile starting, a cache folder that moved) are for the user's stderr
kernels.notify = say


def _version(value: bool) -> None:
    if value:
        typer.echo(f"contagion-cli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """contagion: stress tests of DeFi liquidation cascades."""


for command in (
    run.run,
    run.validate,
    run.schema,
    sweep.sweep,
    simulate.simulate,
    critical.critical,
    critical.clusters,
    check.check,
    check.diff,
    compare.compare,
    generate.generate,
):
    app.command()(command)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
