"""The command line. Each command wires load -> compile -> run -> render in a few lines; this is
the one place that maps exceptions to exit codes (README, "Exit codes")."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from .. import __version__
from ..engine import kernels
from ..errors import ExitCode, InputError, Location

app = typer.Typer(
    name="contagion",
    help="Stress-test DeFi liquidation cascades: shock prices, fire liquidations to a fixed "
    "point, and see slippage, contagion between protocols and bad debt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
err_console = Console(stderr=True, highlight=False)
# the JIT's notes (a compile starting, a cache folder that moved) are for the user's stderr
kernels.notify = lambda text: err_console.print(text, markup=False, soft_wrap=True)
#: Width of tables written to a pipe or a file.
REPORT_WIDTH = 160


def _fail(code: ExitCode, text: str) -> NoReturn:
    err_console.print(text, markup=False, soft_wrap=True)
    raise typer.Exit(int(code))


@contextmanager
def _errors() -> Iterator[None]:
    """Map exceptions to messages and exit codes; a traceback only for real bugs."""
    try:
        yield
    except InputError as exc:
        _fail(ExitCode.INVALID_INPUT, exc.render())
    except KeyboardInterrupt:
        _fail(ExitCode.INTERRUPTED, "interrupted")
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except BrokenPipeError:  # `contagion run ... | head`
        sys.stderr.close()
        raise typer.Exit(int(ExitCode.OK)) from None
    except Exception as exc:
        if os.environ.get("CONTAGION_DEBUG"):
            traceback.print_exc()
        _fail(
            ExitCode.INTERNAL,
            f"internal error: {type(exc).__name__}: {exc}\n"
            f"  this is a bug in contagion-cli {__version__}; please report it with the "
            "scenario file (set CONTAGION_DEBUG=1 for the traceback)",
        )


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


# --- shared options --------------------------------------------------------------------------
ScenarioPath = Annotated[Path, typer.Argument(help="Scenario file (YAML).", show_default=False)]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a scenario value, e.g. protocols.aave.collateral.ETH.liquidation_threshold"
        "=0.8 (repeatable; validated like the file).",
        show_default=False,
    ),
]
ShockOption = Annotated[
    list[str] | None,
    typer.Option(
        "--shock",
        help="Replace the shock path with one step: ASSET=RETURN, e.g. ETH=-0.35 or ETH=-35% "
        "(repeatable for several assets).",
        show_default=False,
    ),
]
LiquidityOption = Annotated[
    list[str] | None,
    typer.Option(
        "--liquidity",
        help="With --shock: scale an asset's market liquidity in that step, e.g. ETH=0.5.",
        show_default=False,
    ),
]


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError.single(f"cannot write: {exc.strerror}", Location(str(output))) from None
    err_console.print(f"wrote {output}", markup=False)


@app.command()
def run(
    scenario: ScenarioPath,
    format: Annotated[
        str,
        typer.Option("--format", "-f", help="Output format: table, json, csv or markdown."),
    ] = "table",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the report to this file instead of stdout."),
    ] = None,
    shock: ShockOption = None,
    liquidity: LiquidityOption = None,
    set_: SetOption = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when a step did not converge.")
    ] = False,
    trace: Annotated[
        bool,
        typer.Option(
            "--trace",
            help="Add a round-by-round table: prices, net units sold, and per protocol its "
            "liquidations and flows (JSON 'trace', CSV section 'trace', Markdown too).",
        ),
    ] = False,
    graph: Annotated[
        Path | None,
        typer.Option(
            "--graph",
            help="Write the contagion graph, format by extension: Graphviz DOT (.dot, .gv), "
            "Mermaid (.mmd, .mermaid) or Markdown with a Mermaid block (.md).",
        ),
    ] = None,
    entities: Annotated[
        bool,
        typer.Option(
            "--entities",
            help="List the largest entities (accounts across protocols) by debt, with "
            "collateral, leverage and losses (JSON 'entities', CSV section 'entity', Markdown "
            "too).",
        ),
    ] = False,
    top: Annotated[
        int,
        typer.Option("--top", min=1, max=100_000, help="How many entities --entities lists."),
    ] = 20,
) -> None:
    """Run a scenario: the cascade to its fixed point, then the report."""
    from ..compile.compiler import compile_scenario
    from ..engine.run import run as run_scenario
    from ..gates.expected import add_to_report, compare, renderable
    from ..load.scenario import load_scenario
    from ..render.graph import to_dot, to_mermaid
    from ..render.report import OutputFormat, fit_width, render_text, run_report

    with _errors():
        fmt = _choice(format, OutputFormat, "--format")
        graph_writer = _graph_writer(graph, to_dot, to_mermaid) if graph is not None else None
        _writable(output, "--output")
        _writable(graph, "--graph")
        model = load_scenario(scenario, set_ or (), shock or (), liquidity or ())
        result = run_scenario(compile_scenario(model), trace=trace, entities=top if entities else 0)
        # the documented outcome, if the scenario carries one: information, never an exit code
        verdicts = compare(model.expected, result, modified=bool(set_ or shock or liquidity))
        if fmt is OutputFormat.table and output is None:
            # a pipe or file gets a wide, colourless table; a terminal its own width and colours,
            # widened where a table would otherwise cut its numbers
            report = run_report(result)
            width = fit_width(report, None if sys.stdout.isatty() else REPORT_WIDTH)
            console = Console(highlight=False, width=width)
            console.print(report)
            if verdicts:
                console.print(renderable(verdicts), end="", soft_wrap=True)
        else:
            text = render_text(result, fmt, REPORT_WIDTH)
            _write(add_to_report(text, fmt.value, verdicts), output)
        if graph_writer is not None:
            _write(graph_writer(result), graph)
        if not result.converged:
            not_converged = [s.step for s in result.steps if not s.converged]
            err_console.print(
                f"warning: not converged in step(s) {not_converged} after "
                f"{model.settings.max_rounds} rounds (settings.max_rounds)",
                markup=False,
            )
            if strict:
                raise typer.Exit(int(ExitCode.GATE_FAILED))


def _writable(path: Path | None, option: str) -> None:
    """Refuse (exit 2) a file that cannot be written, before the run: its folder must exist and
    be writable, and the path must not be a folder. A typo in --output then costs nothing
    instead of the whole sweep."""
    if path is None:
        return
    import os

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError.single(
            f"cannot write {str(path)!r}: it is a folder", Location(option), hint="give a file name"
        )
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError.single(
            f"cannot write {str(path)!r}: the folder {str(folder)!r} {what}",
            Location(option),
            hint="create the folder first, or fix the path",
        )
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError.single(
            f"cannot write {str(path)!r}: permission denied",
            Location(option),
            hint="write to a folder you can write to",
        )


def _choice(value: str, enum: type, option: str):  # type: ignore[no-untyped-def]
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise InputError.single(
            f"unknown value {value!r}", Location(option), hint=f"expected one of: {choices}"
        ) from None


def _graph_writer(path: Path, to_dot: Callable, to_mermaid: Callable) -> Callable:
    """The graph renderer for a file name: DOT, bare Mermaid, or Mermaid in a fenced block
    (a .md file renders as a diagram on GitHub only inside ```mermaid)."""
    suffix = path.suffix.lower()
    if suffix in (".dot", ".gv"):
        return to_dot
    if suffix in (".mmd", ".mermaid"):
        return to_mermaid
    if suffix == ".md":
        return lambda result: f"```mermaid\n{to_mermaid(result)}```\n"
    raise InputError.single(
        f"cannot tell the graph format from {path.name!r}",
        Location("--graph"),
        hint="use .dot or .gv for Graphviz, .mmd or .mermaid for Mermaid, .md for Markdown",
    )


@app.command()
def validate(
    scenario: ScenarioPath,
    set_: SetOption = None,
) -> None:
    """Check a scenario file without running it (exit 0 valid, 2 invalid)."""
    from ..load.scenario import load_scenario

    with _errors():
        model = load_scenario(scenario, set_ or ())
        n_positions = sum(len(p.positions) for p in model.protocols.values())
        err_console.print(
            f"ok: {scenario}: {len(model.assets)} assets, {len(model.protocols)} protocols, "
            f"{n_positions:,} positions, {len(model.shocks)} shock steps",
            markup=False,
        )


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema to this file.")
    ] = None,
) -> None:
    """Print the JSON Schema of scenario files (for editor completion and validation)."""
    from ..schema.models import json_schema

    with _errors():
        _write(json.dumps(json_schema(), indent=2) + "\n", output)


from .analysis import register as _register_analysis  # noqa: E402
from .generate import register as _register_generate  # noqa: E402

_register_analysis(app)
_register_generate(app)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))
