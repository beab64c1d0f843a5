"""The report of ``contagion run``: a run result, with its documented outcome when the scenario
carries one, in every format (table, JSON, CSV, Markdown)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType

from ..gates.verdict import Verdict
from ..results.run import RunResult
from . import expected
from .flat import to_csv
from .formats import REPORT_WIDTH, Format, Renderer
from .markdown import to_markdown
from .table import run_report


@dataclass(frozen=True)
class RunReport:
    """A run and how it compares with the scenario's ``expected:`` checks (none: no block)."""

    result: RunResult
    verdicts: Sequence[Verdict] = ()


def _table(report: RunReport) -> RenderableType:
    tables = run_report(report.result)
    if not report.verdicts:
        return tables
    lines = expected.renderable(report.verdicts)
    lines.rstrip()  # in place: the Group ends the last line itself
    return Group(tables, lines)


def _json(report: RunReport) -> dict[str, Any]:
    data = report.result.to_dict()
    if report.verdicts:
        data["expected"] = [v.to_dict() for v in report.verdicts]
    return data


def _csv(report: RunReport) -> str:
    return to_csv(report.result) + expected.csv_rows(report.verdicts)


def _markdown(report: RunReport) -> str:
    text = to_markdown(report.result)
    if not report.verdicts:
        return text
    return text.rstrip("\n") + "\n\n" + expected.markdown_section(report.verdicts)


#: ``contagion run``'s renderer.
RUN: Renderer[RunReport] = Renderer(table=_table, json=_json, csv=_csv, markdown=_markdown)


def render_text(
    result: RunResult, fmt: Format, width: int = REPORT_WIDTH, wide: bool = True
) -> str:
    """A run's report as a string (tables without colour: files and golden tests); ``wide``
    False fits the tables to ``width`` as a terminal of that width shows them."""
    return RUN.text(RunReport(result), fmt, width, wide)
