"""The ``contagion`` command line: the app and its commands. Each command is a module of this
package that wires load -> compile -> run -> render in a few lines; guard.py maps what goes
wrong to exit codes (README, "Exit codes")."""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

from .. import __version__
from ..engine import kernels
from ..errors import ExitCode
from . import check, compare, critical, generate, run, simulate, sweep
from .guard import click_errors, usage_message
from .output import err_console, say

#: click >= 8.2 raises this after printing the help of a bare ``contagion`` (older: nothing).
_NO_ARGS = getattr(click_errors, "NoArgsIsHelpError", ())


class _Group(TyperGroup):
    """The app's command group: click's usage errors (an unknown option, a missing argument)
    are printed like the app's own errors (``error:`` / ``hint:``), not in a rich panel."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except _NO_ARGS as exc:
            sys.exit(exc.exit_code)  # the help is printed: nothing else to say
        except click_errors.ClickException as exc:
            say(usage_message(exc))
            sys.exit(exc.exit_code)
        except typer.Abort:
            say("interrupted")
            sys.exit(int(ExitCode.INTERRUPTED))
        sys.exit(code if isinstance(code, int) else 0)


def _plain_types() -> None:
    """typer's help prints a value type beside every parameter: ``<bool>`` for a flag too, which
    reads as if ``--wide`` took a value, and ``<list[Path]>`` for a repeated argument. A flag
    shows none, a list its item (``<path>...``)."""
    for cls in (TyperOption, TyperArgument):
        show = getattr(cls, "display_type_rich", None)
        if show is None or getattr(show, "_plain", False):
            continue

        def display_type_rich(self, ctx, _show=show):  # type: ignore[no-untyped-def]
            if getattr(self, "is_flag", False) and self.metavar is None:
                return None
            text = _show(self, ctx)
            if isinstance(text, str):
                text = re.sub(r"<list\[(\w+)\]>", lambda m: f"<{m.group(1).lower()}>...", text)
            return text

        display_type_rich._plain = True  # type: ignore[attr-defined]
        cls.display_type_rich = display_type_rich  # type: ignore[method-assign]


_plain_types()


def _paragraphs(doc: str) -> str:
    """A docstring as help: its paragraphs, each on one line for rich to wrap at the terminal's
    width (rich help keeps the docstring's own line breaks, which break the command list)."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


app = typer.Typer(
    name="contagion",
    cls=_Group,
    help="Stress-test DeFi liquidation cascades: shock prices, fire liquidations to a fixed "
    "point, and see slippage, contagion between protocols and bad debt.",
    no_args_is_help=True,
    add_completion=True,
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
    app.command(help=_paragraphs(command.__doc__ or ""))(command)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
