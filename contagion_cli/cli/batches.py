"""What the batch commands share while they run: a progress bar on stderr and the Dask runner
of ``--scheduler``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import ExitCode, InputError, Location
from .guard import fail
from .output import err_console, say


@contextmanager
def progress(
    enabled: bool | None, description: str
) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """``(set_total, advance)`` callbacks driving a rich progress bar on stderr."""
    show = err_console.is_terminal if enabled is None else enabled
    if not show:
        yield (lambda _n: None), (lambda _n: None)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=err_console.is_terminal,
    )
    task = bar.add_task(description, total=None)
    with bar:
        yield (
            lambda n: bar.update(task, total=n),
            lambda n: bar.advance(task, n),
        )


@contextmanager
def runner(
    scheduler: str | None, chunk_size: int | None, workers: int | None, show: bool | None
) -> Iterator[Any]:
    """The Dask runner of ``--scheduler``, or None: run here, without Dask."""
    if not scheduler or not scheduler.strip():
        if chunk_size is not None:
            raise InputError.single(
                "--chunk-size needs --scheduler",
                Location("--chunk-size"),
                hint="a local run chooses its own chunks; --workers sets its worker processes",
            )
        yield None
        return
    from ..batch.distributed import ClusterError, DaskRunner

    local = scheduler.strip() == "local"
    if workers is not None and not local:
        say("warning: --workers is ignored with --scheduler: the cluster's workers run the points")
    log = show is not False and not err_console.is_terminal
    dask = DaskRunner(
        scheduler, chunk_size, workers if local else None, say=say, log_progress=log, quiet=True
    )
    try:
        yield dask
    except ClusterError as exc:
        fail(ExitCode.CLUSTER_FAILED, exc.render())
    finally:
        dask.close()
