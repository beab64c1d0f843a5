"""Renderers: a run result to a table, JSON, CSV or Markdown. Pure functions of the result."""

from __future__ import annotations

import io
from enum import StrEnum

from rich.console import Console

from ..results.run import RunResult
from .flat import to_csv, to_json
from .markdown import to_markdown
from .table import run_report
from .width import fit_width


class OutputFormat(StrEnum):
    """``--format`` choices."""

    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


def render_text(result: RunResult, fmt: OutputFormat, width: int = 140) -> str:
    """The report as a string (tables rendered without colour, for files and golden tests)."""
    if fmt is OutputFormat.json:
        return to_json(result.to_dict())
    if fmt is OutputFormat.csv:
        return to_csv(result)
    if fmt is OutputFormat.markdown:
        return to_markdown(result)
    buffer = io.StringIO()
    report = run_report(result)
    console = Console(
        file=buffer,
        width=fit_width(report, width),
        color_system=None,
        force_terminal=False,
        no_color=True,
        highlight=False,
    )
    console.print(report)
    return buffer.getvalue()


__all__ = ["OutputFormat", "fit_width", "render_text", "run_report"]
