"""``contagion run``, ``validate`` and ``schema``: one scenario, its report, its file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .. import timings
from ..errors import ExitCode, InputError, Location
from . import options
from .guard import guarded
from .options import (
    AllowExtremeOpt,
    AllowOutsideOpt,
    FormatOpt,
    LiquidityOpt,
    OutputOpt,
    ScenarioArg,
    SetOpt,
    ShockOpt,
    TimingsOpt,
    WideOpt,
)
from .output import choose_format, emit, print_timings, say, write
from .startup import begin


def run(
    scenario: ScenarioArg,
    format: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
    shock: ShockOpt = None,
    liquidity: LiquidityOpt = None,
    set_: SetOpt = None,
    allow_extreme: AllowExtremeOpt = False,
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
    allow_outside: AllowOutsideOpt = None,
    timings_: TimingsOpt = False,
) -> None:
    """Run a scenario: the cascade to its fixed point, then the report (formats: table, json,
    csv, markdown).

    Example: contagion run scenarios/quickstart.yaml --shock ETH=-35% --liquidity ETH=0.5
    """
    from ..compile.compiler import compile_scenario
    from ..engine.run import run as run_scenario
    from ..gates.expected import compare
    from ..load.scenario import load_scenario, release_books
    from ..render.report import RUN, RunReport

    begin()  # what came before, the imports above too, is "start" (--timings)
    with guarded():
        fmt = choose_format(format, output, RUN)
        draw = _graph_writer(graph)
        options.writable(output, "--output")
        options.writable(graph, "--graph")
        sandbox = options.sandbox(allow_outside)
        sets = [*(set_ or ()), *options.extreme_sets(allow_extreme)]
        with timings.phase("load"):
            model = load_scenario(scenario, sets, shock or (), liquidity or (), sandbox)
        with timings.phase("compile"):
            compiled = compile_scenario(model)
            release_books(model)  # the report reads the compiled arrays, never the rows
        result = run_scenario(compiled, trace=trace, entities=top if entities else 0)
        with timings.phase("report"):
            # the documented outcome, if the scenario carries one: information, not an exit code
            verdicts = compare(model.expected, result, modified=bool(set_ or shock or liquidity))
            emit(RUN, RunReport(result, verdicts), fmt, output, wide)
            if draw is not None and graph is not None:
                write(draw(result), graph)
        print_timings(timings_)
        _not_converged([s.step for s in result.steps if not s.converged], model, strict)


def _graph_writer(path: Path | None):  # type: ignore[no-untyped-def]
    if path is None:
        return None
    from ..render.graph import graph_writer

    draw = graph_writer(path.suffix)
    if draw is None:
        raise InputError.single(
            f"cannot tell the graph format from {path.name!r}",
            Location("--graph"),
            hint="use .dot or .gv for Graphviz, .mmd or .mermaid for Mermaid, .md for Markdown",
        )
    return draw


def _not_converged(steps: list[int], model, strict: bool) -> None:  # type: ignore[no-untyped-def]
    if not steps:
        return
    say(
        f"warning: not converged in step(s) {steps} after {model.settings.max_rounds} rounds "
        "(settings.max_rounds)"
    )
    if strict:
        raise typer.Exit(int(ExitCode.GATE_FAILED))


def validate(
    scenario: Annotated[
        Path,
        typer.Argument(help="Scenario or policy file (YAML).", show_default=False),
    ],
    set_: SetOpt = None,
    allow_outside: AllowOutsideOpt = None,
    allow_extreme: AllowExtremeOpt = False,
) -> None:
    """Check a scenario file and its positions files, or a policy file, without running
    anything (exit 0 valid, 2 invalid). A file with 'gates:' is a policy.

    Example: contagion validate scenarios/quickstart.yaml
    """
    from ..errors import one_line
    from ..gates.policy import is_policy, policy_of
    from ..load.scenario import scenario_of
    from ..load.yaml import load_file

    begin()
    with guarded():
        sandbox = options.sandbox(allow_outside)
        doc = load_file(scenario, sandbox, "file")
        if is_policy(doc):
            if set_:
                raise InputError.single(
                    f"{one_line(scenario)} is a policy: --set changes scenarios",
                    Location("--set"),
                )
            policy = policy_of(doc)
            named = f" ({one_line(policy.name)})" if policy.name else ""
            count = len(policy.gates)
            say(f"ok: {one_line(scenario)}: a policy{named} of {count} gate{'s' * (count != 1)}")
            return
        sets = [*(set_ or ()), *options.extreme_sets(allow_extreme)]
        model = scenario_of(doc, scenario, sets, (), (), sandbox)
        positions = sum(
            len(p.positions) + getattr(model.positions_book(name), "n", 0)
            for name, p in model.protocols.items()
        )
        model_path = "" if isinstance(model.shocks, list) else " (a Monte Carlo model)"
        shocks = f"{len(model.shocks)} shock steps{model_path}"
        say(
            f"ok: {one_line(scenario)}: {len(model.assets)} assets, "
            f"{len(model.protocols)} protocols, {positions:,} positions, {shocks}"
        )


def schema(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the schema to this file."),
    ] = None,
    policy: Annotated[
        bool,
        typer.Option("--policy", help="The schema of policy files (contagion check) instead."),
    ] = False,
) -> None:
    """Print the JSON Schema of scenario files, or of policy files with --policy (for editor
    completion and validation).

    Example: contagion schema -o scenario.schema.json
    """
    begin()
    with guarded():
        if policy:
            from ..gates.policy import policy_json_schema

            document = policy_json_schema()
        else:
            from ..schema.models import json_schema

            document = json_schema()
        write(json.dumps(document, indent=2) + "\n", output)
