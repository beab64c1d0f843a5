"""Rich tables of a run: summary, protocols, assets and the contagion graph as a tree.

The rows of each table are built by small functions shared with the Markdown renderer, so the
two formats show the same figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..errors import one_line
from ..results.run import ProtocolResult, RunResult, TraceRound
from . import numbers as fmt
from .escape import cells, term
from .fit import FitTable, notes
from .graph import primary_parents


def run_report(result: RunResult) -> RenderableType:
    """The whole report of ``contagion run``."""
    parts: list[RenderableType] = [summary_table(result), protocols_table(result)]
    if adl_rows(result):
        parts.append(adl_table(result))
    parts.append(assets_table(result))
    if any(ar.venues for ar in result.assets.values()):
        parts.append(venues_table(result))
    parts.append(contagion_tree(result))
    if result.coordination is not None or result.entities is not None or result.trace:
        parts.append(Text(""))  # a tree ends without the blank line a table leaves
    if result.coordination is not None:
        parts.append(coordination_table(result))
    if result.entities is not None:
        parts.append(entities_table(result))
    if result.trace:
        parts.append(trace_table(result))
    return Group(*parts)


def summary_table(result: RunResult) -> Table:
    steps = len(result.steps)
    # the scenario's name and the accounts of a positions file are untrusted text (escape.py)
    title = term(f"{result.scenario} - {steps} step{'s' if steps != 1 else ''}")
    table = Table(title=title, box=box.SIMPLE_HEAD, show_header=False, title_justify="left")
    table.add_column("metric", style="bold")
    table.add_column("value")
    converged = (
        Text("yes", style="green")
        if result.converged
        else Text("NO (max_rounds reached)", style="bold red")
    )
    insolvent = result.insolvent_protocols
    table.add_row("Converged", converged)
    # MODEL §7: rounds in which any protocol acted (liquidated, auctioned, hedged, delevered)
    table.add_row("Rounds", f"{result.rounds} with action ({result.total_rounds} in all)")
    table.add_row(
        "Liquidations",
        liquidated_text(result),
    )
    table.add_row(
        "Bad debt",
        Text(fmt.usd(result.bad_debt_usd), style="bold red" if result.bad_debt_usd > 0 else ""),
    )
    table.add_row("Shortfall", fmt.usd(result.shortfall_usd))
    if result.adl_usd > 0:
        table.add_row("Auto-deleveraged", fmt.usd(result.adl_usd))
    table.add_row(
        "Insolvent protocols",
        Text(
            f"{len(insolvent)} of {len(result.protocols)}"
            + (f" ({', '.join(insolvent)})" if insolvent else ""),
            style="bold red" if insolvent else "",
        ),
    )
    table.add_row("Propagation depth", str(result.propagation_depth))
    amp = (
        f"{fmt.ratio(result.amplification)} ({result.amplification_asset})"
        if result.amplification is not None
        else "-"
    )
    table.add_row("Amplification", amp)
    return table


def repaid_usd(result: RunResult) -> float:
    """Debt repaid by liquidations, auctions and deleveraging, all protocols."""
    return sum(pr.repaid_usd for pr in result.protocols.values())


def distress_text(pr: ProtocolResult) -> str:
    """Where a protocol was first distressed: ``s1 r2`` (step 1, round 2), ``-`` never."""
    if pr.first_distress_round is None:
        return "-"
    return f"s{pr.first_distress_step} r{pr.first_distress_round}"


def liquidated_text(result: RunResult) -> str:
    """``13 ($59.1M repaid)``; perps repay no debt, so their closed notional is added."""
    text = f"{fmt.count(result.liquidations)} ({fmt.usd(repaid_usd(result))} repaid"
    closed = sum(pr.liquidated_usd for pr in result.protocols.values() if pr.type == "perp")
    if closed > 0:
        text += f", {fmt.usd(closed)} of perps closed"
    return text + ")"


@dataclass(frozen=True)
class TypeColumn:
    """A column of the protocols table that only one protocol type fills."""

    header: str
    type: str
    cell: Callable[[ProtocolResult], str]
    short: str | None = None  # the header where the table is abbreviated


def _zero_bid(pr: ProtocolResult) -> str:
    """Auctions keepers won for (almost) nothing, and the collateral they took that way."""
    text = fmt.count(pr.zero_bid_auctions)
    if pr.zero_bid_auctions:
        text += f" ({fmt.usd(pr.zero_bid_collateral_usd)})"
    return text


#: Shown only when a protocol of the type is in the scenario; empty for the other types.
TYPE_COLUMNS = (
    TypeColumn("auctions", "cdp", lambda pr: fmt.count(pr.auctions), "auct."),
    TypeColumn("zero-bid", "cdp", _zero_bid),
    TypeColumn("closed", "perp", lambda pr: fmt.usd(pr.liquidated_usd)),
    TypeColumn("ADL", "perp", lambda pr: fmt.usd(pr.adl_usd)),
    TypeColumn("delevered", "leveraged", lambda pr: fmt.usd(pr.deleveraging_sales_usd), "delev."),
    TypeColumn("hedged (units)", "options", lambda pr: fmt.units(pr.hedge_units_traded), "hedged"),
)


def type_columns(result: RunResult) -> list[TypeColumn]:
    """The per-type columns this scenario needs (none for a scenario of lending markets)."""
    types = {pr.type for pr in result.protocols.values()}
    return [c for c in TYPE_COLUMNS if c.type in types]


def type_cells(pr: ProtocolResult, columns: list[TypeColumn]) -> list[str]:
    return [c.cell(pr) if pr.type == c.type else "" for c in columns]


def _plural(n: int, word: str) -> str:
    return f"{fmt.count(n)} {word}{'' if n == 1 else 's'}"


def details(pr: ProtocolResult) -> str:
    """What the levers did to this protocol, and its haircut, in a few words (the JSON has
    all); what its type does has columns of its own (:data:`TYPE_COLUMNS`)."""
    parts = []
    skipped = []
    if pr.skipped_unprofitable:
        skipped.append(f"{fmt.count(pr.skipped_unprofitable)} unprofitable")
    if pr.skipped_capital:
        skipped.append(f"{fmt.count(pr.skipped_capital)} unfunded")
    if skipped:
        parts.append("skipped " + ", ".join(skipped))
    if pr.paused_rounds:
        text = f"paused {_plural(pr.paused_rounds, 'round')}"
        if pr.deferred_liquidations:
            text += f", {fmt.count(pr.deferred_liquidations)} deferred"
            if pr.deferred_debt_usd:
                text += f" ({fmt.usd(pr.deferred_debt_usd)} debt)"
        parts.append(text)
    if pr.credit_losses_usd:
        parts.append(f"credit loss {fmt.usd(pr.credit_losses_usd)}")
    if pr.haircut > 0:
        parts.append(f"haircut {pr.haircut * 100:.1f}%")
    return "; ".join(parts)


ENTITY_HEADERS = [
    "account",
    "protocols",
    "positions",
    "collateral",
    "debt",
    "exposure",
    "leverage",
    "liquidated",
    "collateral end",
    "debt end",
    "loss",
]


def entity_rows(result: RunResult) -> list[list[str]]:
    """Rows of the entities table (largest by debt first), shared with the Markdown."""
    return [
        [
            e.account,
            ", ".join(e.protocols),
            fmt.count(e.positions),
            fmt.usd(e.collateral_usd),
            fmt.usd(e.debt_usd),
            fmt.usd(e.exposure_usd),
            fmt.ratio(e.leverage),
            fmt.count(e.liquidated_positions),
            fmt.usd(e.collateral_end_usd),
            fmt.usd(e.debt_end_usd),
            fmt.usd(e.loss_usd),
        ]
        for e in result.entities or []
    ]


#: Abbreviations and ranks (render/fit.py) of the entities table's columns after the account.
ENTITY_COLUMNS = {
    "protocols": (None, 3),
    "positions": ("pos.", 2),
    "collateral": ("coll.", 1),
    "debt": (None, 1),
    "exposure": ("expos.", 2),
    "leverage": ("lev.", 1),
    "liquidated": ("liq.", 1),
    "collateral end": ("coll. end", 2),
    "debt end": (None, 2),
    "loss": (None, 1),
}


def entities_table(result: RunResult) -> FitTable:
    """The largest entities by debt: accounts seen across every protocol."""
    table = FitTable("Entities")
    table.add_column(ENTITY_HEADERS[0], justify="left", rank=0)
    for header in ENTITY_HEADERS[1:]:
        short, rank = ENTITY_COLUMNS[header]
        text = header == "protocols"
        table.add_column(
            header,
            short=short,
            rank=rank,
            justify="left" if text else "right",
            wrap=", " if text else None,
        )
    for row in entity_rows(result):
        table.add_row(*cells(row))
    return table


#: The protocols table's columns beside the per-type ones: (header, abbreviation, rank). Ranks
#: order the columns that claim the first table on a narrow terminal (render/fit.py): the
#: figures MODEL.md §5 names, most decisive first; the per-type columns and details after.
PROTOCOL_COLUMNS = (
    ("type", None, 1),
    ("positions", "pos.", 3),
    ("liquidations", "liq.", 1),
    ("repaid", None, 1),
    ("coll. sold", "sold", 2),
    ("bad debt", None, 1),
    ("shortfall", "shortf.", 2),
    ("reserve used", "reserve", 2),
)
#: The per-type columns' rank (ADL, which MODEL §5 names, ranks with the distress round).
TYPE_RANK = {"ADL": 3}


def protocols_table(result: RunResult) -> FitTable:
    table = FitTable("Protocols", collapse_padding=True)
    table.add_column("protocol", justify="left", rank=0)
    columns = type_columns(result)
    show_details = any(details(pr) for pr in result.protocols.values())
    for header, short, rank in PROTOCOL_COLUMNS:
        table.add_column(
            header, short=short, rank=rank, justify="left" if header == "type" else "right"
        )
    for c in columns:
        table.add_column(c.header, short=c.short, rank=TYPE_RANK.get(c.header, 4))
    if show_details:
        table.add_column("details", justify="left", rank=5, wrap="; ")
    table.add_column("insolvent", short="insolv.", justify="center", rank=1)
    table.add_column("distress", short="distr.", rank=3)
    table.add_column("depth", rank=1, min_width=5)
    for pr in result.protocols.values():
        insolvent = Text("YES", style="bold red") if pr.insolvent else Text("no")
        table.add_row(
            pr.name,
            pr.type,
            fmt.count(pr.positions),
            fmt.count(pr.liquidations),
            fmt.usd(pr.repaid_usd),
            fmt.usd(pr.collateral_sold_usd),
            Text(fmt.usd(pr.bad_debt_usd), style="red" if pr.bad_debt_usd > 0 else ""),
            fmt.usd(pr.shortfall_usd),
            fmt.usd(pr.reserve_used_usd),
            *type_cells(pr, columns),
            *([details(pr)] if show_details else []),
            insolvent,
            distress_text(pr),
            fmt.optional_int(pr.depth),
        )
    return table


ADL_HEADERS = ["protocol", "account", "asset", "cut", "share"]


def adl_rows(result: RunResult) -> list[list[str]]:
    """Who each perp venue auto-deleveraged, largest cut first; positions beyond those listed
    (results keep the largest few) summed in one row."""
    rows = []
    for pr in result.protocols.values():
        if not pr.adl_usd:
            continue
        for cut in pr.adl_cuts:
            rows.append(
                [pr.name, cut.account, cut.asset, fmt.usd(cut.cut_usd), _share(cut.cut_usd, pr)]
            )
        rest = pr.adl_positions - len(pr.adl_cuts)
        if rest > 0:
            rest_usd = pr.adl_usd - sum(c.cut_usd for c in pr.adl_cuts)
            rows.append([pr.name, f"{_plural(rest, 'other position')}", "", fmt.usd(rest_usd), ""])
    return rows


def _share(cut_usd: float, pr: ProtocolResult) -> str:
    return f"{cut_usd / pr.adl_usd * 100:.1f}%" if pr.adl_usd > 0 else "-"


def adl_notes(result: RunResult) -> list[str]:
    """Per perp venue that auto-deleveraged: how its deficit was paid."""
    return [
        f"{pr.name}: deficit {fmt.usd(pr.deficit_usd)} of closed positions = "
        f"{fmt.usd(pr.bad_debt_usd)} bad debt (the insurance fund pays first) + "
        f"{fmt.usd(pr.adl_usd)} cut from {_plural(pr.adl_positions, 'profitable position')}"
        f" (the bankrupt positions behind it: {fmt.usd(pr.adl_notional_usd)} of notional)"
        for pr in result.protocols.values()
        if pr.adl_usd
    ]


def adl_table(result: RunResult) -> RenderableType:
    """The accounts each perp venue auto-deleveraged, under the protocols table."""
    table = FitTable("Auto-deleveraging")
    for k, header in enumerate(ADL_HEADERS):
        table.add_column(header, justify="right" if k >= 3 else "left", rank=0 if k < 2 else 1)
    for row in adl_rows(result):
        table.add_row(*cells(row))
    return Group(table, notes(one_line(n) for n in adl_notes(result)), Text(""))


ASSET_HEADERS = [
    "asset",
    "start",
    "shocked",
    "final",
    "impact",
    "sold (units)",
    "bought (units)",
    "slippage",
    "slippage bps",
]


def asset_rows(result: RunResult) -> list[list[str]]:
    """Rows of the assets table, shared with the Markdown."""
    return [
        [
            ar.name,
            fmt.price(ar.start_price),
            fmt.price(ar.shocked_price),
            fmt.price(ar.final_price),
            fmt.pct(ar.endogenous_impact),
            fmt.units(ar.sold_units),
            fmt.units(ar.bought_units),
            fmt.usd(ar.slippage_usd),
            fmt.bps(ar.slippage_bps),
        ]
        for ar in result.assets.values()
    ]


#: Abbreviations and ranks (render/fit.py) of the assets table's columns after the asset.
ASSET_COLUMNS = {
    "start": (None, 1),
    "shocked": (None, 1),
    "final": (None, 1),
    "impact": (None, 1),
    "sold (units)": ("sold", 1),
    "bought (units)": ("bought", 2),
    "slippage": ("slip.", 1),
    "slippage bps": ("bps", 2),
}


def assets_table(result: RunResult) -> FitTable:
    table = FitTable("Assets")
    table.add_column(ASSET_HEADERS[0], justify="left", rank=0)
    for header in ASSET_HEADERS[1:]:
        short, rank = ASSET_COLUMNS[header]
        table.add_column(header, short=short, rank=rank)
    for row in asset_rows(result):
        table.add_row(*row)
    return table


def venue_rows(result: RunResult) -> list[list[str]]:
    """Rows of the venues table (assets with several venues), shared with the Markdown."""
    rows = []
    for ar in result.assets.values():
        for vr in ar.venues or []:
            rows.append(
                [
                    f"{ar.name}@{vr.name}",
                    fmt.price(vr.final_price),
                    fmt.units(vr.sold_units),
                    fmt.units(vr.bought_units),
                    fmt.usd(vr.slippage_usd),
                    fmt.units(vr.arbitrage_sold_units),
                    fmt.units(vr.arbitrage_bought_units),
                ]
            )
    return rows


VENUE_HEADERS = [
    "venue",
    "final",
    "sold (units)",
    "bought (units)",
    "slippage",
    "arb sold",
    "arb bought",
]


#: Abbreviations and ranks (render/fit.py) of the venues table's columns after the venue.
VENUE_COLUMNS = {
    "final": (None, 1),
    "sold (units)": ("sold", 1),
    "bought (units)": ("bought", 1),
    "slippage": ("slip.", 1),
    "arb sold": (None, 2),
    "arb bought": (None, 2),
}


def venues_table(result: RunResult) -> FitTable:
    """Per venue: where liquidation flow went, its slippage, and what arbitrage moved."""
    table = FitTable("Venues")
    table.add_column(VENUE_HEADERS[0], justify="left", rank=0)
    for header in VENUE_HEADERS[1:]:
        short, rank = VENUE_COLUMNS[header]
        table.add_column(header, short=short, rank=rank)
    for row in venue_rows(result):
        table.add_row(*row)
    profits = [
        f"{ar.name} {fmt.usd(ar.arbitrage_profit_usd)}"
        for ar in result.assets.values()
        if ar.venues and ar.arbitrage_profit_usd
    ]
    if profits:
        table.caption = "arbitrage profit: " + ", ".join(profits)
    return table


def coordination_lines(result: RunResult) -> list[str]:
    """The coordination layer's effect in a few lines (shared with the Markdown)."""
    c = result.coordination
    if c is None:
        return []
    w = c.without
    insolvent_with = ", ".join(result.insolvent_protocols) or "none"
    insolvent_without = ", ".join(w["insolvent_protocols"]) or "none"
    return [
        f"participants: {', '.join(c.participants) or 'none'}; entities above "
        f"{c.max_entity_leverage:g}x leverage asked for {c.margin_add_per_leverage:g} margin "
        f"per 1x above (at most {c.max_margin_add:g})",
        f"adjusted: {fmt.count(c.adjusted_entities)} entities, "
        f"{fmt.count(c.adjusted_positions)} positions",
        f"bad debt: {fmt.usd(w['bad_debt_usd'])} without -> {fmt.usd(result.bad_debt_usd)} with",
        f"liquidations: {fmt.count(w['liquidations'])} without -> "
        f"{fmt.count(result.liquidations)} with",
        f"insolvent: {insolvent_without} without -> {insolvent_with} with",
        f"propagation depth: {w['propagation_depth']} without -> {result.propagation_depth} with",
    ]


