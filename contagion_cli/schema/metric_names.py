"""The names a check, a gate, a sweep column or a diff may give a metric, and their kinds.

A metric's name is its path in ``contagion run --format json``: ``bad_debt_usd``,
``protocols.<name>.<field>``, ``assets.<name>.<field>``. These names are part of the stable
interface (MODEL.md §7: extend, never rename), so they are listed here, where the schema can
check a scenario's ``expected:`` block without a run; ``tests/results`` holds them equal to the
numeric fields of the result classes. The kind says how a value is written: ``int``, ``bool``
or ``float``.
"""

from __future__ import annotations

#: Summary metrics, in the order of sweep columns.
SYSTEM_METRICS: dict[str, str] = {
    "converged": "bool",
    "rounds": "int",
    "total_rounds": "int",
    "liquidations": "int",
    "liquidated_usd": "float",
    "bad_debt_usd": "float",
    "shortfall_usd": "float",
    "insolvent_count": "int",
    "propagation_depth": "int",
    "amplification": "float",
}

#: Names kept from earlier versions, and the metric each means. In ``run``'s JSON
#: ``insolvent_protocols`` is the list of insolvent protocols (MODEL.md §7) and
#: ``insolvent_count`` its length; a gate, a sweep axis of metrics, ``--fail-if`` and an
#: ``expected:`` check that name ``insolvent_protocols`` mean the count, as they always have
#: (and a sweep still writes a column of that name, beside ``insolvent_count``).
METRIC_ALIASES: dict[str, str] = {"insolvent_protocols": "insolvent_count"}

#: Numeric fields of ``protocols.<name>``.
PROTOCOL_FIELDS: dict[str, str] = {
    "positions": "int",
    "liquidations": "int",
    "liquidated_usd": "float",
    "repaid_usd": "float",
    "collateral_seized_usd": "float",
    "collateral_sold_usd": "float",
    "liquidator_profit_usd": "float",
    "bad_debt_usd": "float",
    "bad_debt_positions": "int",
    "shortfall_usd": "float",
    "reserve_usd": "float",
    "reserve_used_usd": "float",
    "uncovered_usd": "float",
    "insolvent": "bool",
    "first_distress_round": "int",
    "first_distress_step": "int",
    "depth": "int",
    "market_shortfall_usd": "float",
    "income_usd": "float",
    "credit_losses_usd": "float",
    "skipped_unprofitable": "int",
    "skipped_capital": "int",
    "paused_rounds": "int",
    "deferred_liquidations": "int",
    "deferred_debt_usd": "float",
    "haircut": "float",
    "auctions": "int",
    "zero_bid_auctions": "int",
    "zero_bid_collateral_usd": "float",
    "auction_raised_usd": "float",
    "returned_to_owners_usd": "float",
    "deficit_usd": "float",
    "adl_usd": "float",
    "adl_notional_usd": "float",
    "adl_positions": "int",
    "deleveraging_sales_usd": "float",
    "hedge_units_traded": "float",
}

#: Numeric fields of ``assets.<name>``.
ASSET_FIELDS: dict[str, str] = {
    "start_price": "float",
    "shocked_price": "float",
    "final_price": "float",
    "endogenous_impact": "float",
    "total_move": "float",
    "amplification": "float",
    "sold_units": "float",
    "bought_units": "float",
    "sale_proceeds_usd": "float",
    "slippage_usd": "float",
    "slippage_bps": "float",
    "unfilled_units": "float",
    "held_units": "float",
    "written_off_units": "float",
    "arbitrage_profit_usd": "float",
}

#: Per-protocol metrics a sweep row carries by default.
PROTOCOL_COLUMNS: tuple[str, ...] = (
    "liquidations",
    "repaid_usd",
    "bad_debt_usd",
    "shortfall_usd",
    "insolvent",
)

#: Summary metrics an ``expected:`` check may name: the sweep's and the ADL total.
EXPECTED_SYSTEM_METRICS: dict[str, str] = {
    **SYSTEM_METRICS,
    **{alias: SYSTEM_METRICS[name] for alias, name in METRIC_ALIASES.items()},
    "adl_usd": "float",
}


def metric_kind(name: str) -> str:
    """The kind of a metric given by its full name (``float`` when it is not a known one)."""
    if name in EXPECTED_SYSTEM_METRICS:
        return EXPECTED_SYSTEM_METRICS[name]
    parts = name.split(".")
    if len(parts) == 3:
        fields = PROTOCOL_FIELDS if parts[0] == "protocols" else ASSET_FIELDS
        return fields.get(parts[2], "float")
    return "float"
