"""GitHub-flavoured Markdown of a run: what a CI job posts on a pull request."""

from __future__ import annotations

from ..results import RunResult
from . import numbers as fmt
from .graph import to_mermaid
from .table import (
    COORDINATION_HEADERS,
    VENUE_HEADERS,
    coordination_lines,
    coordination_rows,
    details,
    repaid_usd,
    venue_rows,
)


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def to_markdown(result: RunResult) -> str:
    lines = [f"## contagion: {result.scenario}", ""]
    status = "converged" if result.converged else "**NOT converged** (max_rounds reached)"
    insolvent = ", ".join(result.insolvent_protocols) or "none"
    lines += [
        f"- **Bad debt:** {fmt.usd(result.bad_debt_usd)}",
        f"- **Liquidations:** {fmt.count(result.liquidations)} "
        f"({fmt.usd(repaid_usd(result))} repaid)",
        f"- **Insolvent protocols:** {insolvent}",
        f"- **Propagation depth:** {result.propagation_depth}",
        f"- **Rounds:** {result.rounds} with liquidations, {status}",
        "",
        "### Protocols",
        "",
    ]
    show_details = any(details(pr) for pr in result.protocols.values())
    rows = [
        [
            pr.name,
            pr.type,
            fmt.count(pr.liquidations),
            fmt.usd(pr.repaid_usd),
            fmt.usd(pr.collateral_sold_usd),
            fmt.usd(pr.bad_debt_usd),
            fmt.usd(pr.shortfall_usd),
            *([details(pr)] if show_details else []),
            "**yes**" if pr.insolvent else "no",
            fmt.optional_int(pr.depth),
        ]
        for pr in result.protocols.values()
    ]
    headers = [
        "protocol",
        "type",
        "liquidations",
        "repaid",
        "collateral sold",
        "bad debt",
        "shortfall",
        *(["details"] if show_details else []),
        "insolvent",
        "depth",
    ]
    left = {headers.index("insolvent")} | ({headers.index("details")} if show_details else set())
    lines += _table(headers, rows, right=set(range(2, len(headers))) - left)
    lines += ["", "### Assets", ""]
    rows = [
        [
            ar.name,
            fmt.price(ar.start_price),
            fmt.price(ar.shocked_price),
            fmt.price(ar.final_price),
            fmt.pct(ar.endogenous_impact),
            fmt.units(ar.sold_units),
            fmt.usd(ar.slippage_usd),
            fmt.bps(ar.slippage_bps),
        ]
        for ar in result.assets.values()
    ]
    lines += _table(
        [
            "asset",
            "start",
            "shocked",
            "final",
            "impact",
            "sold (units)",
            "slippage",
            "slippage bps",
        ],
        rows,
        right={1, 2, 3, 4, 5, 6, 7},
    )
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
    return "\n".join(lines) + "\n"