def coordination_rows(result: RunResult) -> list[list[str]]:
    rows = []
    for e in result.coordination.entities if result.coordination else []:
        reqs = "; ".join(
            f"{r['protocol']} {r['measure'].replace('_', ' ')}"
            + (f" {r['asset']}" if r["asset"] else "")
            + f" {r['without']:.4g}->{r['with']:.4g}"
            for r in e.requirements
        )
        rows.append(
            [
                e.account,
                fmt.ratio(e.leverage),
                f"{e.margin_add:.4g}",
                reqs,
                f"{e.liquidated_positions_without} -> {e.liquidated_positions}",
                f"{fmt.usd(e.loss_usd_without)} -> {fmt.usd(e.loss_usd)}",
            ]
        )
    return rows


COORDINATION_HEADERS = [
    "entity",
    "leverage",
    "margin add",
    "requirement (without->with)",
    "liquidated (without->with)",
    "loss (without->with)",
]


def coordination_table(result: RunResult) -> RenderableType:
    table = FitTable("Coordination layer")
    for k, header in enumerate(COORDINATION_HEADERS):
        table.add_column(
            header,
            justify="right" if k in (1, 2) else "left",
            rank=min(k, 1),
            wrap="; " if k == 3 else " -> " if k > 3 else None,
        )
    for row in coordination_rows(result):
        table.add_row(*cells(row))
    return Group(table, notes(one_line(n) for n in coordination_lines(result)), Text(""))


