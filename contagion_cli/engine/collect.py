"""Read the kernel's raw outputs (and final state) back into a :class:`RunResult`."""

from __future__ import annotations

import math

import numpy as np

from .. import __version__
from ..compile.compiler import Compiled, State
from ..compile.layout import STATUS_CONVERGED, Outputs, OutputView
from ..results.run import (
    AdlCut,
    AssetResult,
    Edge,
    ProtocolResult,
    RunResult,
    StepResult,
    TraceRound,
    VenueResult,
)

#: The name of the contagion channel "it lent to a protocol that defaulted".
CREDIT = "credit"

#: ADL cuts listed per perp protocol (largest first); the JSON's count covers all of them.
MAX_ADL_CUTS = 20


def collect(compiled: Compiled, o: Outputs, status: int, state: State | None = None) -> RunResult:
    """Turn raw kernel outputs (and, for per-position detail, the final state) into results."""
    cuts = _adl_cuts(compiled, state)
    names_a = compiled.asset_names
    names_p = compiled.protocol_names

    final_price = np.asarray(o.final_price, dtype=float)
    held = np.asarray(o.held_units, dtype=float)
    protocols: dict[str, ProtocolResult] = {}
    for p, name in enumerate(names_p):
        reserve = float(compiled.protocols.rec.reserve[p])
        bad = float(o.bad_debt_usd[p])
        short = float(o.shortfall_usd[p])
        # losses its own book realised plus what protocols it lent to failed to repay, against
        # its reserve plus what it earned in the run (penalties, fees)
        losses = bad + float(o.credit_losses_usd[p])
        buffer = reserve + float(o.income_usd[p])
        depth = int(o.depth[p])
        protocols[name] = ProtocolResult(
            name=name,
            type=compiled.protocol_types[p],
            positions=int(compiled.position_counts[p]),
            liquidations=int(o.liquidations[p]),
            liquidated_usd=float(o.liquidated_usd[p]),
            repaid_usd=float(o.repaid_usd[p]),
            collateral_seized_usd=float(o.seized_usd[p]),
            collateral_sold_usd=float(o.proceeds_usd[p]),
            liquidator_profit_usd=_liquidator_profit(
                compiled.protocol_types[p], o, p, held, final_price
            ),
            bad_debt_usd=bad,
            bad_debt_positions=int(o.closed_positions[p]),
            shortfall_usd=short,
            reserve_usd=reserve,
            reserve_used_usd=min(buffer, losses),
            uncovered_usd=max(0.0, losses + short - buffer),
            insolvent=bool(losses + short > buffer),
            first_distress_round=int(o.first_distress_round[p]) if depth >= 0 else None,
            first_distress_step=int(o.first_distress_step[p]) + 1 if depth >= 0 else None,
            depth=depth if depth >= 0 else None,
            market_shortfall_usd=float(o.market_shortfall_usd[p]),
            income_usd=float(o.income_usd[p]),
            haircut=float(o.haircut[p]),
            auctions=int(o.auctions[p]),
            zero_bid_auctions=int(o.zero_bid_auctions[p]),
            zero_bid_collateral_usd=float(o.zero_bid_usd[p]),
            auction_raised_usd=float(o.auction_raised_usd[p]),
            returned_to_owners_usd=float(o.returned_usd[p]),
            credit_losses_usd=float(o.credit_losses_usd[p]),
            skipped_unprofitable=int(o.skipped_unprofitable[p]),
            skipped_capital=int(o.skipped_capital[p]),
            paused_rounds=int(o.paused_rounds[p]),
            deferred_liquidations=int(o.deferred_liquidations[p]),
            deferred_debt_usd=float(o.deferred_debt_usd[p]),
            deficit_usd=float(o.deficit_usd[p]),
            adl_usd=float(o.adl_usd[p]),
            adl_notional_usd=float(o.adl_notional_usd[p]),
            adl_positions=len(cuts.get(p, ())),
            adl_cuts=tuple(cuts.get(p, ())[:MAX_ADL_CUTS]),
            deleveraging_sales_usd=float(o.sales_usd[p]),
            hedge_units_traded=float(o.hedge_units[p]),
        )

    assets: dict[str, AssetResult] = {}
    best_asset, best_move = None, 0.0
    for a, name in enumerate(names_a):
        start = float(compiled.assets.start_price[a])
        shocked = float(o.shocked_price[a])
        final = float(o.final_price[a])
        exo = shocked / start - 1.0
        total = final / start - 1.0
        amp = total / exo if abs(exo) > 1e-12 else None
        if abs(exo) > abs(best_move) + 1e-15:
            best_asset, best_move = name, exo
        notional = float(o.traded_notional_usd[a])
        slip = float(o.slippage_usd[a])
        assets[name] = AssetResult(
            name=name,
            start_price=start,
            shocked_price=shocked,
            final_price=final,
            endogenous_impact=final / shocked - 1.0,
            total_move=total,
            amplification=amp,
            sold_units=float(o.sold_units[a]),
            bought_units=float(o.bought_units[a]),
            sale_proceeds_usd=float(o.sale_proceeds_usd[a]),
            slippage_usd=slip,
            slippage_bps=slip / notional * 1e4 if notional > 0 else 0.0,
            unfilled_units=float(o.unfilled_units[a]),
            held_units=float(held[:, a].sum()),
            written_off_units=float(np.asarray(o.written_off_units)[:, a].sum()),
            **_venue_results(compiled, o, state, a),
        )

    n_edges = int(o.counters[0])
    edges = [
        Edge(
            names_p[int(o.edge_src[e])],
            names_p[int(o.edge_dst[e])],
            # the channel past the last asset is a loan between protocols of the scenario
            names_a[int(o.edge_asset[e])] if o.edge_asset[e] < len(names_a) else CREDIT,
            int(o.edge_round[e]),
        )
        for e in range(n_edges)
    ]
    steps = [
        StepResult(step=t + 1, rounds=int(o.step_rounds[t]), converged=bool(o.step_converged[t]))
        for t in range(compiled.n_steps)
    ]
    trace = [
        TraceRound(
            step=int(o.trace_step[k]) + 1,
            round=int(o.trace_round[k]),
            prices={n: float(o.trace_price[k, a]) for a, n in enumerate(names_a)},
            net_sold_units={n: float(o.trace_net_units[k, a]) for a, n in enumerate(names_a)},
            liquidations={n: int(o.trace_liquidations[k, p]) for p, n in enumerate(names_p)},
            repaid_usd={n: float(o.trace_repaid_usd[k, p]) for p, n in enumerate(names_p)},
            skipped={
                n: int(o.trace_skipped[k, p] - (o.trace_skipped[k - 1, p] if k > 0 else 0))
                for p, n in enumerate(names_p)
            },
            flows={
                n: {
                    m: float(o.trace_flow_units[k, p, a])
                    for a, m in enumerate(names_a)
                    if o.trace_flow_units[k, p, a] != 0.0
                }
                for p, n in enumerate(names_p)
            },
        )
        for k in range(int(o.counters[1]))
    ]
    depths = [pr.depth for pr in protocols.values() if pr.depth is not None]
    amplification = assets[best_asset].amplification if best_asset is not None else None
    return RunResult(
        scenario=compiled.scenario.name,
        version=__version__,
        converged=status == STATUS_CONVERGED,
        rounds=int(o.counters[3]),
        total_rounds=int(o.counters[2]),
        steps=steps,
        liquidations=int(o.liquidations.sum()),
        liquidated_usd=float(o.liquidated_usd.sum()),
        bad_debt_usd=float(o.bad_debt_usd.sum()),
        shortfall_usd=float(o.shortfall_usd.sum()),
        adl_usd=float(o.adl_usd.sum()),
        insolvent_protocols=[n for n, pr in protocols.items() if pr.insolvent],
        propagation_depth=max(depths) if depths else 0,
        amplification=amplification
        if amplification is None or math.isfinite(amplification)
        else None,
        amplification_asset=best_asset,
        protocols=protocols,
        assets=assets,
        edges=edges,
        trace=trace,
        trace_truncated=bool(trace) and int(o.counters[2]) > len(trace),
    )


