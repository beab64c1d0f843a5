"""Entities: an account that appears in several protocols is one entity (MODEL.md §5).

Sums,  per entity and across every protocol, what no single protocol sees: collateral,
debt, exposure, leverage, what it lost. Vectorised over the position arrays (``np.bincount``
by entity index), so it costs a few passes over the book, not Python objects per position.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .layout import POS_CLOSED

if TYPE_CHECKING:  # the compiler imports this module (coordination, before the run)
    from .compiler import Compiled, State


def _col_values(start: np.ndarray, assets: np.ndarray, units: np.ndarray, price: np.ndarray):
    """Value of each position's legs (CSR) at ``price``."""
    n = len(start) - 1
    owner = np.repeat(np.arange(n), np.diff(start))
    return np.bincount(owner, weights=units * price[assets], minlength=n)


def start_leverage(compiled: Compiled) -> np.ndarray:
    """Every entity's leverage at the start prices, as ``--entities`` reports it:
    exposure / equity; inf when the equity is <= 0 with an exposure, 0 without exposure."""
    n_e = len(compiled.entity_names)
    if n_e == 0:
        return np.zeros(0)
    totals, _ = entity_totals(compiled, compiled.state, compiled.assets.start_price, False)
    equity = totals["assets0"] - totals["debt0"]
    exposure = totals["exposure0"]
    with np.errstate(divide="ignore", invalid="ignore"):
        lev = np.where(equity > 0, exposure / np.where(equity > 0, equity, 1.0), np.inf)
    return np.where(exposure > 0, lev, 0.0)


def aggregate(compiled: Compiled, final: State, final_price: np.ndarray) -> dict[str, np.ndarray]:
    """Per entity (vectorised): positions liquidated and loss (equity at the start - at the
    end), the figures a comparison of two runs of one book needs."""
    if len(compiled.entity_names) == 0:
        return {"liquidated": np.zeros(0), "loss": np.zeros(0)}
    totals, _ = entity_totals(compiled, final, final_price, False)
    loss = (totals["assets0"] - totals["debt0"]) - (totals["assets1"] - totals["debt1"])
    return {"liquidated": totals["liquidated"], "loss": loss}


def entity_totals(
    compiled: Compiled, final: State, final_price: np.ndarray, track: bool
) -> tuple[dict[str, np.ndarray], list[set[int]]]:
    """Per entity sums over every protocol (``track``: also which protocols it is in)."""
    n_e = len(compiled.entity_names)
    start, p0, p1 = compiled.state, compiled.assets.start_price, final_price
    totals = {
        k: np.zeros(n_e)
        for k in (
            "assets0",
            "assets1",
            "debt0",
            "debt1",
            "exposure0",
            "positions",
            "liquidated",
            "adl",
        )
    }
    protocols: list[set[int]] = [set() for _ in range(n_e)]

    def add(key: str, ent: np.ndarray, values: np.ndarray) -> None:
        totals[key] += np.bincount(ent, weights=values, minlength=n_e)

    def mark(ent: np.ndarray, proto: np.ndarray, touched: np.ndarray) -> None:
        add("positions", ent, np.ones(len(ent)))
        add("liquidated", ent, touched.astype(float))
        if not track:
            return
        for e, p in zip(ent.tolist(), proto.tolist(), strict=True):
            protocols[e].add(p)

    # lending: collateral and debt legs
    L0, L1, ent = start.lending, final.lending, compiled.entities["lending"]
    if len(ent):
        c0 = _col_values(L0.col_start, L0.col_asset, L0.col_units, p0)
        c1 = _col_values(L1.col_start, L1.col_asset, L1.col_units, p1)
        d0 = _col_values(L0.debt_start, L0.debt_asset, L0.debt_units, p0)
        d1 = _col_values(L1.debt_start, L1.debt_asset, L1.debt_units, p1)
        add("assets0", ent, c0)
        add("assets1", ent, c1)
        add("exposure0", ent, c0)
        add("debt0", ent, d0)
        add("debt1", ent, d1)
        touched = (
            np.bincount(
                np.repeat(np.arange(len(ent)), np.diff(L0.col_start)),
                weights=(L1.col_units != L0.col_units).astype(float),
                minlength=len(ent),
            )
            > 0
        )
        mark(ent, L0.protocol, touched)
    # cdp: collateral legs, debt in stablecoin at par (its start / final price)
    C0, C1, ent = start.cdp, final.cdp, compiled.entities["cdp"]
    if len(ent):
        c0 = _col_values(C0.col_start, C0.col_asset, C0.col_units, p0)
        c1 = _col_values(C1.col_start, C1.col_asset, C1.col_units, p1)
        stable = compiled.protocols.rec.stablecoin[C0.protocol]
        add("assets0", ent, c0)
        add("assets1", ent, c1)
        add("exposure0", ent, c0)
        add("debt0", ent, C0.debt * p0[stable])
        add("debt1", ent, C1.debt * p0[stable])
        mark(ent, C0.protocol, C1.status != C0.status)
    # perps: margin is the asset, |size| x price the exposure; a closed one keeps what it got
    P0, P1, ent = start.perp, final.perp, compiled.entities["perp"]
    if len(ent):
        equity1 = np.where(
            P1.status == POS_CLOSED,
            P1.realized,
            P1.margin + P1.size * (p1[P1.asset] - P1.entry),
        )
        add("assets0", ent, P0.margin + P0.size * (p0[P0.asset] - P0.entry))
        add("assets1", ent, equity1)
        add("exposure0", ent, np.abs(P0.size) * p0[P0.asset])
        # a position cut by auto-deleveraging stays open: it paid for others' losses (its
        # loss shows it, and adl_usd), it was not liquidated
        add("adl", ent, P1.adl_cut)
        mark(ent, P0.protocol, P1.status == POS_CLOSED)
    # leveraged: holdings and USD debt
    V0, V1, ent = start.leveraged, final.leveraged, compiled.entities["leveraged"]
    if len(ent):
        h0 = _col_values(V0.hold_start, V0.hold_asset, V0.hold_units, p0)
        h1 = _col_values(V1.hold_start, V1.hold_asset, V1.hold_units, p1)
        add("assets0", ent, h0)
        add("assets1", ent, h1 + V1.cash)  # proceeds beyond the debt stay the owner's
        add("exposure0", ent, h0)
        add("debt0", ent, V0.debt)
        add("debt1", ent, V1.debt)
        mark(ent, V0.protocol, V1.debt != V0.debt)
    return totals, protocols
