"""``contagion sweep``: a grid of shocks, liquidity multipliers and parameter values."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from .. import timings
from . import options
from .batches import progress, runner
from .guard import guarded
from .options import (
    AllowExtremeOpt,
    AllowOutsideOpt,
    ChunkSizeOpt,
    FormatOpt,
    GridLiquidityOpt,
    GridSetOpt,
    GridShockOpt,
    OutputOpt,
    PlotOpt,
    ProgressOpt,
    ScenarioArg,
    SchedulerOpt,
    TimingsOpt,
    WideOpt,
    WorkersOpt,
)
from .output import choose_format, emit, print_timings, say
from .startup import begin


def sweep(
    scenario: ScenarioArg,
    shock: GridShockOpt = None,
    liquidity: GridLiquidityOpt = None,
    set_: GridSetOpt = None,
    allow_extreme: AllowExtremeOpt = False,
    format: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
    metric: Annotated[
        str, typer.Option("--metric", help="The metric the table's bars and --plot show.")
    ] = "bad_debt_usd",
    plot: PlotOpt = None,
    workers: WorkersOpt = None,
    show_progress: ProgressOpt = None,
    scheduler: SchedulerOpt = None,
    chunk_size: ChunkSizeOpt = None,
    max_points: Annotated[
        int | None,
        typer.Option(
            "--max-points",
            help="Most points the grid may have (default 1,000,000): a larger grid is refused "
            "before anything is built, so that a mistyped step cannot start a day-long run.",
            show_default=False,
        ),
    ] = None,
    allow_outside: AllowOutsideOpt = None,
    timings_: TimingsOpt = False,
) -> None:
    """Run a grid of shocks, liquidity multipliers and parameter values: one row per point
    (formats: table, csv, json, parquet).

    Example: contagion sweep scenarios/quickstart.yaml --shock ETH=-0.05:-0.60:0.05 -o s.csv
    """
    from ..batch import grid
    from ..batch.sweep import run_sweep
    from ..render import commands

    begin()
    with guarded():
        renderer = commands.sweep(metric)
        fmt = choose_format(format, output, renderer)
        options.check(
            outputs={"--output": output}, plot_file=plot, worker_count=workers,
            points=max_points, scheduler_address=scheduler, chunk_size=chunk_size,
        )  # fmt: skip
        sandbox = options.sandbox(allow_outside)
        started = time.perf_counter()
        with (
            grid.point_limit(max_points),
            runner(scheduler, chunk_size, workers, show_progress) as cluster,
            progress(show_progress, "sweep") as (set_total, advance),
        ):
            result = run_sweep(
                scenario, shock or (), liquidity or (), set_ or (), workers, advance, set_total,
                extra_metrics=(metric,), runner=cluster, sandbox=sandbox,
                fixed_sets=options.extreme_sets(allow_extreme),
            )  # fmt: skip
        elapsed = time.perf_counter() - started
        with timings.phase("report"):
            emit(renderer, result, fmt, output, wide)
            not_converged = int((result.column("converged") < 0.5).sum())
            if not_converged:
                say(f"warning: {not_converged} of {len(result)} points did not converge "
                    "(settings.max_rounds)")  # fmt: skip
            if plot is not None:
                from ..render.plots import plot_sweep

                plot_sweep(result, plot, metric)
                say(f"wrote {plot}")
        say(f"{len(result):,} point{'s' if len(result) != 1 else ''} in {elapsed:.2f} s")
        print_timings(timings_)