def _liquidator_profit(
    kind: str, o: Outputs, p: int, held: np.ndarray, final_price: np.ndarray
) -> float:
    """What third parties made on a protocol's liquidations (docs/model.md 3, 3b): lending
    liquidators received the sale proceeds and paid the debt they repaid; cdp keepers paid
    for the lots they won at a discount. Both hold what they did not sell, valued at the final
    market price (lending liquidators paid what the debt cost them on its market, section 3).
    Types whose positions are closed by the protocol itself have none: 0."""
    kept = float(np.dot(held[p], final_price))
    if kind == "lending":
        return float(o.proceeds_usd[p]) - float(o.debt_cost_usd[p]) + kept
    if kind == "cdp":
        return kept - float(o.keeper_paid_usd[p])
    return 0.0


def _adl_cuts(compiled: Compiled, state: State | None) -> dict[int, list[AdlCut]]:
    """Who was auto-deleveraged, per perp protocol, largest cut first."""
    if state is None:
        return {}
    perp = state.perp
    out: dict[int, list[AdlCut]] = {}
    for i in np.flatnonzero(perp.adl_cut > 0.0):
        p = int(perp.protocol[i])
        entity = compiled.entity_names[int(compiled.entities["perp"][i])]
        asset = compiled.asset_names[int(perp.asset[i])]
        out.setdefault(p, []).append(AdlCut(entity, asset, float(perp.adl_cut[i])))
    for cuts in out.values():
        cuts.sort(key=lambda c: (-c.cut_usd, c.account))
    return out


def _venue_results(compiled: Compiled, o: OutputView, state: State | None, a: int) -> dict:
    """Per-venue results of an asset with several venues (nothing for one venue or none)."""
    first = int(compiled.assets.venue_start[a])
    count = int(compiled.assets.venue_count[a])
    if count < 2 or state is None:
        return {}
    venues = [
        VenueResult(
            name=compiled.venue_names[v],
            final_price=float(state.venues.price[v]),
            sold_units=float(o.venue_sold_units[v]),
            bought_units=float(o.venue_bought_units[v]),
            proceeds_usd=float(o.venue_proceeds_usd[v]),
            cost_usd=float(o.venue_cost_usd[v]),
            slippage_usd=float(o.venue_slippage_usd[v]),
            arbitrage_sold_units=float(o.venue_arb_sold_units[v]),
            arbitrage_bought_units=float(o.venue_arb_bought_units[v]),
        )
        for v in range(first, first + count)
    ]
    return {"venues": venues, "arbitrage_profit_usd": float(o.arbitrage_profit_usd[a])}
