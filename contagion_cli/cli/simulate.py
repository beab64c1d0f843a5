"""``contagion simulate``: Monte Carlo paths through the cascade, and the risk they give."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from .. import timings
from ..errors import InputError, Location
from . import options
from .batches import progress, runner
from .guard import guarded
from .options import (
    AllowOutsideOpt,
    ChunkSizeOpt,
    FormatOpt,
    OutputOpt,
    PlotOpt,
    ProgressOpt,
    ScenarioArg,
    SchedulerOpt,
    SetOpt,
    TimingsOpt,
    WideOpt,
    WorkersOpt,
)
from .output import choose_format, emit, print_timings, say, write
from .startup import begin


def simulate(
    scenario: ScenarioArg,
    paths: Annotated[
        int | None, typer.Option("--paths", "-n", help="Paths (default: the file's 'paths').")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: the file's 'seed').")
    ] = None,
    set_: SetOpt = None,
    metric: Annotated[
        str, typer.Option("--metric", help="The loss metric of VaR and ES.")
    ] = "bad_debt_usd",
    format: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
    per_path: Annotated[
        Path | None,
        typer.Option(
            "--per-path", help="Also write every path's metrics (.csv, .json or .parquet)."
        ),
    ] = None,
    plot: PlotOpt = None,
    workers: WorkersOpt = None,
    show_progress: ProgressOpt = None,
    scheduler: SchedulerOpt = None,
    chunk_size: ChunkSizeOpt = None,
    allow_outside: AllowOutsideOpt = None,
    timings_: TimingsOpt = False,
) -> None:
    """Run Monte Carlo paths (the file's 'shocks: {model: ...}') and report VaR, ES, LaR
    (formats: table, json, csv, markdown).

    Example: contagion simulate scenarios/quickstart-montecarlo.yaml --paths 2000 --seed 7
    """
    from ..batch.simulate import model_of, simulate, with_overrides
    from ..batch.variants import load_compiled
    from ..render import commands

    begin()
    with guarded():
        fmt = choose_format(format, output, commands.SIMULATE)
        options.check(
            outputs={"--output": output, "--per-path": per_path}, plot_file=plot,
            worker_count=workers, scheduler_address=scheduler, chunk_size=chunk_size,
        )  # fmt: skip
        per_path_writer = _rows_writer(per_path) if per_path is not None else None
        compiled = load_compiled(scenario, set_ or (), options.sandbox(allow_outside))
        model = with_overrides(model_of(compiled, str(scenario)), paths, seed)
        with (
            runner(scheduler, chunk_size, workers, show_progress) as cluster,
            progress(show_progress, "simulate") as (set_total, advance),
        ):
            set_total(model.paths)
            with timings.phase("runs", whole=True):
                sim = simulate(compiled, model, workers, advance, metric, cluster)
        with timings.phase("report"):
            emit(commands.SIMULATE, sim, fmt, output, wide)
            if per_path_writer is not None and per_path is not None:
                rows = sim.to_dict(include_paths=True)["per_path"]
                per_path_writer(per_path, ["path", *(m.name for m in sim.columns)], rows)
            if sim.not_converged:
                say(f"warning: {sim.not_converged} of {sim.paths} paths did not converge "
                    "(settings.max_rounds)")  # fmt: skip
            if plot is not None:
                from ..render.plots import plot_simulation

                plot_simulation(sim, plot)
                say(f"wrote {plot}")
        print_timings(timings_)


def _rows_writer(path: Path) -> Any:
    """The writer of ``--per-path``'s row table, chosen by the file's suffix (checked before
    any work)."""
    from ..render.rows import require_pyarrow, to_csv, to_json, write_parquet

    suffix = path.suffix.lower()
    if suffix == ".csv":
        return lambda p, cols, rows: write(to_csv(cols, rows), p)
    if suffix == ".json":
        return lambda p, cols, rows: write(to_json(rows), p)
    if suffix == ".parquet":
        require_pyarrow("--per-path")

        def parquet(p: Path, cols: list[str], rows: list[dict[str, Any]]) -> None:
            write_parquet(p, cols, rows)
            say(f"wrote {p}")

        return parquet
    raise InputError.single(
        f"cannot tell the format from {path.name!r}",
        Location("--per-path"),
        hint="use .csv, .json or .parquet",
    )
