"""Rich tables of a run: summary, protocols, assets and the contagion graph as a tree."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ..results import ProtocolResult, RunResult
from . import numbers as fmt
from .graph import primary_parents


def run_report(result: RunResult) -> RenderableType:
    """The whole report of ``contagion run``."""
    parts: list[RenderableType] = [
        summary_table(result),
        protocols_table(result),
        assets_table(result),
    ]
    if any(ar.venues for ar in result.assets.values()):
        parts.append(venues_table(result))
    parts.append(contagion_tree(result))
    if result.coordination is not None:
        parts.append(coordination_table(result))
    if result.entities is not None:
        parts.append(entities_table(result))
    if result.trace:
        parts.append(trace_table(result))
    return Group(*parts)


def summary_table(result: RunResult) -> Table:
    steps = len(result.steps)
    title = f"{result.scenario} - {steps} step{'s' if steps != 1 else ''}"
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
    table.add_row("Rounds", f"{result.rounds} with liquidations ({result.total_rounds} in all)")
    table.add_row(
        "Liquidations",
        f"{fmt.count(result.liquidations)} ({fmt.usd(repaid_usd(result))} repaid)",
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


def details(pr: ProtocolResult) -> str:
    """What only this protocol type or its levers did, in a few words (the JSON has all)."""
    parts = []
    if pr.type == "cdp":
        text = f"{fmt.count(pr.auctions)} auctions"
        if pr.zero_bid_auctions:
            text += f", {fmt.count(pr.zero_bid_auctions)} zero-bid"
        parts.append(text)
    if pr.type == "perp" and pr.liquidated_usd:
        parts.append(f"closed {fmt.usd(pr.liquidated_usd)} notional")
    if pr.adl_usd:
        parts.append(f"ADL {fmt.usd(pr.adl_usd)}")
    if pr.deleveraging_sales_usd:
        parts.append(f"delevered {fmt.usd(pr.deleveraging_sales_usd)}")
    if pr.hedge_units_traded:
        parts.append(f"hedged {fmt.units(pr.hedge_units_traded)}")
    if pr.skipped_unprofitable:
        parts.append(f"{fmt.count(pr.skipped_unprofitable)} unprofitable")
    if pr.skipped_capital:
        parts.append(f"{fmt.count(pr.skipped_capital)} unfunded")
    if pr.paused_rounds:
        text = f"paused {fmt.count(pr.paused_rounds)} rounds"
        if pr.deferred_liquidations:
            text += f", {fmt.count(pr.deferred_liquidations)} deferred"
        parts.append(text)
    if pr.credit_losses_usd:
        parts.append(f"credit loss {fmt.usd(pr.credit_losses_usd)}")
    if pr.haircut > 0:
        parts.append(f"haircut {pr.haircut * 100:.1f}%")
    return "; ".join(parts)


def entities_table(result: RunResult) -> Table:
    """The largest entities by debt: accounts seen across every protocol."""
    table = Table(title="Entities", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("account", no_wrap=True)
    table.add_column("protocols")
    for header in (
        "positions",
        "collateral",
        "debt",
        "exposure",
        "leverage",
        "liquidated",
        "collateral end",
        "debt end",
        "loss",
    ):
        table.add_column(header, justify="right", no_wrap=True)
    for e in result.entities or []:
        table.add_row(
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
        )
    return table


def protocols_table(result: RunResult) -> Table:
    table = Table(
        title="Protocols", box=box.SIMPLE_HEAD, title_justify="left", collapse_padding=True
    )
    table.add_column("protocol", no_wrap=True)
    table.add_column("type", no_wrap=True)
    show_details = any(details(pr) for pr in result.protocols.values())
    for header in (
        "positions",
        "liquidations",
        "repaid",
        "coll. sold",
        "bad debt",
        "shortfall",
        "reserve used",
    ):
        table.add_column(header, justify="right", no_wrap=True)
    if show_details:
        table.add_column("details", no_wrap=True)
    table.add_column("insolvent", justify="center", no_wrap=True, min_width=9)
    table.add_column("distress", justify="right", no_wrap=True)
    table.add_column("depth", justify="right", no_wrap=True, min_width=5)
    for pr in result.protocols.values():
        insolvent = Text("YES", style="bold red") if pr.insolvent else Text("no")
        distress = (
            f"s{pr.first_distress_step} r{pr.first_distress_round}"
            if pr.first_distress_round is not None
            else "-"
        )
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
            *([details(pr)] if show_details else []),
            insolvent,
            distress,
            fmt.optional_int(pr.depth),
        )
    return table


def assets_table(result: RunResult) -> Table:
    table = Table(title="Assets", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("asset", no_wrap=True)
    for header in (
        "start",
        "shocked",
        "final",
        "impact",
        "sold (units)",
        "slippage",
        "slippage bps",
    ):
        table.add_column(header, justify="right", no_wrap=True)
    for ar in result.assets.values():
        table.add_row(
            ar.name,
            fmt.price(ar.start_price),
            fmt.price(ar.shocked_price),
            fmt.price(ar.final_price),
            fmt.pct(ar.endogenous_impact),
            fmt.units(ar.sold_units),
            fmt.usd(ar.slippage_usd),
            fmt.bps(ar.slippage_bps),
        )
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


def venues_table(result: RunResult) -> Table:
    """Per venue: where liquidation flow went, its slippage, and what arbitrage moved."""
    table = Table(title="Venues", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column(VENUE_HEADERS[0], no_wrap=True)
    for header in VENUE_HEADERS[1:]:
        table.add_column(header, justify="right", no_wrap=True)
    for row in venue_rows(result):
        table.add_row(*row)
    profits = [
        f"{ar.name} {fmt.usd(ar.arbitrage_profit_usd)}"
        for ar in result.assets.values()
        if ar.venues and ar.arbitrage_profit_usd
    ]
    if profits:
        table.caption = "arbitrage profit: " + ", ".join(profits)
        table.caption_justify = "left"
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
    table = Table(title="Coordination layer", box=box.SIMPLE_HEAD, title_justify="left")
    for k, header in enumerate(COORDINATION_HEADERS):
        table.add_column(header, justify="right" if k in (1, 2) else "left")
    for row in coordination_rows(result):
        table.add_row(*row)
    lines = Text("\n".join("  " + line for line in coordination_lines(result)))
    return Group(table, lines, Text(""))


def contagion_tree(result: RunResult) -> RenderableType:
    """Protocols hit by the shock at the root, each later one under the protocol whose selling
    pulled it in (its lowest-depth source); other sources are listed beside it."""
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
        others = sorted(
            {
                f"{e.source} ({e.asset})"
                for e in result.edges
                if e.target == name and (parent is None or e.source != parent[0])
            }
        )
        if parent is not None:
            text.append(f"  via {parent[1]}", style="cyan")
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


def trace_table(result: RunResult) -> Table:
    """One row per round: prices at the end of the round, liquidations and flows."""
    table = Table(title="Rounds", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("step", justify="right")
    table.add_column("round", justify="right")
    names_a = list(result.assets)
    names_p = list(result.protocols)
    for a in names_a:
        table.add_column(f"{a} price", justify="right")
    for a in names_a:
        table.add_column(f"{a} net sold", justify="right")
    for p in names_p:
        table.add_column(f"{p} liq.", justify="right")
    for row in result.trace:
        table.add_row(
            str(row.step),
            str(row.round),
            *(fmt.price(row.prices[a]) for a in names_a),
            *(fmt.units(row.net_sold_units[a]) for a in names_a),
            *(fmt.count(row.liquidations[p]) for p in names_p),
        )
    if result.trace_truncated:
        table.caption = "trace truncated"
    return table
