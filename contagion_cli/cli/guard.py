"""The one place that turns what went wrong into a message and an exit code (README, "Exit
codes"): a user's mistake is exit 2 with its location, a bug is exit 3 with the version."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from .. import __version__
from ..errors import MESSAGE_LIMIT, ExitCode, InputError, Terminated, safe_lines, shorten
from .output import err_console


def fail(code: ExitCode, text: str) -> NoReturn:
    err_console.print(safe_lines(text), markup=False, soft_wrap=True)
    raise typer.Exit(int(code))


@contextmanager
def guarded() -> Iterator[None]:
    """Map exceptions to messages and exit codes; a traceback only for real bugs."""
    try:
        yield
    except InputError as exc:
        fail(ExitCode.INVALID_INPUT, exc.render())
    except KeyboardInterrupt:
        fail(ExitCode.INTERRUPTED, "interrupted")
    except Terminated:
        fail(ExitCode.TERMINATED, "terminated (SIGTERM); the worker processes were stopped")
    except (typer.Exit, typer.Abort, SystemExit):
        raise
    except BrokenPipeError:  # `contagion run ... | head`
        sys.stderr.close()
        raise typer.Exit(int(ExitCode.OK)) from None
    except Exception as exc:
        if os.environ.get("CONTAGION_DEBUG"):
            traceback.print_exc()
        fail(
            ExitCode.INTERNAL,
            f"internal error: {type(exc).__name__}: {shorten(str(exc), MESSAGE_LIMIT)}\n"
            f"  this is a bug in contagion-cli {__version__}; please report it with the "
            "scenario file (set CONTAGION_DEBUG=1 for the traceback)",
        )
