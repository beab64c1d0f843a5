"""The cross-protocol risk coordination layer (docs/model.md 3k).

Protocols that share risk data see each entity's aggregate leverage across the whole landscape
before the shock and ask over-levered entities for more margin: a lower liquidation threshold
(lending), a higher liquidation ratio (cdp), a higher maintenance margin (perp). The kernel only
sees per-position adjustments (``Lending.lt_cut``, ``Cdp.ratio_add``, ``Perp.mm_add``); this
module decides them, vectorised over the book, and keeps what it decided for the report.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .entities import start_leverage
from .layout import F8

if TYPE_CHECKING:  # the compiler imports this module
    from ..schema.models import Coordination
    from .compiler import Compiled

#: Adjusted entities listed one by one in the report (all of them are adjusted and counted).
LISTED = 50

#: The requirement each participating protocol type tightens.
MEASURES = {"lending": "liquidation_threshold", "cdp": "liquidation_ratio", "perp": "maintenance"}


@dataclass(frozen=True)
class Requirement:
    """One requirement of one protocol for one entity, without and with coordination."""

    protocol: str
    measure: str  # liquidation_threshold (per collateral asset), liquidation_ratio, maintenance
    asset: str | None
    without: float
    with_coordination: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "measure": self.measure,
            "asset": self.asset,
            "without": self.without,
            "with": self.with_coordination,
        }


@dataclass(frozen=True)
class AdjustedEntity:
    entity: int  # index into compiled.entity_names
    account: str
    leverage: float | None  # None: equity <= 0 (infinite leverage)
    margin_add: float
    requirements: list[Requirement]


@dataclass(frozen=True)
class Plan:
    """What the layer decided: the settings, who participates, whom it asked for more margin."""

    settings: Coordination
    participants: list[str]
    adjusted_count: int  # entities with a margin add in at least one participating protocol
    adjusted_positions: int
    listed: list[AdjustedEntity]  # the largest margin adds first (at most LISTED)


def margin_adds(leverage: np.ndarray, c: Coordination) -> np.ndarray:
    """Δ per entity: min(max_margin_add, k x (λ - max)) above the maximum, else 0."""
    over = leverage > c.max_entity_leverage
    if c.margin_add_per_leverage == 0.0:
        return np.zeros(len(leverage), F8)
    with np.errstate(invalid="ignore"):
        raw = c.margin_add_per_leverage * (leverage - c.max_entity_leverage)
    return np.where(over, np.minimum(c.max_margin_add, raw), 0.0)


def coordinate(compiled: Compiled, c: Coordination) -> Compiled:
    """The compiled scenario with the layer's adjustments applied to its positions."""
    names = compiled.protocol_names
    types = compiled.protocol_types
    wanted = set(c.protocols) if c.protocols is not None else None
    participants = [
        n
        for n, t in zip(names, types, strict=True)
        if t in MEASURES and (wanted is None or n in wanted)
    ]
    part = np.array([n in participants for n in names], dtype=bool)
    leverage = start_leverage(compiled)
    delta = margin_adds(leverage, c)
    st = compiled.state
    ent = compiled.entities
    cut = delta[ent["lending"]] * part[st.lending.protocol] if len(ent["lending"]) else np.zeros(0)
    ratio = delta[ent["cdp"]] * part[st.cdp.protocol] if len(ent["cdp"]) else np.zeros(0)
    mm = delta[ent["perp"]] * part[st.perp.protocol] if len(ent["perp"]) else np.zeros(0)
    state = st._replace(
        lending=st.lending._replace(lt_cut=np.ascontiguousarray(cut, F8)),
        cdp=st.cdp._replace(ratio_add=np.ascontiguousarray(ratio, F8)),
        perp=st.perp._replace(mm_add=np.ascontiguousarray(mm, F8)),
    )
    touched = np.zeros(len(compiled.entity_names), dtype=bool)
    positions = 0
    for kind, values in (("lending", cut), ("cdp", ratio), ("perp", mm)):
        hit = values > 0
        positions += int(hit.sum())
        touched[ent[kind][hit]] = True
    adjusted = np.flatnonzero(touched)
    order = sorted(
        adjusted.tolist(), key=lambda e: (-delta[e], -leverage[e], compiled.entity_names[e])
    )
    listed = [_describe(compiled, e, float(leverage[e]), float(delta[e]), part) for e in order]
    plan = Plan(c, participants, len(adjusted), positions, listed[:LISTED])
    return dataclasses.replace(compiled, state=state, coordination=plan)


def without(compiled: Compiled) -> Compiled:
    """The same compiled scenario with every adjustment undone (the comparison run)."""
    st = compiled.state
    state = st._replace(
        lending=st.lending._replace(lt_cut=np.zeros_like(st.lending.lt_cut)),
        cdp=st.cdp._replace(ratio_add=np.zeros_like(st.cdp.ratio_add)),
        perp=st.perp._replace(mm_add=np.zeros_like(st.perp.mm_add)),
    )
    return dataclasses.replace(compiled, state=state, coordination=None)


def _describe(
    compiled: Compiled, e: int, leverage: float, delta: float, part: np.ndarray
) -> AdjustedEntity:
    """The requirements of one entity's positions at participating protocols (before/after)."""
    st, ent, pr = compiled.state, compiled.entities, compiled.protocols
    names, assets = compiled.protocol_names, compiled.asset_names
    reqs: list[Requirement] = []
    for i in np.flatnonzero(ent["lending"] == e).tolist():
        p = int(st.lending.protocol[i])
        if not part[p]:
            continue
        legs = range(int(st.lending.col_start[i]), int(st.lending.col_start[i + 1]))
        for a in sorted({int(st.lending.col_asset[k]) for k in legs}):
            lt = float(pr.lt[p, a])
            reqs.append(
                Requirement(names[p], MEASURES["lending"], assets[a], lt, max(0.0, lt - delta))
            )
    for i in np.flatnonzero(ent["cdp"] == e).tolist():
        p = int(st.cdp.protocol[i])
        if part[p]:
            ratio = float(pr.rec.liq_ratio[p])
            reqs.append(Requirement(names[p], MEASURES["cdp"], None, ratio, ratio + delta))
    for i in np.flatnonzero(ent["perp"] == e).tolist():
        p = int(st.perp.protocol[i])
        if part[p]:
            mm = float(pr.rec.maintenance[p])
            asset = assets[int(st.perp.asset[i])]
            reqs.append(Requirement(names[p], MEASURES["perp"], asset, mm, mm + delta))
    return AdjustedEntity(
        e,
        compiled.entity_names[e],
        leverage if np.isfinite(leverage) else None,
        delta,
        reqs,
    )
