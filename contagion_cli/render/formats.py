"""One ``--format`` for every command, and how a result is written in each format it offers.

Every command's result has a :class:`Renderer`: a function per format it can be written in.
The command line picks the format (``--format``, else the ``--output`` file's extension, else
the table) among those the renderer offers, and writes through :meth:`Renderer.text` or, for
Parquet, :meth:`Renderer.rows`. Renderers are pure functions of a result.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from rich.console import Console, RenderableType

from .rows import to_json
from .width import fit_width

#: Width of reports written to a pipe or a file: at least this, wider where a table needs it,
#: so that every table is whole (a terminal gets its own width, render/fit.py).
REPORT_WIDTH = 160

R = TypeVar("R")


class Format(StrEnum):
    """``--format`` choices; each command offers the ones its result can be written in."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"
    parquet = "parquet"


#: The format a file name implies (``-o report.json`` writes JSON without ``-f json``).
SUFFIXES: dict[str, Format] = {
    ".txt": Format.table,
    ".json": Format.json,
    ".csv": Format.csv,
    ".md": Format.markdown,
    ".markdown": Format.markdown,
    ".parquet": Format.parquet,
}


def implied_format(path: Path | None) -> Format | None:
    """The format ``path``'s extension names, or None (no file, or an extension of no format)."""
    return SUFFIXES.get(path.suffix.lower()) if path is not None else None


Rows = tuple[Sequence[str], Sequence[dict[str, Any]]]


@dataclass(frozen=True)
class Renderer(Generic[R]):
    """How one kind of result is written in each format it offers (None: not offered)."""

    table: Callable[[R], RenderableType] | None = None
    json: Callable[[R], Any] | None = None  # the JSON document: a dict or a list
    csv: Callable[[R], str] | None = None
    markdown: Callable[[R], str] | None = None
    rows: Callable[[R], Rows] | None = None  # columns and rows, for Parquet

    @property
    def formats(self) -> tuple[Format, ...]:
        offered = {
            Format.table: self.table,
            Format.json: self.json,
            Format.csv: self.csv,
            Format.markdown: self.markdown,
            Format.parquet: self.rows,
        }
        return tuple(f for f, how in offered.items() if how is not None)

    def text(self, result: R, fmt: Format, width: int = REPORT_WIDTH, wide: bool = True) -> str:
        """The report as text; a table without colour: at least ``width`` wide and every table
        whole (``wide``), or fitted to ``width`` as a terminal of that width shows it."""
        if fmt is Format.json and self.json is not None:
            return to_json(self.json(result))
        if fmt is Format.csv and self.csv is not None:
            return self.csv(result)
        if fmt is Format.markdown and self.markdown is not None:
            return self.markdown(result)
        if fmt is Format.table and self.table is not None:
            return plain_text(self.table(result), width, wide)
        raise ValueError(f"no {fmt} text for this result")


def plain_text(renderable: RenderableType, width: int = REPORT_WIDTH, wide: bool = True) -> str:
    """A rich renderable as plain text (files, pipes, golden tests): as wide as its tables need
    (``wide``), or fitted to ``width`` (render/fit.py), as a terminal of that width shows it."""
    buffer = io.StringIO()
    Console(
        file=buffer,
        width=fit_width(renderable, width) if wide else width,
        color_system=None,
        force_terminal=False,
        no_color=True,
        highlight=False,
        emoji=False,  # text from a scenario is shown as written (":fire:" stays ":fire:")
    ).print(renderable)
    return buffer.getvalue()
