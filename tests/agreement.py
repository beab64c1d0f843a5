"""Kernel and reference on one scenario: every count equal, every figure within 1e-9.

Used by the agreement tests of every part of the model (tests/kernel/test_reference_agreement.py,
venues, adversarial books, coordination).
"""

from __future__ import annotations

from helpers import close, run_scenario, scenario_from_dict
from reference import simulate

REL = 1e-9


MIXED_KEYS = (
    ("liquidated_usd", "liquidated_usd"),
    ("income_usd", "income_usd"),
    ("adl_usd", "adl_usd"),
    ("adl_notional_usd", "adl_notional_usd"),
    ("deficit_usd", "deficit_usd"),
    ("hedge_units_traded", "hedge_units"),
    ("deleveraging_sales_usd", "sales_usd"),
    ("zero_bid_collateral_usd", "zero_bid_usd"),
    ("auction_raised_usd", "auction_raised_usd"),
    ("returned_to_owners_usd", "returned_usd"),
    ("haircut", "haircut"),
    ("credit_losses_usd", "credit_losses_usd"),
    ("market_shortfall_usd", "market_shortfall_usd"),
    ("deferred_debt_usd", "deferred_debt_usd"),
)


def assert_agree(data: dict, mixed: bool = False) -> None:
    s = scenario_from_dict(data)
    got = run_scenario(s)
    ref = simulate(s)
    assert got.converged == ref["converged"]
    assert got.rounds == ref["rounds"]
    assert got.total_rounds == ref["total_rounds"]
    assert [st.rounds for st in got.steps] == ref["step_rounds"]
    for name, pr in got.protocols.items():
        want = ref["protocols"][name]
        assert pr.liquidations == want.liquidations, name
        assert pr.bad_debt_positions == want.bad_debt_positions, name
        assert pr.depth == want.depth, name
        assert pr.first_distress_round == want.first_distress_round, name
        assert pr.first_distress_step == want.first_distress_step, name
        for key, ref_key in (
            ("repaid_usd", "repaid_usd"),
            ("collateral_seized_usd", "seized_usd"),
            ("collateral_sold_usd", "proceeds_usd"),
            ("bad_debt_usd", "bad_debt_usd"),
            ("shortfall_usd", "shortfall_usd"),
            ("liquidator_profit_usd", "liquidator_profit_usd"),
        ):
            assert close(getattr(pr, key), getattr(want, ref_key), rel=REL), (name, key)
        for key, ref_key in MIXED_KEYS if mixed else ():
            assert close(getattr(pr, key), getattr(want, ref_key), rel=REL), (name, key)
        assert pr.auctions == want.auctions and pr.zero_bid_auctions == want.zero_bid_auctions
        if mixed:
            for key in (
                "skipped_unprofitable",
                "skipped_capital",
                "paused_rounds",
                "deferred_liquidations",
            ):
                assert getattr(pr, key) == getattr(want, key), (name, key)
    for name, ar in got.assets.items():
        want = ref["assets"][name]
        for key in (
            "shocked_price",
            "final_price",
            "sold_units",
            "bought_units",
            "sale_proceeds_usd",
            "slippage_usd",
            "unfilled_units",
            "held_units",
            "written_off_units",
        ):
            assert close(getattr(ar, key), want[key], rel=REL, abs_=1e-7), (name, key)
    assert {(e.source, e.target, e.asset, e.round) for e in got.edges} == ref["edges"]
