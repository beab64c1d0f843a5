"""``contagion critical`` and ``contagion clusters``: where along one asset's price the trouble
starts, and where the liquidation walls are."""

from __future__ import annotations

from typing import Annotated

import typer

from .. import timings
from ..errors import ExitCode
from . import options
from .guard import guarded
from .options import (
    AllowExtremeOpt,
    AllowOutsideOpt,
    FixedLiquidityOpt,
    FixedShockOpt,
    FormatOpt,
    OutputOpt,
    PlotOpt,
    ScenarioArg,
    SetOpt,
    TimingsOpt,
    WideOpt,
    WorkersOpt,
)
from .output import choose_format, emit, print_timings, say
from .startup import begin


def critical(
    scenario: ScenarioArg,
    asset: Annotated[str, typer.Option("--asset", help="The asset to shock.")],
    metric: Annotated[
        str, typer.Option("--metric", help="The metric to watch (a name of the JSON report).")
    ] = "bad_debt_usd",
    above: Annotated[
        float | None, typer.Option("--above", help="Find where the metric first exceeds this.")
    ] = None,
    below: Annotated[
        float | None, typer.Option("--below", help="Find where the metric first falls below this.")
    ] = None,
    range_from: Annotated[
        float, typer.Option("--from", help="Start of the shock range (a return).")
    ] = 0.0,
    range_to: Annotated[
        float, typer.Option("--to", help="End of the shock range (0.5 searches upward).")
    ] = -0.99,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Bisection stops at this width (a return).")
    ] = 1e-4,
    scan: Annotated[
        int, typer.Option("--scan", help="Points of the monotonicity scan before bisecting.")
    ] = 100,
    refine: Annotated[
        int,
        typer.Option(
            "--refine",
            help="When the metric is not monotone: points the rescans of [--from, answer] at "
            "10x, 100x, ... the scan's density may run in all (0: no rescans).",
        ),
    ] = 10_000,  # critical.REFINE_POINTS (not imported: the CLI starts without the engine)
    shock: FixedShockOpt = None,
    liquidity: FixedLiquidityOpt = None,
    set_: SetOpt = None,
    allow_extreme: AllowExtremeOpt = False,
    format: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
    plot: PlotOpt = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when the metric is not monotone.")
    ] = False,
    workers: WorkersOpt = None,
    allow_outside: AllowOutsideOpt = None,
    timings_: TimingsOpt = False,
) -> None:
    """Find the smallest shock to one asset at which a metric crosses a threshold (formats:
    table, json).

    Example: contagion critical scenarios/quickstart.yaml --asset ETH --above 0
    """
    from ..batch.critical import find_critical, threshold_of
    from ..batch.variants import load_compiled
    from ..render import commands
    from ..render.analysis import monotone_warning

    begin()
    with guarded():
        fmt = choose_format(format, output, commands.CRITICAL)
        threshold, direction = threshold_of(above, below)
        options.check(outputs={"--output": output}, plot_file=plot, worker_count=workers)
        sets = [*(set_ or ()), *options.extreme_sets(allow_extreme)]
        compiled = load_compiled(scenario, sets, options.sandbox(allow_outside))
        with timings.phase("runs", whole=True):
            result = find_critical(
                compiled, asset, metric, threshold, direction, range_from, range_to, tolerance,
                scan, shock or (), liquidity or (), workers, refine=refine,
            )  # fmt: skip
        with timings.phase("report"):
            emit(commands.CRITICAL, result, fmt, output, wide)
            warning = monotone_warning(result)
            if warning:
                say(warning)
            if plot is not None:
                from ..render.plots import plot_critical

                plot_critical(result, plot)
                say(f"wrote {plot}")
        print_timings(timings_)
        if strict and not result.monotone:
            raise typer.Exit(int(ExitCode.GATE_FAILED))


def clusters(
    scenario: ScenarioArg,
    asset: Annotated[str, typer.Option("--asset", help="The asset whose price levels to walk.")],
    levels: Annotated[
        str,
        typer.Option("--levels", help="Shocks of the asset: values and/or ranges START:STOP:STEP."),
    ] = "-0.02:-0.80:0.02",
    set_: SetOpt = None,
    allow_extreme: AllowExtremeOpt = False,
    format: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
    plot: PlotOpt = None,
    workers: WorkersOpt = None,
    allow_outside: AllowOutsideOpt = None,
    timings_: TimingsOpt = False,
) -> None:
    """Liquidations each price level triggers, with and without the cascade: the walls
    (formats: table, csv, json).

    Example: contagion clusters scenarios/quickstart.yaml --asset ETH --plot walls.png
    """
    from ..batch.clusters import liquidation_clusters
    from ..batch.variants import load_compiled
    from ..render import commands

    begin()
    with guarded():
        fmt = choose_format(format, output, commands.CLUSTERS)
        options.check(outputs={"--output": output}, plot_file=plot, worker_count=workers)
        sets = [*(set_ or ()), *options.extreme_sets(allow_extreme)]
        compiled = load_compiled(scenario, sets, options.sandbox(allow_outside))
        with timings.phase("runs", whole=True):
            result = liquidation_clusters(compiled, asset, levels, workers)
        with timings.phase("report"):
            emit(commands.CLUSTERS, result, fmt, output, wide)
            if plot is not None:
                from ..render.plots import plot_clusters

                plot_clusters(result, plot)
                say(f"wrote {plot}")
        print_timings(timings_)
