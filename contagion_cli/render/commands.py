"""The renderer of each batch command's result: which formats it offers and how each is written.

``contagion run``'s is :data:`.report.RUN`. Every function here is pure; the command line picks
the format and writes (cli/output.py).
"""

from __future__ import annotations

from typing import Any

from ..batch.clusters import ClustersResult
from ..batch.compare import CompareResult
from ..batch.critical import CriticalResult
from ..batch.diff import DiffResult
from ..batch.simulate import SimulationResult
from ..batch.sweep import SweepResult
from ..gates.check import CheckReport
from . import analysis, ci
from .compare import compare_markdown, compare_table
from .formats import Renderer, Rows
from .rows import to_csv


def _sweep_rows(result: SweepResult) -> Rows:
    return [*result.axes, *(m.name for m in result.columns)], result.rows()


def sweep(metric: str) -> Renderer[SweepResult]:
    """``sweep``: a row per point; the table's bars show ``metric``."""
    return Renderer(
        table=lambda r: analysis.sweep_table(r, metric),
        json=lambda r: r.to_dict(),
        csv=lambda r: to_csv(*_sweep_rows(r)),
        rows=_sweep_rows,
    )


def _simulation_csv(sim: SimulationResult) -> str:
    rows: list[dict[str, Any]] = []
    for name in sim.metric_names():
        value = sim.lookup(name)
        rows.append({"metric": name, "value": None if value != value else value})
    return to_csv(["metric", "value"], rows)


SIMULATE: Renderer[SimulationResult] = Renderer(
    table=analysis.simulation_report,
    json=lambda r: r.to_dict(),
    csv=_simulation_csv,
    markdown=ci.simulation_markdown,
)

CRITICAL: Renderer[CriticalResult] = Renderer(
    table=analysis.critical_report, json=lambda r: r.to_dict()
)


def _clusters_csv(result: ClustersResult) -> str:
    rows = result.rows()
    return to_csv(list(rows[0]) if rows else [], rows)


CLUSTERS: Renderer[ClustersResult] = Renderer(
    table=analysis.clusters_table, json=lambda r: r.to_dict(), csv=_clusters_csv
)

CHECK: Renderer[CheckReport] = Renderer(
    table=analysis.check_table, json=lambda r: r.to_dict(), markdown=ci.check_markdown
)

#: The columns of ``diff --format csv``.
DIFF_COLUMNS = ["metric", "base", "candidate", "change", "relative_change"]


def diff(only_changed: bool) -> Renderer[DiffResult]:
    """``diff``: every metric's change (``only_changed``: the table and Markdown skip the rest)."""
    return Renderer(
        table=lambda r: analysis.diff_table(r, only_changed=only_changed),
        json=lambda r: r.to_dict(),
        csv=lambda r: to_csv(DIFF_COLUMNS, [c.to_dict() for c in r.changes]),
        markdown=lambda r: ci.diff_markdown(r, only_changed=only_changed),
    )


COMPARE: Renderer[CompareResult] = Renderer(
    table=compare_table,
    json=lambda r: r.to_dict(),
    csv=lambda r: to_csv(r.columns(), r.rows()),
    markdown=compare_markdown,
)
