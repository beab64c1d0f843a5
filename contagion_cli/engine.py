"""Run a compiled scenario through the kernel and read the raw arrays back into results."""

from __future__ import annotations

import math
from typing import NamedTuple

from . import __version__
from .compiler import Compiled
from .kernel import run_cascade
from .layout import (
    STATUS_CONVERGED,
    Assets,
    Book,
    Lending,
    Outputs,
    Params,
    Venues,
    empty_outputs,
)
from .results import AssetResult, Edge, ProtocolResult, RunResult, StepResult, TraceRound

#: Rounds recorded by ``--trace`` at most (a trace row is small; a runaway cascade is not).
DEFAULT_TRACE_CAP = 10_000


class RawRun(NamedTuple):
    """The kernel's outputs, its status, and the state arrays as the run left them."""

    outputs: Outputs
    status: int
    assets: Assets
    venues: Venues
    book: Book
    lending: Lending


def run(compiled: Compiled, trace: bool = False) -> RunResult:
    """Run the scenario once on fresh copies of its state; the compiled arrays stay untouched."""
    raw = run_raw(compiled, trace)
    return collect(compiled, raw.outputs, raw.status)


def run_raw(compiled: Compiled, trace: bool = False) -> RawRun:
    """Run the kernel on fresh copies of the state; raw arrays, no result objects."""
    assets, venues, book, lending = compiled.fresh_state()
    cap = min(DEFAULT_TRACE_CAP, compiled.n_steps * compiled.params.max_rounds) if trace else 0
    params = Params(*compiled.params[:-1], trace_cap=int(cap))
    out = empty_outputs(compiled.n_protocols, compiled.n_assets, compiled.n_steps, cap)
    status = run_cascade(
        assets, venues, book, lending, compiled.protocols, compiled.path, params, out
    )
    return RawRun(out, int(status), assets, venues, book, lending)


def collect(compiled: Compiled, o: Outputs, status: int) -> RunResult:
    """Turn raw kernel outputs into a :class:`RunResult`."""
    names_a = compiled.asset_names
    names_p = compiled.protocol_names

    protocols: dict[str, ProtocolResult] = {}
    for p, name in enumerate(names_p):
        reserve = float(compiled.protocols.reserve[p])
        bad = float(o.bad_debt_usd[p])
        short = float(o.shortfall_usd[p])
        depth = int(o.depth[p])
        protocols[name] = ProtocolResult(
            name=name,
            type=compiled.protocol_types[p],
            positions=int(compiled.position_counts[p]),
            liquidations=int(o.liquidations[p]),
            repaid_usd=float(o.repaid_usd[p]),
            collateral_seized_usd=float(o.seized_usd[p]),
            collateral_sold_usd=float(o.proceeds_usd[p]),
            liquidator_profit_usd=float(o.proceeds_usd[p] - o.repaid_usd[p]),
            bad_debt_usd=bad,
            bad_debt_positions=int(o.closed_positions[p]),
            shortfall_usd=short,
            reserve_usd=reserve,
            reserve_used_usd=min(reserve, bad),
            uncovered_usd=max(0.0, bad + short - reserve),
            insolvent=bool(bad + short > reserve),
            first_distress_round=int(o.first_distress_round[p]) if depth >= 0 else None,
            first_distress_step=int(o.first_distress_step[p]) + 1 if depth >= 0 else None,
            depth=depth if depth >= 0 else None,
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
        )

    n_edges = int(o.counters[0])
    edges = [
        Edge(
            names_p[int(o.edge_src[e])],
            names_p[int(o.edge_dst[e])],
            names_a[int(o.edge_asset[e])],
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
        liquidated_usd=float(o.repaid_usd.sum()),
        bad_debt_usd=float(o.bad_debt_usd.sum()),
        shortfall_usd=float(o.shortfall_usd.sum()),
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
