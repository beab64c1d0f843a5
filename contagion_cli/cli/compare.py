"""``contagion compare``: several designs of one market side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import timings
from ..errors import one_line
from . import options
from .guard import guarded
from .options import (
    AllowExtremeOpt,
    AllowOutsideOpt,
    FixedLiquidityOpt,
    FixedShockOpt,
    FormatOpt,
    OutputOpt,
    TimingsOpt,
    WideOpt,
)
from .output import choose_format, emit, print_timings, say
from .startup import begin


def compare(
    scenarios: Annotated[
        list[Path],
        typer.Argument(
            help="Scenario files: the designs to compare.",
            show_default=False,
            metavar="SCENARIO",
        ),
    ],
    shock: FixedShockOpt = None,
    liquidity: FixedLiquidityOpt = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUE",
            help="Override a value in every file: PATH=VALUE (repeatable).",
            show_default=False,
        ),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option(
            "--label",
            metavar="LABEL",
            help="Name a design (one per file, in order; default: each scenario's name).",
            show_default=False,
        ),
    ] = None,
    allow_extreme: AllowExtremeOpt = False,
    format: FormatOpt = None,
    output: OutputOpt = None,
    allow_outside: AllowOutsideOpt = None,
    wide: WideOpt = False,
    timings_: TimingsOpt = False,
) -> None:
    """Run several scenario files and show the designs side by side: a column per file
    (formats: table, markdown, json, csv).

    Example: contagion compare scenarios/venues/*.yaml --shock ETH=-12%
    """
    from ..batch.compare import compare
    from ..render import commands

    begin()
    with guarded():
        fmt = choose_format(format, output, commands.COMPARE)
        options.writable(output, "--output")
        sandbox = options.sandbox(allow_outside)
        sets = [*(set_ or ()), *options.extreme_sets(allow_extreme)]
        result = compare(scenarios, label or (), sets, shock or (), liquidity or (), sandbox)
        with timings.phase("report"):
            emit(commands.COMPARE, result, fmt, output, wide)
        if not result.same_shocks:
            say("warning: the files' shock paths differ; use --shock to run them on one")
        for d in result.designs:
            if not d.result.converged:
                say(f"warning: {one_line(d.label)}: not converged (settings.max_rounds)")
        print_timings(timings_)