def _channels(result: RunResult, source: str, target: str) -> list[str]:
    """The assets (or "credit") through which ``source`` pulled ``target`` in, in edge order."""
    return list(
        dict.fromkeys(e.asset for e in result.edges if (e.source, e.target) == (source, target))
    )


def contagion_tree(result: RunResult) -> RenderableType:
    """Protocols hit by the shock at the root, each later one under the protocol whose selling
    pulled it in (its lowest-depth source) with every channel between the two; other sources
    are listed beside it."""
    tree = Tree(Text("Contagion graph", style="bold"))
    parents = primary_parents(result)
    distressed = {n: pr for n, pr in result.protocols.items() if pr.depth is not None}
    if not distressed:
        tree.add("no protocol was distressed")
        return tree
    nodes: dict[str, Tree] = {}

    def label(name: str) -> Text:
        pr = result.protocols[name]
        text = Text(name, style="bold")
        text.append(
            f"  depth {pr.depth}, step {pr.first_distress_step} round {pr.first_distress_round}"
        )
        parent = parents.get(name)
        sources = dict.fromkeys(e.source for e in result.edges if e.target == name)
        others = sorted(
            f"{source} ({', '.join(_channels(result, source, name))})"
            for source in sources
            if parent is None or source != parent[0]
        )
        if parent is not None:
            text.append(f"  via {', '.join(_channels(result, parent[0], name))}", style="cyan")
        if others:
            text.append("  also " + ", ".join(others), style="dim")
        if pr.insolvent:
            text.append("  INSOLVENT", style="bold red")
        return text

    root = tree.add(Text("exogenous shock", style="italic"))
    # add in order of first distress so that parents exist before their children
    order = sorted(distressed, key=lambda n: (distressed[n].first_distress_round or 0, n))
    for name in order:
        parent = parents.get(name)
        anchor = nodes.get(parent[0]) if parent is not None else None
        nodes[name] = (anchor or root).add(label(name))
    calm = [n for n in result.protocols if n not in distressed]
    if calm:
        tree.add(Text("not distressed: " + ", ".join(calm), style="dim"))
    return tree


