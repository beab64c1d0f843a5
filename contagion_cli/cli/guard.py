"""The one place that turns what went wrong into a message and an exit code (README, "Exit
codes"): a user's mistake is exit 2 with its location, a bug is exit 3 with the version."""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

try:  # typer >= 0.2x carries its own copy of click, and no longer needs the package
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - an older typer on click
    from click import exceptions as click_errors  # type: ignore[no-redef]

from .. import __version__
from ..errors import MESSAGE_LIMIT, ExitCode, InputError, Terminated, shorten
from .output import say


def fail(code: ExitCode, text: str) -> NoReturn:
    say(text)
    raise typer.Exit(int(code))


#: click's and typer's suggestions, at the end of their messages.
_SUGGESTION = re.compile(r"\s*(Did you mean .*\?|\(Possible options: .*\))\s*$", re.DOTALL)


def _lower(text: str) -> str:
    """``No such option`` -> ``no such option`` (an acronym keeps its capitals)."""
    return text[0].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def usage_message(exc: click_errors.ClickException) -> str:
    """click's message of a usage error (an unknown option or command, a missing argument, a
    bad value of a typed option) in the style of ours: ``error:``, then ``usage:`` where an
    argument is at fault, then ``hint:`` (click's suggestion, else where the help is)."""
    text = exc.format_message().strip()
    suggestion = _SUGGESTION.search(text)
    hint = None
    if suggestion:
        text = text[: suggestion.start()]
        hint = suggestion.group(1).strip("()")
        hint = hint[0].lower() + hint[1:]
        possible = re.fullmatch(r"possible options: (\S+)", hint)
        if possible:  # one candidate: say it as a question, as for a command
            hint = f"did you mean {possible.group(1)}?"
    text = _lower(text.strip().rstrip("."))
    bad_value = re.match(r"invalid value for '([^']+)'[^:]*: (.*)", text, re.DOTALL)
    if bad_value:  # where, then what: like every other message
        text = f"{bad_value.group(1)}: {_lower(bad_value.group(2))}"
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "contagion"
    lines = [f"error: {text}"]
    if ctx is not None and "argument" in text:
        lines.append(f"  usage: {ctx.get_usage().removeprefix('Usage: ').strip()}")
    if hint is None:
        what = "its commands" if "command" in text else "its options and an example"
        hint = f"'{command} --help' lists {what}"
    lines.append(f"  hint: {hint}")
    return "\n".join(lines)


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
