"""GitHub-flavoured Markdown of a run: what a CI job posts on a pull request."""

from __future__ import annotations

from ..results.run import RunResult
from . import numbers as fmt
from .escape import Raw, md, md_cell
from .graph import to_mermaid
from .table import (
    ADL_HEADERS,
    ASSET_HEADERS,
    COORDINATION_HEADERS,
    ENTITY_HEADERS,
    VENUE_HEADERS,
    adl_notes,
    adl_rows,
    asset_rows,
    coordination_lines,
    coordination_rows,
    details,
    distress_text,
    entity_rows,
    liquidated_text,
    trace_view,
    type_cells,
    type_columns,
    venue_rows,
)


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """A GFM table; every cell is escaped (accounts of a positions file are untrusted text)
    except :class:`~.escape.Raw` ones, Markdown this module wrote."""
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(md_cell(cell) for cell in row) + " |" for row in rows]
    return out


def to_markdown(result: RunResult) -> str:
    lines = [f"## contagion: {md(result.scenario)}", ""]
    status = "converged" if result.converged else "**NOT converged** (max_rounds reached)"
    insolvent = ", ".join(result.insolvent_protocols) or "none"
    lines += [
        f"- **Bad debt:** {fmt.usd(result.bad_debt_usd)}",
        f"- **Liquidations:** {liquidated_text(result)}",
        *([f"- **Auto-deleveraged:** {fmt.usd(result.adl_usd)}"] if result.adl_usd > 0 else []),
        f"- **Insolvent protocols:** {insolvent}",
        f"- **Propagation depth:** {result.propagation_depth}",
        f"- **Rounds:** {result.rounds} with action ({result.total_rounds} in all), {status}",
        "",
        "### Protocols",
        "",
    ]
    lines += _protocols(result)
    adl = adl_rows(result)
    if adl:
        lines += ["", "### Auto-deleveraging", ""]
        lines += _table(ADL_HEADERS, adl, right={3, 4})
        lines += ["", *(f"- {note}" for note in adl_notes(result))]
    lines += ["", "### Assets", ""]
    lines += _table(ASSET_HEADERS, asset_rows(result), right=set(range(1, len(ASSET_HEADERS))))
    venue_rows_ = venue_rows(result)
    if venue_rows_:
        lines += ["", "### Venues", ""]
        lines += _table(VENUE_HEADERS, venue_rows_, right=set(range(1, len(VENUE_HEADERS))))
    if result.coordination is not None:
        lines += ["", "### Coordination layer", ""]
        lines += [f"- {line}" for line in coordination_lines(result)]
        rows_ = coordination_rows(result)
        if rows_:
            lines += ["", *_table(COORDINATION_HEADERS, rows_, right={1, 2})]
    if result.edges or any(pr.depth is not None for pr in result.protocols.values()):
        lines += ["", "### Contagion graph", "", "```mermaid", to_mermaid(result).rstrip(), "```"]
    if result.entities is not None:
        lines += ["", "### Entities", ""]
        lines += _table(
            ENTITY_HEADERS, entity_rows(result), right=set(range(2, len(ENTITY_HEADERS)))
        )
    if result.trace:
        view = trace_view(result)
        lines += ["", "### Rounds", ""]
        lines += _table(
            view.headers, view.rows, right=set(range(len(view.headers))) - view.text_columns
        )
        lines += ["", *(f"- {note}" for note in view.notes)]
    return "\n".join(lines) + "\n"


def _protocols(result: RunResult) -> list[str]:
    """The protocols table: the common columns, each present type's own, the levers' details."""
    columns = type_columns(result)
    show_details = any(details(pr) for pr in result.protocols.values())
    rows = [
        [
            pr.name,
            pr.type,
            fmt.count(pr.positions),
            fmt.count(pr.liquidations),
            fmt.usd(pr.repaid_usd),
            fmt.usd(pr.collateral_sold_usd),
            fmt.usd(pr.bad_debt_usd),
            fmt.usd(pr.shortfall_usd),
            fmt.usd(pr.reserve_used_usd),
            *type_cells(pr, columns),
            *([details(pr)] if show_details else []),
            Raw("**yes**") if pr.insolvent else "no",
            distress_text(pr),
            fmt.optional_int(pr.depth),
        ]
        for pr in result.protocols.values()
    ]
    headers = [
        "protocol",
        "type",
        "positions",
        "liquidations",
        "repaid",
        "collateral sold",
        "bad debt",
        "shortfall",
        "reserve used",
        *(c.header for c in columns),
        *(["details"] if show_details else []),
        "insolvent",
        "distress",
        "depth",
    ]
    left = {headers.index("insolvent")} | ({headers.index("details")} if show_details else set())
    return _table(headers, rows, right=set(range(2, len(headers))) - left)