def flow_text(flows: dict[str, float]) -> str:
    """A protocol's orders of one round: ``ETH 539.11; WBTC -1.20`` (negative: bought)."""
    return "; ".join(f"{asset} {fmt.units(units)}" for asset, units in flows.items())


@dataclass(frozen=True)
class TraceView:
    """The round-by-round table, shared by the rich table and the Markdown."""

    headers: list[str]
    rows: list[list[str]]
    notes: list[str]
    text_columns: set[int]  # the flow columns: text, left-aligned
    first_protocol: int  # the index of the first protocol's column (after the assets')


def trace_view(result: RunResult) -> TraceView:
    """One row per round: prices at the end of the round, the net units sold of each asset,
    then per protocol its liquidations and its flows (units it sold, negative: bought).

    Assets whose price never moved and that never traded, and protocols that never acted, are
    named in a note instead of filling columns with zeros."""
    trace = result.trace
    assets = [
        a
        for a, ar in result.assets.items()
        if any(r.prices[a] != ar.start_price or r.net_sold_units[a] for r in trace)
    ]
    protocols = [p for p in result.protocols if any(_acted(r, p) for r in trace)]
    # a column of skipped liquidations only for protocols whose liquidators ever declined
    skipping = {p for p in protocols if any(r.skipped.get(p) for r in trace)}
    headers = ["step", "round"]
    text_columns: set[int] = set()
    headers += [f"{a} price" for a in assets] + [f"{a} net sold" for a in assets]
    first_protocol = len(headers)
    for p in protocols:
        if result.protocols[p].type != "options":  # an option vault hedges, never liquidates
            headers.append(f"{p} liq.")
        if p in skipping:
            headers.append(f"{p} skipped")
        text_columns.add(len(headers))
        headers.append(f"{p} flows")
    rows = []
    for r in trace:
        row = [str(r.step), str(r.round)]
        row += [fmt.price(r.prices[a]) for a in assets]
        row += [fmt.units(r.net_sold_units[a]) for a in assets]
        for p in protocols:
            if result.protocols[p].type != "options":
                row.append(fmt.count(r.liquidations[p]))
            if p in skipping:
                row.append(fmt.count(r.skipped[p]))
            row.append(flow_text(r.flows.get(p, {})))
        rows.append(row)
    notes = []
    still = [a for a in result.assets if a not in assets]
    if still:
        notes.append("unchanged and not traded: " + ", ".join(still))
    quiet = [p for p in result.protocols if p not in protocols]
    if quiet:
        notes.append("no liquidations or flows: " + ", ".join(quiet))
    notes.append("flows: units each protocol sent to market (negative: bought)")
    if skipping:
        notes.append("skipped: liquidations its liquidators declined (unprofitable or unfunded)")
    if result.trace_truncated:
        notes.append(f"trace truncated: {len(trace)} of {result.total_rounds} rounds")
    return TraceView(headers, rows, notes, text_columns, first_protocol)


def _acted(row: TraceRound, protocol: str) -> bool:
    return bool(
        row.liquidations.get(protocol) or row.flows.get(protocol) or row.skipped.get(protocol)
    )


def trace_table(result: RunResult) -> FitTable:
    """One row per round: prices at the end of the round, liquidations and flows. On a narrow
    terminal the prices and net sales come first, then each protocol's columns together."""
    view = trace_view(result)
    table = FitTable("Rounds", caption="\n".join(view.notes))
    prices = 2 + (view.first_protocol - 2) // 2  # step, round, then a price and a sale per asset
    for k, header in enumerate(view.headers):
        text = k in view.text_columns
        rank = 0 if k < 2 else 1 if k < prices else 2 if k < view.first_protocol else 3
        table.add_column(
            header, justify="left" if text else "right", rank=rank, wrap="; " if text else None
        )
    for row in view.rows:
        table.add_row(*row)
    return table
