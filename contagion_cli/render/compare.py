"""``contagion compare`` as a table (a column per design) or Markdown (a pull-request comment).

JSON and CSV come from :meth:`CompareResult.to_dict` and :meth:`CompareResult.rows`.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from ..batch.compare import CompareResult, Design
from ..errors import one_line
from . import numbers as fmt
from .escape import Raw, md, md_cell, md_code
from .fit import FitTable

#: Row titles of the headline figures (reports); the JSON keys are the names.
TITLES = {
    "converged": "Converged",
    "rounds": "Rounds with action",
    "liquidations": "Liquidations",
    "liquidated_usd": "Liquidated",
    "slippage_usd": "Slippage",
    "bad_debt_usd": "Bad debt",
    "shortfall_usd": "Shortfall",
    "reserve_usd": "Reserves",
    "uncovered_usd": "Uncovered (beyond reserves)",
    "insolvent_protocols": "Insolvent protocols",
    "propagation_depth": "Propagation depth",
    "amplification": "Amplification",
}


def headline_cell(design: Design, name: str) -> str:
    """A headline figure of one design as text."""
    value = design.value(name)
    r = design.result
    if name == "converged":
        return "yes" if value else "NO"
    if name == "insolvent_protocols":
        if not value:
            return f"none of {len(r.protocols)}"
        return f"{len(value)} of {len(r.protocols)}: {', '.join(value)}"
    if name == "amplification":
        if value is None:
            return "-"
        return f"{fmt.ratio(value)} ({r.amplification_asset})"
    if name.endswith("_usd"):
        return fmt.usd(value)
    return fmt.count(value)


def coordination_cells(design: Design) -> tuple[str, str]:
    """Entities the coordination layer adjusted, and the bad debt of the run without it."""
    c = design.result.coordination
    if c is None:
        return "-", "-"
    return fmt.count(c.adjusted_entities), fmt.usd(c.without.get("bad_debt_usd"))


def _coordinated(result: CompareResult) -> bool:
    return any(d.result.coordination is not None for d in result.designs)


COORDINATION_TITLES = ("Coordination: entities adjusted", "Coordination: bad debt without it")


def protocol_cell(design: Design, protocol: str) -> str:
    """A protocol's bad debt in one design (``-`` when the design has no such protocol)."""
    p = design.result.protocols.get(protocol)
    if p is None:
        return "-"
    return fmt.usd(p.bad_debt_usd) + (" INSOLVENT" if p.insolvent else "")


def compare_table(result: CompareResult) -> RenderableType:
    """One column per design; headline figures, then every protocol's bad debt."""
    n = len(result.designs)
    title = Text(f"compare - {n} design{'s' if n != 1 else ''}, on {result.on}", style="italic")
    table = FitTable(continued="compare (continued)")
    table.add_column("", style="bold", justify="left", rank=0)
    for d in result.designs:
        table.add_column(one_line(d.label), wrap=" ")  # "2 of 5: looper, maker" may wrap
    for name, heading in TITLES.items():
        cells = []
        for d in result.designs:
            text = headline_cell(d, name)
            red = (name == "bad_debt_usd" and d.result.bad_debt_usd > 0) or (
                name == "insolvent_protocols" and d.result.insolvent_protocols
            )
            cells.append(Text(text, style="bold red" if red else ""))
        table.add_row(heading, *cells)
    if _coordinated(result):
        cells_by_design = [coordination_cells(d) for d in result.designs]
        for k, heading in enumerate(COORDINATION_TITLES):
            table.add_row(heading, *(c[k] for c in cells_by_design))
    table.add_section()
    table.add_row(Text("Bad debt by protocol", style="italic"), *([""] * n))
    for protocol in result.protocols:
        table.add_row(f"  {protocol}", *(protocol_cell(d, protocol) for d in result.designs))
    parts: list[RenderableType] = [title, table]
    if not result.same_shocks:
        parts.append(
            Text("note: the files' shock paths differ - the designs did not face the same event")
        )
    return Group(*parts)


def _md_row(cells: list[str]) -> str:
    """A table row; cells escaped (labels are scenario names) unless :class:`~.escape.Raw`."""
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"


def compare_markdown(result: CompareResult) -> str:
    """GitHub-flavoured Markdown: the same table as :func:`compare_table`."""
    labels = [d.label for d in result.designs]
    rule = [Raw("---"), *([Raw("---:")] * len(labels))]
    lines = [f"## contagion compare: {' vs '.join(md(x) for x in labels)}", ""]
    lines += [f"On {md(result.on)}.", ""]
    if not result.same_shocks:
        lines += ["**Note:** the files' shock paths differ.", ""]
    lines += [_md_row(["", *labels]), _md_row(rule)]
    for name, heading in TITLES.items():
        cells = []
        for d in result.designs:
            text = headline_cell(d, name)
            if name == "bad_debt_usd" and d.result.bad_debt_usd > 0:
                text = Raw(f"**{md(text)}**")
            cells.append(text)
        lines.append(_md_row([heading, *cells]))
    if _coordinated(result):
        cells_by_design = [coordination_cells(d) for d in result.designs]
        for k, heading in enumerate(COORDINATION_TITLES):
            lines.append(_md_row([heading, *(c[k] for c in cells_by_design)]))
    lines += [
        "",
        "Bad debt by protocol:",
        "",
        _md_row(["protocol", *labels]),
        _md_row(rule),
    ]
    for protocol in result.protocols:
        cells = [
            Raw(md(protocol_cell(d, protocol)).replace(" INSOLVENT", " **insolvent**"))
            for d in result.designs
        ]
        lines.append(_md_row([Raw(md_code(protocol, table=True)), *cells]))
    files = ", ".join(md_code(d.file) for d in result.designs)
    lines += ["", f"Files: {files}.", ""]
    return "\n".join(lines)
