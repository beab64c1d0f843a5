"""Where a command's words go: the report to stdout or ``--output``, everything else to stderr.

:func:`choose_format` decides the format once for every command (``--format``, else the
``--output`` file's extension, else a table); :func:`emit` writes a result through its
:class:`~contagion_cli.render.formats.Renderer`, so that ``--format json > out.json`` stays
clean whatever the command.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from .. import atomic, timings
from ..errors import InputError, Location, safe_lines
from ..render.formats import REPORT_WIDTH, Format, Renderer, implied_format
from ..render.width import fit_width

#: ``emoji=False`` here and in every console of the report: names and messages from a scenario
#: are shown as written (rich would turn ":fire:" into an emoji, and importing its emoji table
#: alone took 2 ms of every run)
err_console = Console(stderr=True, highlight=False, emoji=False)


#: The labels of our messages (uv's style: ``error: <what>``, then ``hint: <what to do>``) and
#: their colours, which rich prints only on a terminal (not in a pipe, nor with NO_COLOR).
LABELS = (
    ("error:", "bold red"),
    ("internal error:", "bold red"),
    ("warning:", "bold yellow"),
    ("hint:", "bold cyan"),
    ("usage:", "bold"),
)


def labelled(text: str) -> Text:
    """``text`` with the label that starts each of its lines coloured (no markup: a message may
    quote ``positions[0]`` or a file name with brackets)."""
    out = Text()
    for k, line in enumerate(text.split("\n")):
        if k:
            out.append("\n")
        body = line.lstrip()
        out.append(line[: len(line) - len(body)])
        for label, style in LABELS:
            if body.startswith(label):
                out.append(label[:-1], style=style)
                body = body[len(label) - 1 :]
                break
        out.append(body)
    return out


def say(text: str) -> None:
    """Lines for stderr (errors, warnings, "wrote FILE"): labels coloured on a terminal, no
    markup, no wrapping, and each line made safe (:func:`~contagion_cli.errors.safe_lines`)
    whatever a name in it holds."""
    err_console.print(labelled(safe_lines(text)), soft_wrap=True, highlight=False)


def print_timings(enabled: bool) -> None:
    """``--timings``: the seconds of each phase of the command, one aligned line each."""
    if enabled:
        say("\n".join(timings.lines()))


def write(text: str, output: Path | None) -> None:
    """Text to stdout, or to ``output`` all at once (:mod:`~contagion_cli.atomic`: a full disk
    leaves no truncated file), then "wrote FILE" on stderr."""
    if output is None:
        with to_stdout():
            sys.stdout.write(text)
            sys.stdout.flush()
        return
    try:
        atomic.write_text(output, text)
    except OSError as exc:
        raise cannot_write(exc, output) from None
    say(f"wrote {output}")


def cannot_write(exc: OSError, path: Path | str) -> InputError:
    """Exit 2 for a file that could not be written (full disk, read-only, permission)."""
    return InputError.single(
        f"cannot write: {exc.strerror or exc}",
        Location(str(path)),
        hint="the file was left as it was" if Path(path).exists() else None,
    )


@contextmanager
def to_stdout() -> Iterator[None]:
    """Writing the report to stdout: a full device or an I/O error is an error of exit code
    2 that says so, not a crash at exit (a closed pipe stays the guard's: ``| head``)."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as exc:
        # what is left in stdout's buffer would fail again when Python exits (exit 120)
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise InputError.single(
            f"cannot write the report to stdout: {exc.strerror or exc}",
            Location("stdout"),
            hint="free space where stdout goes, or write the report with --output",
        ) from None


def choose_format(value: str | None, output: Path | None, renderer: Renderer[Any]) -> Format:
    """The format to write: ``--format`` if given, else what ``--output``'s extension names,
    else a table. Refused (exit 2): a format the command does not offer, a ``--format`` that
    contradicts the file's extension, Parquet to stdout or without pyarrow."""
    offered = renderer.formats
    choices = ", ".join(f.value for f in offered)
    implied = implied_format(output)
    if value is None:
        fmt = implied if implied is not None else Format.table
        if fmt not in offered:
            raise InputError.single(
                f"this command does not write {fmt.value} (the extension of {str(output)!r})",
                Location("--output"),
                hint=f"use --format with one of: {choices}",
            )
    else:
        try:
            fmt = Format(value.strip().lower())
        except ValueError:
            fmt = None  # type: ignore[assignment]
        if fmt is None or fmt not in offered:
            raise InputError.single(
                f"unknown value {value!r}", Location("--format"), hint=f"expected one of: {choices}"
            )
        if implied is not None and implied is not fmt and implied is not Format.table:
            raise InputError.single(
                f"--format {fmt.value} would write {implied.value}'s extension {output.suffix!r}",  # type: ignore[union-attr]
                Location("--output"),
                hint=f"name the file for its format, or leave --format out to write "
                f"{implied.value}",
            )
    if fmt is Format.parquet:
        from ..render.rows import require_pyarrow

        require_pyarrow()
        if output is None:
            raise InputError.single(
                "Parquet is binary: give a file with --output", Location("--format")
            )
    return fmt


def terminal() -> Console | None:
    """A console on stdout when it is a terminal (its width, colours), else None."""
    return Console(highlight=False, emoji=False) if sys.stdout.isatty() else None


def emit(
    renderer: Renderer[Any], result: Any, fmt: Format, output: Path | None, wide: bool = False
) -> None:
    """Write ``result`` in ``fmt``: a terminal gets colours and tables that fit its width
    (``wide``: every table whole, wider than the terminal if need be); a pipe or file gets
    plain text with every table whole."""
    if fmt is Format.parquet:
        from ..render.rows import write_parquet

        assert renderer.rows is not None and output is not None
        write_parquet(output, *renderer.rows(result))
        say(f"wrote {output}")
    elif fmt is Format.table and output is None and (console := terminal()) is not None:
        assert renderer.table is not None
        table = renderer.table(result)
        if wide:
            console.width = fit_width(table, console.width)
        with to_stdout():
            console.print(table)
    else:
        write(renderer.text(result, fmt, REPORT_WIDTH), output)
