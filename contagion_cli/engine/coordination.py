"""The coordination layer's report: whom it adjusted, and the same run without it."""

from __future__ import annotations

from typing import Any

from ..compile.compiler import Compiled
from ..compile.coordination import Plan, without
from ..compile.entities import aggregate
from ..results.run import CoordinatedEntity, CoordinationResult
from .collect import collect
from .raw import run_raw


def compare(compiled: Compiled, raw: Any, executor: Any) -> Any:
    """The report: whom the layer adjusted, and the same run without coordination."""
    plan: Plan = compiled.coordination
    base = without(compiled)
    raw_without = run_raw(base, False, executor)
    other = collect(base, raw_without.outputs, raw_without.status, raw_without.state)
    with_ = aggregate(compiled, raw.state, raw.outputs.final_price)
    without_ = aggregate(base, raw_without.state, raw_without.outputs.final_price)
    entities = [
        CoordinatedEntity(
            account=e.account,
            leverage=e.leverage,
            margin_add=e.margin_add,
            requirements=[r.to_dict() for r in e.requirements],
            liquidated_positions=int(with_["liquidated"][e.entity]),
            liquidated_positions_without=int(without_["liquidated"][e.entity]),
            loss_usd=float(with_["loss"][e.entity]),
            loss_usd_without=float(without_["loss"][e.entity]),
        )
        for e in plan.listed
    ]
    c = plan.settings
    return CoordinationResult(
        participants=plan.participants,
        max_entity_leverage=c.max_entity_leverage,
        margin_add_per_leverage=c.margin_add_per_leverage,
        max_margin_add=c.max_margin_add,
        adjusted_entities=plan.adjusted_count,
        adjusted_positions=plan.adjusted_positions,
        entities=entities,
        without={
            "liquidations": other.liquidations,
            "liquidated_usd": other.liquidated_usd,
            "bad_debt_usd": other.bad_debt_usd,
            "shortfall_usd": other.shortfall_usd,
            "insolvent_protocols": list(other.insolvent_protocols),
            "propagation_depth": other.propagation_depth,
        },
    )
