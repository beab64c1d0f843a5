"""The options several commands share, and the checks of their values that run before any work
(a typo in ``--output`` or ``--workers`` must not cost a whole sweep)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError, Location

if TYPE_CHECKING:
    from ..load.files import Sandbox

# --- arguments and options ---------------------------------------------------------------------
ScenarioArg = Annotated[
    Path, typer.Argument(help="Scenario file (YAML).", show_default=False, metavar="SCENARIO")
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        help="Output format (see the command's help for its choices); default: the --output "
        "file's extension (.json, .csv, .md, .parquet), else a table.",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write the report to this file instead of stdout."
    ),
]
#: What ``--allow-extreme-shocks`` sets in the scenario.
ALLOW_EXTREME = "settings.allow_extreme_shocks=true"
AllowExtremeOpt = Annotated[
    bool,
    typer.Option(
        "--allow-extreme-shocks",
        help="Accept shock returns above +5 (+500%), refused by default as the likely typo of a "
        "fall (35 for -0.35); the same as settings.allow_extreme_shocks: true.",
    ),
]


def extreme_sets(allow: bool) -> list[str]:
    """The ``--set`` that ``--allow-extreme-shocks`` stands for (none without it)."""
    return [ALLOW_EXTREME] if allow else []


TimingsOpt = Annotated[
    bool,
    typer.Option(
        "--timings",
        help="Print the seconds each phase took to stderr: start (imports), load, validate, "
        "compile, jit (numba's start, when it runs), kernel, report, total.",
    ),
]
WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide",
        help="Print every table in one piece, wider than the terminal if need be (by default "
        "a table fits the terminal: abbreviated headers, then its other columns in a "
        "'(continued)' table). Files and pipes always get whole tables.",
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUE",
        help="Override a scenario value, e.g. protocols.aave.collateral.ETH.liquidation_threshold"
        "=0.8 (repeatable; validated like the file).",
        show_default=False,
    ),
]
ShockOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--shock",
        metavar="ASSET=RETURN",
        help="Replace the shock path with one step: ASSET=RETURN, e.g. ETH=-0.35 or ETH=-35% "
        "(repeatable for several assets).",
        show_default=False,
    ),
]
LiquidityOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--liquidity",
        metavar="ASSET=MULT",
        help="With --shock: scale an asset's market liquidity in that step, e.g. ETH=0.5.",
        show_default=False,
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        "-j",
        metavar="N",
        help="Worker processes that run points in parallel (threads with "
        "CONTAGION_POOL=threads; default: every core).",
    ),
]
ProgressOpt = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="Progress bar on stderr (default: when stderr is a terminal).",
        show_default=False,
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        envvar="CONTAGION_SCHEDULER",
        metavar="ADDRESS",
        help="Run the points on a Dask cluster: a scheduler address (tcp://HOST:8786), a "
        "scheduler file (.json) or 'local' (--workers processes here). Results are identical "
        "to a local run. Needs contagion-cli[distributed]; see docs/distributed.md.",
        show_default=False,
    ),
]
ChunkSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--chunk-size",
        metavar="N",
        help="With --scheduler: points per task (default: about 4 tasks per worker thread, "
        "at most 1,000 points each).",
        show_default=False,
    ),
]
PlotOpt = Annotated[
    Path | None,
    typer.Option(
        "--plot", metavar="FILE", help="Draw a chart to this .png/.svg/.pdf (needs matplotlib)."
    ),
]
GridShockOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--shock",
        metavar="ASSET=VALUES",
        help="An axis of shocks: ASSET=VALUES, values a list and/or ranges START:STOP:STEP, "
        "e.g. ETH=-0.05:-0.80:0.05 or ETH=-10%,-20%,-30% (several --shock: a product grid).",
        show_default=False,
    ),
]
GridLiquidityOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--liquidity",
        metavar="ASSET=VALUES",
        help="An axis of liquidity multipliers: ASSET=VALUES, e.g. ETH=1,0.5,0.25.",
        show_default=False,
    ),
]
GridSetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUES",
        help="An axis of parameter values: PATH=V1,V2,..., e.g. "
        "protocols.aave.collateral.ETH.liquidation_threshold=0.8,0.825,0.85.",
        show_default=False,
    ),
]
FixedShockOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--shock",
        metavar="ASSET=RETURN",
        help="Run on one step of these shocks instead of the file's path: ASSET=RETURN.",
        show_default=False,
    ),
]
AllowOutsideOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-outside",
        help="Let positions files (and links of the files named here) be read from this file "
        "or folder too; by default a scenario reads only its own folder tree "
        "(docs/security.md). Repeatable.",
        show_default=False,
    ),
]
FixedLiquidityOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--liquidity",
        metavar="ASSET=MULT",
        help="With --shock: liquidity multiplier ASSET=MULT.",
        show_default=False,
    ),
]


# --- checks ------------------------------------------------------------------------------------
def writable(path: Path | None, option: str) -> None:
    """Refuse (exit 2) a file that cannot be written, before the run: its folder must exist and
    be writable, and the path must not be a folder."""
    if path is None:
        return
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


def sandbox(allow_outside: list[Path] | None) -> Sandbox:
    """Where the files a scenario names may be read from (``--allow-outside``)."""
    from ..load.files import Sandbox

    return Sandbox.allowing(allow_outside or ())


def workers(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 4096:
        raise InputError.single(
            f"expected a number of workers from 1 to 4096, found {value}",
            Location("--workers"),
            hint="leave it out to use every core",
        )
    return value


def max_points(value: int | None) -> None:
    if value is not None and value < 1:
        raise InputError.single(
            f"expected a number of points >= 1, found {value}",
            Location("--max-points"),
            hint="leave it out for the default cap of 1,000,000 points",
        )


def scheduler(scheduler: str | None, chunk_size: int | None) -> None:
    """--chunk-size without --scheduler, or out of range, is refused before any work (also
    where the run would not use the cluster, e.g. a shock diff)."""
    if chunk_size is None:
        return
    if not scheduler or not scheduler.strip():
        raise InputError.single(
            "--chunk-size needs --scheduler",
            Location("--chunk-size"),
            hint="a local run chooses its own chunks; --workers sets its worker processes",
        )
    from ..batch.distributed import check_chunk_size

    check_chunk_size(chunk_size)


def plot(path: Path | None) -> None:
    if path is not None:
        from ..render.plots import require_matplotlib

        require_matplotlib(path)
        writable(path, "--plot")


def choice(value: str, enum: type, option: str):  # type: ignore[no-untyped-def]
    """``value`` as a member of ``enum`` (exit 2 listing the choices)."""
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise InputError.single(
            f"unknown value {value!r}", Location(option), hint=f"expected one of: {choices}"
        ) from None


def check(
    *,
    outputs: dict[str, Path | None] | None = None,
    plot_file: Path | None = None,
    worker_count: int | None = None,
    points: int | None = None,
    scheduler_address: str | None = None,
    chunk_size: int | None = None,
) -> None:
    """Every option check a command needs, before any work: ``outputs`` maps an option
    (``--output``, ``--junit``) to its file."""
    workers(worker_count)
    plot(plot_file)
    max_points(points)
    for option, path in (outputs or {}).items():
        writable(path, option)
    scheduler(scheduler_address, chunk_size)
