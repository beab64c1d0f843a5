"""Hand-computed cases (issue 2): each number below is worked out on paper in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from agreement import assert_agree
from cases import CHAIN
from helpers import close, run_scenario, scenario_from_yaml

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.raw import run_raw
from contagion_cli.kernel import venue_buy, venue_sell

AAVE_ETH = "{ltv: 0.80, liquidation_threshold: 0.825, liquidation_bonus: 0.05}"

#: Liquidators that liquidate every eligible position and sell the whole seizure, at any loss
#: (``settings.liquidators: {mode: any_loss}``): the cases about a market taking a fixed sale.
ANY_LOSS = "name: hand\nsettings: {liquidators: {mode: any_loss}}"


def one_position(start: float, shock: float, eth: float, debt: float, market: str = "") -> str:
    return f"""
name: hand
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: {start}{market}}}
protocols:
  aave:
    type: lending
    collateral: {{ETH: {AAVE_ETH}}}
    positions:
      - {{account: alice, collateral: {{ETH: {eth}}}, debt: {{USDC: {debt}}}}}
shocks:
  - {{ETH: {shock}}}
"""


def health_factor(lending, i: int, eth_price: float, lt: float = 0.825) -> float:
    col = lending.col_units[lending.col_start[i] : lending.col_start[i + 1]].sum()
    debt = lending.debt_units[lending.debt_start[i] : lending.debt_start[i + 1]].sum()
    return col * eth_price * lt / debt


def test_aave_v3_single_liquidation():
    # 10 ETH, LT 0.825, debt 16,000 USDC; ETH 2000 -> 1900 (no market: the price stays at 1900)
    # HF = 10 * 1900 * 0.825 / 16000 = 0.9797 >= 0.95 -> close factor 0.5
    # repay R = min(0.5 * 16000, 10 * 1900 / 1.05) = 8000; seize 8000 * 1.05 / 1900 = 4.4211 ETH
    # after: 5.5789 ETH, 8000 USDC: HF = 5.5789 * 1900 * 0.825 / 8000 = 1.0931
    s = scenario_from_yaml(one_position(2000, -0.05, 10, 16000))
    compiled = compile_scenario(s)
    hf_before = health_factor(compiled.state.lending, 0, 1900.0)
    assert hf_before == pytest.approx(0.9797, abs=5e-5)
    assert 0.95 <= hf_before < 1.0  # eligible, and above full_close_below_hf: close factor 0.5
    raw = run_raw(compiled)
    o = raw.outputs
    assert o.liquidations[0] == 1
    assert o.repaid_usd[0] == pytest.approx(8000.0, rel=1e-12)
    assert o.seized_units[0, 1] == pytest.approx(4.421052631578947, rel=1e-12)
    assert o.seized_units[0, 1] == pytest.approx(4.4211, abs=5e-5)
    assert raw.lending.debt_units[0] == pytest.approx(8000.0)
    assert health_factor(raw.lending, 0, 1900.0) == pytest.approx(1.0931, abs=5e-5)
    assert o.bad_debt_usd[0] == 0.0
    result = run_scenario(s)
    assert result.rounds == 1 and result.converged
    assert result.protocols["aave"].depth == 0
    assert result.protocols["aave"].first_distress_round == 1


def test_full_close_below_095():
    # HF = 10 * 1800 * 0.825 / 16000 = 0.928 < 0.95 -> close factor 1
    # repay min(16000, 18000 / 1.05 = 17142.86) = 16000: the whole debt, seize 16800/1800 ETH
    s = scenario_from_yaml(one_position(2000, -0.10, 10, 16000))
    raw = run_raw(compile_scenario(s))
    assert raw.outputs.repaid_usd[0] == pytest.approx(16000.0)
    assert raw.outputs.seized_units[0, 1] == pytest.approx(16800.0 / 1800.0)
    assert raw.lending.debt_units[0] == 0.0
    assert raw.outputs.liquidations[0] == 1


def test_no_shock_changes_nothing():
    s = scenario_from_yaml(
        one_position(
            2000, 0.0, 10, 16000, ", market: {type: cpmm, base_reserve: 100, quote_reserve: 200000}"
        )
    )
    result = run_scenario(s)
    assert result.liquidations == 0
    assert result.rounds == 0
    assert result.bad_debt_usd == 0.0
    assert result.assets["ETH"].final_price == 2000.0
    assert result.assets["ETH"].shocked_price == 2000.0
    assert result.protocols["aave"].depth is None
    assert result.propagation_depth == 0
    assert result.edges == []


def test_position_ending_in_bad_debt():
    # 10 ETH at 1000, debt 7000 (HF 1.18); ETH -40% -> 600: collateral 6000 < debt
    # HF = 6000 * 0.825 / 7000 = 0.707 -> CF 1; by collateral 6000 / 1.05 = 5714.29 < 7000
    # repay 5714.29, seize all 10 ETH; the 1285.71 left is bad debt, the position is closed
    s = scenario_from_yaml(one_position(1000, -0.40, 10, 7000))
    raw = run_raw(compile_scenario(s))
    o = raw.outputs
    assert o.repaid_usd[0] == pytest.approx(6000 / 1.05)
    assert o.seized_units[0, 1] == 10.0
    assert o.bad_debt_usd[0] == pytest.approx(7000 - 6000 / 1.05)
    assert o.written_off_units[0, 0] == pytest.approx(7000 - 6000 / 1.05)
    assert o.closed_positions[0] == 1
    assert raw.lending.status[0] == 1
    result = run_scenario(s)
    assert result.bad_debt_usd == pytest.approx(1285.7142857142857)
    assert result.protocols["aave"].bad_debt_positions == 1
    assert result.protocols["aave"].shortfall_usd == 0.0  # closed: its loss is bad debt now
    assert result.protocols["aave"].insolvent  # no reserve


def test_chain_across_two_protocols_has_depth_one():
    result = run_scenario(scenario_from_yaml(CHAIN))
    first, second = result.protocols["first"], result.protocols["second"]
    assert first.depth == 0 and first.first_distress_round == 1
    assert second.depth == 1 and second.first_distress_round == 2
    assert result.propagation_depth == 1
    assert [(e.source, e.target, e.asset, e.round) for e in result.edges] == [
        ("first", "second", "ETH", 2)
    ]
    assert first.liquidations >= 1 and second.liquidations >= 1
    # the cascade moved ETH below the exogenous price
    assert result.assets["ETH"].final_price < result.assets["ETH"].shocked_price == 800.0


def _cpmm_venue(fee: float):
    s = scenario_from_yaml(f"""
name: pool
assets:
  USDC: {{price: 1.0}}
  TKN: {{price: 1.0, market: {{type: cpmm, base_reserve: 1000, quote_reserve: 1000, fee: {fee}}}}}
protocols:
  p: {{type: lending, collateral: {{TKN: {AAVE_ETH}}}}}
shocks: [{{TKN: 0.0}}]
""")
    c = compile_scenario(s)
    st = c.fresh_state()
    venues, book = st.venues, st.book
    return venues, book


def test_uniswap_v2_sell_numbers():
    # 1000/1000 pool, fee 0.3%: sell 100 -> 1000 * 99.7 / 1099.7 = 90.661089 out;
    # reserves (1100, 909.338911), mid 0.826672
    venues, book = _cpmm_venue(0.003)
    out, filled = venue_sell(venues, book, 0, 100.0, 1e-6)
    assert out == pytest.approx(90.661089, abs=1e-6)
    assert filled == 100.0
    assert venues.x[0] == pytest.approx(1100.0)
    assert venues.price[0] == pytest.approx(0.826672, abs=1e-6)


def test_uniswap_v2_buy_mirror():
    # buy 100 from 1000/1000 with fee 0.3%: cost = 1000 * 100 / (900 * 0.997) = 111.4454
    venues, book = _cpmm_venue(0.003)
    cost, filled = venue_buy(venues, book, 0, 100.0, 1e-6)
    assert cost == pytest.approx(1000 * 100 / (900 * 0.997))
    assert filled == 100.0
    assert venues.price[0] == pytest.approx((1000 + cost) / 900)


def test_shocked_price_is_the_exogenous_path():
    s = scenario_from_yaml(CHAIN.replace("  - {ETH: -0.20}", "  - {ETH: -0.10}\n  - {ETH: -0.10}"))
    result = run_scenario(s)
    assert result.assets["ETH"].shocked_price == pytest.approx(1000 * 0.9 * 0.9)
    assert close(result.assets["ETH"].start_price, 1000.0)
    assert len(result.steps) == 2


def test_ties_break_by_declaration_order():
    # equal collateral values in ETH and WBTC: the asset declared first (ETH) is seized
    s = scenario_from_yaml(f"""
name: ties
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1000}}
  WBTC: {{price: 1000}}
protocols:
  p:
    type: lending
    collateral: {{ETH: {AAVE_ETH}, WBTC: {AAVE_ETH}}}
    positions:
      - {{collateral: {{WBTC: 10, ETH: 10}}, debt: {{USDC: 16000}}}}
shocks: [{{ETH: -0.05, WBTC: -0.05}}]
""")
    raw = run_raw(compile_scenario(s))
    assert raw.outputs.seized_units[0, 1] > 0
    assert raw.outputs.seized_units[0, 2] == 0
    assert np.all(raw.lending.col_units >= 0)


def _venue(market: str, price: float = 100.0):
    s = scenario_from_yaml(f"""
name: venue
assets:
  USDC: {{price: 1.0}}
  TKN: {{price: {price}, market: {market}}}
protocols:
  p: {{type: lending, collateral: {{TKN: {AAVE_ETH}}}}}
shocks: [{{TKN: 0.0}}]
""")
    st = compile_scenario(s).fresh_state()
    venues, book = st.venues, st.book
    return venues, book


def test_linear_market_numbers():
    # P = 100, lambda = 1e-4 per USD, sell 10: P' = 100 (1 - 1e-4 * 10 * 100) = 90;
    # proceeds at the mean price: 10 * 95 = 950
    venues, book = _venue("{type: linear, lambda_per_usd: 1.0e-4}")
    got, filled = venue_sell(venues, book, 0, 10.0, 1e-6)
    assert got == pytest.approx(950.0) and filled == 10.0
    assert venues.price[0] == pytest.approx(90.0)
    # a sale beyond the floor stops the price at eps x the start price (100 x 1e-6)
    got, _ = venue_sell(venues, book, 0, 1e6, 1e-6)
    assert venues.price[0] == pytest.approx(100.0 * 1e-6)


def test_exponential_market_numbers():
    # alpha = 0.01 per unit, P = 100, sell 10: P' = 100 e^-0.1 = 90.4837;
    # proceeds = 100 (1 - e^-0.1) / 0.01 = 951.626; depth_usd 10,000 gives the same alpha
    for market in ("{type: exponential, alpha: 0.01}", "{type: exponential, depth_usd: 1.0e4}"):
        venues, book = _venue(market)
        got, _ = venue_sell(venues, book, 0, 10.0, 1e-6)
        assert got == pytest.approx(951.6258196)
        assert venues.price[0] == pytest.approx(90.4837418)
        cost, _ = venue_buy(venues, book, 0, 10.0, 1e-6)  # buying back: the mirror image
        assert venues.price[0] == pytest.approx(100.0)
        assert cost == pytest.approx(90.4837418 * (np.exp(0.1) - 1) / 0.01)


def test_orderbook_walk_and_exhaustion():
    # bids 5 units at -1%, 5 at -2% around 100: selling 7 fills 5 x 99 + 2 x 98 = 691, price 98;
    # selling 10 more fills the 3 left at 98 and leaves 7 unfilled; the price floors at 98
    venues, book = _venue("{type: orderbook, bids: [[-0.01, 5], [-0.02, 5]]}")
    got, filled = venue_sell(venues, book, 0, 7.0, 1e-6)
    assert got == pytest.approx(691.0) and filled == 7.0
    assert venues.price[0] == pytest.approx(98.0)
    got, filled = venue_sell(venues, book, 0, 10.0, 1e-6)
    assert got == pytest.approx(294.0) and filled == pytest.approx(3.0)
    assert venues.price[0] == pytest.approx(98.0)
    # asks default to the mirror image: buying 6 pays 5 x 101 + 1 x 102
    cost, filled = venue_buy(venues, book, 0, 6.0, 1e-6)
    assert cost == pytest.approx(607.0) and filled == 6.0
    assert venues.price[0] == pytest.approx(102.0)


def test_an_order_book_fills_an_order_that_matches_its_level_but_for_rounding():
    # orders of 1 + 6.75 + 1.35 + 0.9 ETH summed in float are 10 ETH and one ulp. Against a
    # 10-ETH level the ulp is rounding, not a unit left unsold: the order fills in full, so a
    # seller's fill share is exactly 1 and no 1e-16 of anybody's collateral is left behind
    q = math.nextafter(10.0, 11.0)
    for side in (venue_sell, venue_buy):
        venues, book = _venue("{type: orderbook, bids: [[-0.01, 10], [-0.02, 10]]}")
        level = 99.0 if side is venue_sell else 101.0
        usd, filled = side(venues, book, 0, q, 1e-6)
        assert filled == q and usd == pytest.approx(10.0 * level, rel=1e-12)
        # the next level is not touched: the price is the first level's
        assert venues.price[0] == pytest.approx(level)
    # a real remainder (above 1e-12 of the order) is still unfilled
    venues, book = _venue("{type: orderbook, bids: [[-0.01, 10]]}")
    usd, filled = venue_sell(venues, book, 0, 10.0 + 1e-9, 1e-6)
    assert filled == 10.0 and usd == pytest.approx(990.0)


def test_a_vault_whose_collateral_all_sold_in_a_rounded_batch_closes_with_its_bad_debt():
    # The batch that sells the vault's 1 ETH sums to the book's 10 ETH but for rounding. The
    # vault's ETH is sold whole (1 x 2,361.33 raised against 2,438 of debt): it closes with
    # 76.67 of bad debt, in the kernel as in the reference (found by the mixed-type agreement
    # test: the kernel used to fill 1 - 2e-16 of the batch and leave the vault in auction)
    data = yaml.safe_load(MIXED_ROUNDING)
    assert_agree(data, mixed=True)
    maker = run_scenario(scenario_from_yaml(MIXED_ROUNDING)).protocols["maker"]
    assert maker.bad_debt_positions == 1
    assert maker.bad_debt_usd == pytest.approx(2438.0 - 2361.328125, rel=1e-12)
    assert maker.auction_raised_usd == pytest.approx(2361.328125, rel=1e-12)


MIXED_ROUNDING = """
name: mixed
settings: {max_rounds: 300}
assets:
  USDC: {price: 1.0}
  ETH: {price: 3000.0, market: {type: orderbook, bids: [[-0.03125, 10.0]]}}
  DAI: {issuer: maker}
  aETH: {issuer: lend, backing: ETH}
protocols:
  lend:
    type: lending
    reserve_usd: 0.0
    collateral: {ETH: {ltv: 0.75, liquidation_threshold: 0.75, liquidation_bonus: 0.0625}}
    positions:
      - {account: u0, collateral: {ETH: 15.0}, debt: {USDC: 33750.0}}
      - {account: u1, collateral: {ETH: 3.0}, debt: {USDC: 6750.0}}
      - {account: u2, collateral: {ETH: 2.0}, debt: {USDC: 4500.0}}
  maker:
    type: cdp
    stablecoin: DAI
    reserve_usd: 0.0
    liquidation_ratio: 1.5
    penalty: 0.0
    auction: {max_slippage: 1.0, zero_bid_discount: 1.0}
    positions:
      - {account: v0, collateral: {ETH: 1.0}, debt: 2438.0}
  perps:
    type: perp
    reserve_usd: 0.0
    maintenance_margin: 0.0625
    liquidation_fee: 0.0
    positions:
      - {account: t0, asset: ETH, size: 1.0, entry_price: 3000.0, margin: 750.0}
      - {account: t1, asset: ETH, size: 1.0, entry_price: 3000.0, margin: 750.0}
  fund:
    type: leveraged
    max_leverage: 3.0
    target_leverage: 2.0
    positions:
      - {account: f0, holdings: {ETH: 5.0}, debt_usd: 5000.0}
shocks:
  - {ETH: -0.1875}
"""


def test_liquidations_of_one_group_and_of_same_asset_legs_sum_as_one_by_one():
    # lending_round keeps a run of liquidations' sums (repaid, seized, orders...) in registers
    # while the group (protocol, collateral, debt) stays the same. bob repays ETH with ETH
    # seized: his purchase and his sale are one sum (the protocol's ETH orders), so his
    # liquidation ends the run before it and goes through memory; carol's starts a new one.
    # Every sum must be what one liquidation at a time gives (the reference, to 1e-9; and the
    # kernel's full scan, which visits the same positions in the same order, to the bit).
    text = f"""
name: runs
settings: {{liquidators: {{mode: any_loss}}}}
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 3000, market: {{type: cpmm, base_reserve: 5000, quote_reserve: 15000000}}}}
protocols:
  aave:
    type: lending
    collateral: {{ETH: {AAVE_ETH}}}
    positions:
      - {{account: alice, collateral: {{ETH: 10}}, debt: {{USDC: 20000}}}}
      - {{account: alan, collateral: {{ETH: 10}}, debt: {{USDC: 20500}}}}
      - {{account: bob, collateral: {{ETH: 10}}, debt: {{ETH: 5, USDC: 9000}}}}
      - {{account: carol, collateral: {{ETH: 10}}, debt: {{USDC: 21000}}}}
shocks:
  - {{ETH: -0.30}}
"""
    assert_agree(yaml.safe_load(text), mixed=True)
    s = scenario_from_yaml(text)
    aave = run_scenario(s).protocols["aave"]
    assert aave.liquidations >= 4  # all four, bob's on his ETH debt
    compiled = compile_scenario(s)
    index, full = run_raw(compiled, index=True), run_raw(compiled, index=False)
    for name, got in index.outputs.__dict__["raw"]._asdict().items():
        assert np.array_equal(got, getattr(full.outputs.__dict__["raw"], name)), name


def test_a_liquidation_repaying_the_asset_it_seizes_orders_the_net():
    # bob's debt is mostly ETH: his liquidators buy the 5 ETH they repay and sell the 5.25 ETH
    # they seize, a net sale of 0.25 ETH by aave. That sale moves the thin pool enough to push
    # comp's position under: aave is comp's source (depth 1). The purchase and the sale are
    # one sum, the protocol's ETH orders: kept as two sums (as lending_round's run of one
    # group keeps its sums, when collateral and debt differ) the sale would be lost, aave would
    # look like a buyer, and comp's liquidation would have no source.
    text = f"""
name: same-asset
settings: {{liquidators: {{mode: any_loss}}}}
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 3000, market: {{type: cpmm, base_reserve: 100, quote_reserve: 300000}}}}
protocols:
  aave:
    type: lending
    collateral: {{ETH: {AAVE_ETH}}}
    positions:
      - {{account: bob, collateral: {{ETH: 10}}, debt: {{ETH: 5, USDC: 9000}}}}
  comp:
    type: lending
    collateral: {{ETH: {AAVE_ETH}}}
    positions:
      - {{account: dan, collateral: {{ETH: 10}}, debt: {{USDC: 17290}}}}
shocks:
  - {{ETH: -0.30}}
"""
    assert_agree(yaml.safe_load(text), mixed=True)
    result = run_scenario(scenario_from_yaml(text))
    aave, comp = result.protocols["aave"], result.protocols["comp"]
    assert aave.liquidations >= 1 and aave.first_distress_round == 1
    assert comp.liquidations >= 1 and comp.first_distress_round == 2
    assert comp.depth == 1
    assert any(e.source == "aave" and e.target == "comp" for e in result.edges)


def test_unfilled_liquidation_sale_is_reported():
    # a book of 5 units absorbs only part of a 10-ETH seizure: the rest is unfilled, and the
    # liquidators keep it. Sold: the 5 units that filled (at 594), not the 10 offered; the
    # slippage, 5 x 6 = 30, is 100 bps of the 2,970 traded (not 50 bps of 10 units offered).
    # The liquidators repaid 6,000 / 1.05 = 5,714.29 and hold 5 ETH worth 594 each at the end
    # (the price the book was left at): their profit is 2,970 + 2,970 - 5,714.29 = 225.71
    text = one_position(1000, -0.40, 10, 7000, ", market: {type: orderbook, bids: [[-0.01, 5]]}")
    # liquidators that sell everything (rational ones would offer only the 5 units worth their
    # cost and hold the rest by choice: the same outcome, counted as held, not unfilled)
    s = scenario_from_yaml(text.replace("name: hand", ANY_LOSS))
    result = run_scenario(s)
    eth = result.assets["ETH"]
    assert eth.sold_units == 5.0
    assert eth.unfilled_units == pytest.approx(5.0)
    assert eth.held_units == pytest.approx(5.0)
    assert eth.final_price == pytest.approx(594.0)
    assert eth.slippage_usd == pytest.approx(30.0) and eth.slippage_bps == pytest.approx(100.0)
    assert eth.sale_proceeds_usd == pytest.approx(5 * 600 * 0.99)
    aave = result.protocols["aave"]
    assert aave.collateral_sold_usd == pytest.approx(5 * 600 * 0.99)
    assert aave.liquidator_profit_usd == pytest.approx(2970 + 2970 - 6000 / 1.05, rel=1e-12)


def test_liquidity_multiplier_scales_the_pool():
    # a 0.5 multiplier halves the reserves before re-centring: the same sale moves the price
    # more; the multiplier persists into the next step (liquidators that sell the whole
    # seizure: rational ones would stop at the same price, their cost, in either pool)
    chain = CHAIN.replace("name: chain", ANY_LOSS)
    base = chain.replace("  - {ETH: -0.20}", "  - {ETH: -0.20}\n  - {ETH: 0.0}")
    thin = chain.replace(
        "  - {ETH: -0.20}", "  - {ETH: -0.20, liquidity: {ETH: 0.5}}\n  - {ETH: 0.0}"
    )
    a = run_scenario(scenario_from_yaml(base))
    b = run_scenario(scenario_from_yaml(thin))
    assert b.assets["ETH"].final_price < a.assets["ETH"].final_price
    assert b.assets["ETH"].slippage_usd > a.assets["ETH"].slippage_usd


def test_recovery_reverts_part_of_the_impact():
    two_steps = CHAIN.replace("  - {ETH: -0.20}", "  - {ETH: -0.20}\n  - {ETH: 0.0}")
    half = two_steps.replace("name: chain", "name: chain\nsettings: {recovery: 0.5}")
    stay = run_scenario(scenario_from_yaml(two_steps)).assets["ETH"].final_price
    back = run_scenario(scenario_from_yaml(half)).assets["ETH"].final_price
    # price after step 1 is `stay`; half of the gap to the shocked 800 reverts
    assert back == pytest.approx(stay + 0.5 * (800.0 - stay))


# --- issue 15: numbers a risk team can trust ----------------------------------------------------
#
# The price band (docs/model.md 2): no trade takes a venue below eps x the price the exogenous
# path alone gives it (or above that / eps); exogenous shocks are never clamped.

FLOOR_PATH = """
name: floor
settings: {{min_price_fraction: 1.0e-6}}
assets:
  USDC: {{price: 1.0}}
  TKN: {{price: 2000, market: {market}}}
protocols:
  p:
    type: lending
    collateral: {{TKN: {AAVE_ETH}}}
    positions:
      - {{account: saver, collateral: {{TKN: 10}}}}
shocks: [{{TKN: -0.99}}, {{TKN: -0.99}}, {{TKN: -0.99}}, {{TKN: -0.5}}, {{TKN: 1.0}}]
"""


@pytest.mark.parametrize(
    "market",
    [
        "{type: cpmm, base_reserve: 1000, quote_reserve: 2.0e6}",
        "{type: linear, lambda_per_usd: 1.0e-6}",
        "{type: exponential, depth_usd: 1.0e6}",
        "{type: orderbook, bids: [[-0.01, 5]]}",
    ],
)
def test_shocks_always_apply_even_below_eps_times_the_start(market):
    # 2000 x 0.01 x 0.01 x 0.01 x 0.5 x 2 = 0.002: the third step already reaches eps x start
    # (0.002) and the fourth goes below it. Nothing trades, so the price is the path's: the
    # shocked price, no endogenous impact (the old band, fixed at eps x start, held the price
    # at 0.002 in step 4 and doubled it to 0.004 in step 5: +100 % "endogenous" impact)
    text = FLOOR_PATH.format(market=market, AAVE_ETH=AAVE_ETH)
    result = run_scenario(scenario_from_yaml(text))
    tkn = result.assets["TKN"]
    shocked = 2000 * 0.01 * 0.01 * 0.01 * 0.5 * 2.0
    assert tkn.shocked_price == pytest.approx(shocked, rel=1e-12)
    assert tkn.final_price == pytest.approx(shocked, rel=1e-12)
    assert abs(tkn.endogenous_impact) < 1e-12
    assert result.liquidations == 0
    assert_agree(yaml.safe_load(text))


def test_the_floor_is_eps_times_the_shocked_price():
    # a linear venue at 50, eps 0.01, lambda 1 per USD: any sale of a unit or more hits the
    # floor, 0.01 x the price the exogenous path gives (50): 0.5. A second round of sales stays
    # there (the band does not compound over rounds: liquidations move a price by 1/eps at
    # most, however long the cascade). A shock of -50 % moves the path, the band and the price
    # alike - in full, from the floor: 0.25, and the new floor is 0.01 x 25
    from contagion_cli.kernel import _set_bands, venue_recenter

    venues, book = _venue("{type: linear, lambda_per_usd: 1.0}", price=50.0)
    _set_bands(venues, 0.01)
    venue_sell(venues, book, 0, 10.0, 0.01)
    assert venues.price[0] == pytest.approx(0.5, rel=1e-15)
    _set_bands(venues, 0.01)  # the next round
    venue_sell(venues, book, 0, 10.0, 0.01)
    assert venues.price[0] == pytest.approx(0.5, rel=1e-15)
    venues.shocked[0] *= 0.5  # what the kernel's shock does to the venue's path
    venue_recenter(venues, book, 0, venues.price[0] * 0.5, 1.0)
    assert venues.price[0] == pytest.approx(0.25, rel=1e-15)
    _set_bands(venues, 0.01)
    venue_sell(venues, book, 0, 10.0, 0.01)
    assert venues.price[0] == pytest.approx(0.25, rel=1e-15)
    # buys: at most 1 / eps x the path: 25 / 0.01
    venue_buy(venues, book, 0, 1.0e9, 0.01)
    assert venues.price[0] == pytest.approx(2500.0, rel=1e-15)


def test_linear_sale_past_the_floor_pays_the_area_under_the_curve():
    # P = 100, lambda = 8e-6 per USD, eps 1e-6: the floor is F = 1e-4 and the curve reaches it
    # after u = (1 - F/P) / (lambda P) = 1,249.99875 units. Selling 11,250 units, i.e. 10,000
    # beyond that capacity: the area under the curve is u (P + F) / 2 = 62,499.9999999375 plus
    # 10,000.00125 units at the floor, 1.000000125: 62,501.0000000625. The mean of the start
    # and end prices would pay 11,250 x (100 + 1e-4) / 2 = 562,500.5625: the 10,000 units
    # beyond capacity were paid $500,000, 8x the area under the curve down to the floor.
    from fractions import Fraction as Fr

    from contagion_cli.kernel import _set_bands

    venues, book = _venue("{type: linear, lambda_per_usd: 8.0e-6}", price=100.0)
    _set_bands(venues, 1e-6)
    p, lam, q = Fr(100), Fr(8, 10**6), Fr(11250)
    floor = p * Fr(1, 10**6)
    u = (1 - floor / p) / (lam * p)
    area = u * (p + floor) / 2 + (q - u) * floor
    assert float(u) == pytest.approx(1249.99875, rel=1e-15)
    assert float(area) == pytest.approx(62501.0000000625, rel=1e-12)
    got, filled = venue_sell(venues, book, 0, 11250.0, 1e-6)
    assert got == pytest.approx(float(area), rel=1e-12) and filled == 11250.0
    assert venues.price[0] == pytest.approx(float(floor), rel=1e-15)
    mean_of_prices = float(q * (p + floor) / 2)
    # what the old rule paid for the 10,000 units beyond capacity: $500,000, 8x the area
    assert mean_of_prices - 62500.0 == pytest.approx(8 * 62500.0, rel=1e-5)
    # the quote a liquidator sees is the same area
    from contagion_cli.kernel import venue_sell_quote

    venues, book = _venue("{type: linear, lambda_per_usd: 8.0e-6}", price=100.0)
    _set_bands(venues, 1e-6)
    assert venue_sell_quote(venues, book, 0, 11250.0, 1e-6) == pytest.approx(float(area), 1e-12)


def test_exponential_sale_past_the_floor_pays_the_area_under_the_curve():
    # P = 100, alpha = 0.01 per unit, eps 0.5 (F = 50): the curve reaches F after
    # ln(2) / 0.01 = 69.3147 units, having paid (100 - 50) / 0.01 = 5,000; 30.6853 more units
    # at 50 pay 1,534.26: 6,534.26 for 100 units (not 100 (1 - e^-1) / 0.01 = 6,321.21)
    from contagion_cli.kernel import _set_bands

    venues, book = _venue("{type: exponential, alpha: 0.01}")
    _set_bands(venues, 0.5)
    got, _ = venue_sell(venues, book, 0, 100.0, 0.5)
    u = np.log(2.0) / 0.01
    assert got == pytest.approx(5000.0 + (100.0 - u) * 50.0, rel=1e-12)
    assert got == pytest.approx(6534.264097, rel=1e-9)
    assert venues.price[0] == 50.0


# A health factor within settings.tolerance (relative) of a threshold is at it: float rounding of
# a decimal HF of exactly 1 (or of exactly the full-close threshold) decides nothing.

AT_THRESHOLD = """
name: at-threshold
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1900}}
protocols:
  p:
    type: lending
    close_factor: 0.5
    full_close_below_hf: 0.95
    collateral: {{ETH: {{ltv: 0.80, liquidation_threshold: 0.83, liquidation_bonus: 0.05}}}}
    positions:
{positions}
shocks: [{{ETH: 0.0}}]
"""


def _at_threshold(per_unit_debt: str):
    """20 positions of 0.1, 0.2, ... 2.0 ETH with a debt of (units x per_unit_debt) USDC,
    written as exact decimals; returns (scenario text, units, debts)."""
    from decimal import Decimal

    units = [Decimal("0.1") * k for k in range(1, 21)]
    debts = [u * Decimal(per_unit_debt) for u in units]
    rows = "\n".join(
        f"      - {{account: a{k:02d}, collateral: {{ETH: {u}}}, debt: {{USDC: {d}}}}}"
        for k, (u, d) in enumerate(zip(units, debts, strict=True))
    )
    return AT_THRESHOLD.format(positions=rows), [float(u) for u in units], [float(d) for d in debts]


def test_a_decimal_health_factor_of_one_is_not_liquidated_by_rounding():
    # 1900 x 0.83 = 1577 exactly: a debt of units x 1577 is a health factor of exactly 1. In
    # floating point (units x 1900) x 0.83 / debt is below 1 for 7 of the 20 positions (the
    # kernel's order of operations); HF < 1 alone liquidated those 7
    text, units, debts = _at_threshold("1577")
    float_hf = [(u * 1900.0) * 0.83 / d for u, d in zip(units, debts, strict=True)]
    assert sum(h < 1.0 for h in float_hf) == 7
    assert all(abs(h - 1.0) < 1e-15 for h in float_hf)
    result = run_scenario(scenario_from_yaml(text))
    assert result.liquidations == 0
    assert result.protocols["p"].depth is None  # not even distressed
    assert_agree(yaml.safe_load(text))


def test_a_decimal_health_factor_at_the_full_close_threshold_closes_fully():
    # 1577 / 0.95 = 1660: a debt of units x 1660 is a health factor of exactly 0.95. Aave v3
    # closes fully at HF <= 0.95; in floating point 17 of the 20 are exactly 0.95, 2 below and
    # 1 above, so "HF < 0.95" closed 2 fully and 18 by half. With the tolerance all 20 close
    # fully: each repays its whole debt, units x 1660, and the liquidator seizes
    # units x 1660 x 1.05 / 1900 ETH
    text, units, debts = _at_threshold("1660")
    float_hf = [(u * 1900.0) * 0.83 / d for u, d in zip(units, debts, strict=True)]
    assert (sum(h < 0.95 for h in float_hf), sum(h > 0.95 for h in float_hf)) == (2, 1)
    compiled = compile_scenario(scenario_from_yaml(text))
    raw = run_raw(compiled)
    assert raw.outputs.liquidations[0] == 20
    np.testing.assert_array_equal(raw.lending.debt_units, np.zeros(20))
    np.testing.assert_allclose(
        compiled.in_book_order(raw.lending.col_units),  # stored in trigger order
        [u - d * 1.05 / 1900.0 for u, d in zip(units, debts, strict=True)],
    )
    assert raw.outputs.repaid_usd[0] == pytest.approx(sum(debts), rel=1e-12)
    assert_agree(yaml.safe_load(text))


# Propagation depth through a lagged or twap feed: the sources of a protocol's distress are
# the protocols that moved a price in the rounds its oracle reads for the first time now.

LAGGED_FEED = """
name: lag-depth
assets:
  USDC: {price: 1.0}
  ETH:
    price: 3000
    market: {type: cpmm, base_reserve: 40000, quote_reserve: 1.2e8}
protocols:
  fund:
    type: leveraged
    max_leverage: 5
    target_leverage: 2
    positions:
      - {account: fund, holdings: {ETH: 5000}, debt_usd: 1.05e7}
  spot:
    type: lending
    collateral:
      ETH: {ltv: 0.80, liquidation_threshold: 0.83, liquidation_bonus: 0.05}
    positions:
      - {account: a, collateral: {ETH: 1000}, debt: {USDC: 1889732}}
      - {account: b, collateral: {ETH: 100}, debt: {USDC: 181480}}
  lender:
    type: lending
    oracle: ORACLE
    collateral:
      ETH: {ltv: 0.80, liquidation_threshold: 0.83, liquidation_bonus: 0.05}
    positions:
      - {account: c, collateral: {ETH: 500}, debt: {USDC: 979861}}
shocks:
  - {ETH: -0.15}
"""


def _lag_depth_prices() -> tuple[float, float]:
    """ETH after the shock, and after the fund's round-1 sale (a fee-free cpmm)."""
    p1 = 3000 * 0.85
    k = 40000 * 1.2e8
    x, y = math.sqrt(k / p1), math.sqrt(k * p1)
    h, e = 5000 * p1, 5000 * p1 - 1.05e7  # leverage 5.67 > 5: back to 2
    q = 5000 * (h - 2 * e) / h
    return p1, y * x / (x + q) ** 2


def test_a_lagged_feed_is_hit_by_the_fire_sale_it_reads_not_by_last_round():
    # ETH -15 % to 2,550. Round 1: the fund (leverage 5.67 > 5) sells 3,235 ETH: ETH 2,208.37.
    # Round 2: "spot" reads 2,208.37 - account a (HF 1.12 at 2,550, 0.970 now) is liquidated
    # (depth 1, from the fund); its sale takes ETH to 2,166. Round 3: account b (HF 1.010 at
    # 2,208.37, 0.991 at 2,166) is liquidated: spot moves ETH in round 3 too. The lender reads
    # a feed two rounds old: in round 4 it reads the start of round 2, 2,208.37 - the price the
    # fund's round-1 sale left - and account c (HF 1.08 at 2,550, 0.935 at 2,208.37) is
    # liquidated. Its source is the fund (depth 1), through the move of round 1 its feed now
    # reads; spot's round-3 sale, which the old rule ("the round before") blamed, is not in it
    # (the old rule drew spot -> lender and depth 2).
    p1, p2 = _lag_depth_prices()
    assert p2 == pytest.approx(2208.365137, rel=1e-9)
    lt = 0.83
    assert 500 * p1 * lt / 979861 >= 1.0 > 500 * p2 * lt / 979861  # c: safe, then not
    assert 1000 * p1 * lt / 1889732 >= 1.0 > 1000 * p2 * lt / 1889732  # a
    assert 100 * p2 * lt / 181480 >= 1.0  # b survives round 2
    text = LAGGED_FEED.replace("ORACLE", "{type: lagged, rounds: 2}")
    result = run_scenario(scenario_from_yaml(text), trace=True)
    by_round = {row.round: row for row in result.trace}
    assert by_round[1].prices["ETH"] == pytest.approx(p2, rel=1e-12)
    assert [by_round[r].liquidations["spot"] for r in (2, 3)] == [1, 1]
    depth = {n: (p.depth, p.first_distress_round) for n, p in result.protocols.items()}
    assert depth == {"fund": (0, 1), "spot": (1, 2), "lender": (1, 4)}
    assert [(e.source, e.target, e.asset, e.round) for e in result.edges] == [
        ("fund", "spot", "ETH", 2),
        ("fund", "lender", "ETH", 4),
    ]
    assert_agree(yaml.safe_load(text))


def test_a_twap_feed_is_hit_by_every_move_in_its_window():
    # The same book with a twap over 3 rounds. In round 3 it averages the starts of rounds 1-3
    # (2,550, 2,208.37, 2,166.41): 2,308.26, and account c (HF 0.978 there) is eligible - but
    # its liquidators would pay 2,308.26 / 1.05 = 2,198.34 per ETH seized and the market pays
    # 2,166.41: they decline. In round 4 the average of 2,208.37, 2,166.41 and 2,162.37 is
    # 2,179.05: the cost, 2,075.29, is below the market, and c is liquidated. The window of
    # round 4 holds the moves of rounds 1-3: the fund's (round 1) and spot's (rounds 2, 3), all
    # sources; the fund (depth 0) is the nearer, so the lender has depth 1 with two edges (the
    # old rule drew only spot -> lender, from round 3, and depth 2)
    text = LAGGED_FEED.replace("ORACLE", "{type: twap, rounds: 3}")
    result = run_scenario(scenario_from_yaml(text), trace=True)
    starts = [2550.0] + [row.prices["ETH"] for row in result.trace[:3]]
    twap3, twap4 = sum(starts[:3]) / 3, sum(starts[1:]) / 3
    assert twap3 == pytest.approx(2308.26, abs=0.01) and twap4 == pytest.approx(2179.05, abs=0.01)
    assert 500 * twap3 * 0.83 / 979861 < 1.0 and twap3 / 1.05 > starts[2]  # eligible, declined
    assert twap4 / 1.05 < starts[3]  # profitable
    lender = result.protocols["lender"]
    assert lender.skipped_unprofitable == 1
    assert (lender.depth, lender.first_distress_round) == (1, 4)
    assert {(e.source, e.round) for e in result.edges if e.target == "lender"} == {
        ("fund", 4),
        ("spot", 4),
    }
    assert_agree(yaml.safe_load(text))


# Order books: a unit offered again after a failed sale counts once; an offer that fills
# nothing is no liquidation; keepers and liquidators hold what they did not sell, at market.

THIN_BOOK = """
name: thin-book
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1000, market: {{type: orderbook, bids: [[-0.01, 5]]}}}}{dai}
protocols:
{protocol}
shocks:
  - {{ETH: -0.40}}
"""


def test_a_deleveraging_sale_offered_again_to_an_exhausted_book_counts_once():
    # ETH 600, a book of 5 units at 594. The vault: 100 ETH, debt 50,000: leverage 6 > 5, back
    # to 2: it offers 2/3 of its ETH, 66.67; 5 fill (2,970 repays debt). Round 2: 95 ETH at
    # 594 against 47,030, leverage 6.0 still: it offers 63.35 ETH again; the book is empty (it
    # refills only at the next step), nothing fills. One deleveraging, not two; 5 units sold,
    # not 130; nothing unfilled (the vault keeps its ETH and would offer it again)
    text = THIN_BOOK.format(
        dai="",
        protocol="""  fund:
    type: leveraged
    max_leverage: 5
    target_leverage: 2
    positions:
      - {account: fund, holdings: {ETH: 100}, debt_usd: 50000}""",
    )
    result = run_scenario(scenario_from_yaml(text), trace=True)
    fund, eth = result.protocols["fund"], result.assets["ETH"]
    offered = [row.flows["fund"].get("ETH", 0.0) for row in result.trace]
    assert offered[:2] == pytest.approx([200 / 3, 95 * (56430 - 2 * 9400) / 56430], rel=1e-12)
    assert fund.liquidations == 1
    assert eth.sold_units == pytest.approx(5.0) and eth.unfilled_units == 0.0
    assert fund.deleveraging_sales_usd == pytest.approx(2970.0)
    assert eth.slippage_bps == pytest.approx(100.0)  # 30 / (5 x 600), not diluted
    assert_agree(yaml.safe_load(text), mixed=True)


def test_an_auction_lot_offered_again_counts_once():
    # ETH 600: the vault (10 ETH, 5,000 DAI) is auctioned, tab 5,650. Round 1 offers the lot
    # 5,650 / 6,000 x 10 = 9.417 ETH; 5 fill at 594 (2,970 repays debt). Round 2 offers the
    # rest of the tab's worth, 2,680 / (5 x 594) x 5 = 4.512 ETH: nothing fills. Sold: 5 units
    # (not 13.93); unfilled: none (the lot stays in the vault, the auction goes on)
    text = THIN_BOOK.format(
        dai="\n  DAI: {issuer: maker}",
        protocol="""  maker:
    type: cdp
    stablecoin: DAI
    liquidation_ratio: 1.5
    penalty: 0.13
    positions:
      - {account: v, collateral: {ETH: 10}, debt: 5000}""",
    )
    result = run_scenario(scenario_from_yaml(text), trace=True)
    maker, eth = result.protocols["maker"], result.assets["ETH"]
    offered = [row.flows["maker"].get("ETH", 0.0) for row in result.trace]
    assert offered[:2] == pytest.approx([5650 / 6000 * 10, 2680 / 2970 * 5], rel=1e-12)
    assert maker.auctions == maker.liquidations == 1
    assert maker.repaid_usd == pytest.approx(2970.0)
    assert eth.sold_units == pytest.approx(5.0) and eth.unfilled_units == 0.0
    assert_agree(yaml.safe_load(text), mixed=True)


def test_keepers_profit_is_what_they_won_at_market_minus_what_they_paid():
    # ETH 2,000 -> 1,500: the vault (100 ETH, 120,000 DAI, ratio 1.25) is auctioned, tab
    # 135,600. Bidders vanish (max_slippage 0) and keepers win at a 20 % discount: the lot
    # / 0.8 is more than the vault, so they take all 100 ETH (150,000 at market) for
    # 0.8 x 150,000 = 120,000, which repays the debt. They gained 30,000; the old
    # "proceeds - repaid" reported -120,000 (nothing was sold on the market)
    text = """
name: keepers
assets:
  USDC: {price: 1.0}
  ETH: {price: 2000, market: {type: cpmm, base_reserve: 1.0e6, quote_reserve: 2.0e9}}
  DAI: {issuer: maker}
protocols:
  maker:
    type: cdp
    stablecoin: DAI
    liquidation_ratio: 1.5
    penalty: 0.13
    auction: {max_slippage: 0.0, zero_bid_discount: 0.2}
    positions:
      - {account: v, collateral: {ETH: 100}, debt: 120000}
shocks:
  - {ETH: -0.25}
"""
    result = run_scenario(scenario_from_yaml(text))
    maker, eth = result.protocols["maker"], result.assets["ETH"]
    assert maker.zero_bid_auctions == 1
    assert maker.auction_raised_usd == pytest.approx(120000.0, rel=1e-12)
    assert maker.repaid_usd == pytest.approx(120000.0, rel=1e-12)
    assert eth.held_units == pytest.approx(100.0) and eth.final_price == pytest.approx(1500.0)
    assert maker.liquidator_profit_usd == pytest.approx(30000.0, rel=1e-9)
    assert_agree(yaml.safe_load(text), mixed=True)


# --- auto-deleveraging over several assets; --entities does not call an ADL cut a liquidation ---

ADL_TWO_ASSETS = """
name: adl-two-assets
assets:
  USDC: {price: 1.0}
  BTC: {price: 10000}
  ETH: {price: 1000}
protocols:
  perps:
    type: perp
    reserve_usd: 200
    maintenance_margin: 0.05
    positions:
      - {account: btc-long, asset: BTC, size: 1, entry_price: 10000, margin: 700}
      - {account: btc-short, asset: BTC, size: -1, entry_price: 10000, margin: 5000}
      - {account: eth-long, asset: ETH, size: 1, entry_price: 1000, margin: 0}
      - {account: eth-short, asset: ETH, size: -1, entry_price: 920, margin: 500}
shocks:
  - {BTC: -0.10, ETH: -0.10}
"""


def test_adl_splits_over_assets_by_deficit_and_cuts_each_from_its_own_winners():
    # BTC 9,000, ETH 900 (no markets: closes at the price). The BTC long's equity is
    # 700 - 1,000 = -300, the ETH long's 0 - 100 = -100: deficits 300 and 100. The fund (200)
    # pays half; the other 200 is split by deficit: 150 to the BTC pool, 50 to the ETH pool.
    # The BTC short's profit, 1,000, pays 150 (its entry moves from 10,000 to 9,850); the ETH
    # short's, 920 - 900 = 20, pays 20, and 30 is bad debt - the BTC short, who could pay it,
    # is not cut for the ETH pool. deficit 400 = ADL 170 + bad debt 230 (200 of it the fund's)
    result = run_scenario(scenario_from_yaml(ADL_TWO_ASSETS), trace=True)
    perps = result.protocols["perps"]
    assert perps.liquidations == 2
    assert perps.deficit_usd == pytest.approx(400.0, rel=1e-12)
    assert perps.adl_usd == pytest.approx(170.0, rel=1e-12)
    assert perps.bad_debt_usd == pytest.approx(230.0, rel=1e-12)
    cuts = {c.account: c.cut_usd for c in perps.adl_cuts}
    assert cuts == pytest.approx({"btc-short": 150.0, "eth-short": 20.0}, rel=1e-12)
    # the bankrupt notional behind the ADL, in the share of each pool's deficit the cuts paid:
    # the BTC long (9,000 of notional) in 150 / 300, the ETH long (900) in 20 / 100: 4,680 -
    # what a venue that closes winners against the bankrupt (Hyperliquid) would close
    assert perps.adl_notional_usd == pytest.approx(9_000 * 150 / 300 + 900 * 20 / 100, rel=1e-12)
    assert perps.adl_notional_usd == pytest.approx(4_680.0, rel=1e-12)
    assert_agree(yaml.safe_load(ADL_TWO_ASSETS), mixed=True)
    # --entities: the cut winners stay open and are not liquidated; the losers are
    from contagion_cli.engine.run import run

    entities = run(compile_scenario(scenario_from_yaml(ADL_TWO_ASSETS)), entities=10).entities
    by_name = {e.account: e for e in entities}
    assert by_name["btc-short"].liquidated_positions == 0
    assert by_name["eth-short"].liquidated_positions == 0
    assert by_name["btc-long"].liquidated_positions == 1
    assert by_name["eth-long"].liquidated_positions == 1
    assert by_name["btc-short"].adl_usd == pytest.approx(150.0, rel=1e-12)
    assert by_name["eth-short"].adl_usd == pytest.approx(20.0, rel=1e-12)
    # the BTC short gained 1,000 on the move and gave 150 of it up: a loss of -850
    assert by_name["btc-short"].loss_usd == pytest.approx(-850.0, rel=1e-12)


# --- liquidators: rational (the default), atomic, any_loss (docs/model.md 3i) ---------------

LIQUIDATOR_BOOK = """
name: liquidators
settings: {{liquidators: {{mode: {mode}}}}}
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1000, market: {{type: cpmm, base_reserve: 1000, quote_reserve: 1.0e6, fee: {fee}}}}}
protocols:
  p:
    type: lending
    collateral: {{ETH: {{ltv: 0.8, liquidation_threshold: 0.825, liquidation_bonus: {bonus}}}}}
    positions:
      - {{account: a, collateral: {{ETH: 100}}, debt: {{USDC: 70000}}}}
shocks:
  - {{ETH: -0.20}}
"""


def _liquidators(mode: str, bonus: float, fee: float = 0.0):
    text = LIQUIDATOR_BOOK.format(mode=mode, bonus=bonus, fee=fee)
    assert_agree(yaml.safe_load(text), mixed=True)
    return run_scenario(scenario_from_yaml(text))


def test_rational_liquidators_sell_down_to_their_cost_and_hold_the_rest():
    # ETH 800, the pool re-centred at 800 (k = 1e9). HF 0.943 < 0.95: the whole debt, 70,000,
    # is repaid for 70,000 x 1.10 / 800 = 96.25 ETH: 727.27 (= 800 / 1.10) a unit. The pool's
    # marginal proceeds fall to 727.27 after sqrt(k / 727.27) - sqrt(k / 800) = 54.57 ETH: they
    # sell those (41,624.33) and hold 41.68 ETH, worth 727.27 each where their sale left the
    # pool: profit 41,624.33 + 41.68 x 727.27 - 70,000 = 1,937.09
    k = 1.0e9
    c = 800 / 1.10
    x0 = math.sqrt(k / 800)
    q = math.sqrt(k / (c * (1 - 1e-9))) - x0  # down to the cost, within settings.tolerance
    proceeds = math.sqrt(k * 800) * q / (x0 + q)
    assert q == pytest.approx(54.56995, abs=1e-5) and proceeds == pytest.approx(41624.33, abs=0.01)
    r = _liquidators("rational", 0.10)
    eth, p = r.assets["ETH"], r.protocols["p"]
    assert p.liquidations == 1 and p.repaid_usd == pytest.approx(70000.0, rel=1e-12)
    assert eth.sold_units == pytest.approx(q, rel=1e-12)
    assert eth.held_units == pytest.approx(96.25 - q, rel=1e-12)
    assert eth.final_price == pytest.approx(c * (1 - 1e-9), rel=1e-12)
    # (what they hold is valued at the final price, where their sale left the pool)
    held_value = (96.25 - q) * c * (1 - 1e-9)
    assert p.liquidator_profit_usd == pytest.approx(proceeds + held_value - 70000, rel=1e-9)
    assert p.liquidator_profit_usd == pytest.approx(1937.09, abs=0.01)
    # the whole seizure at once raises sqrt(k 800) x 96.25 / (x0 + 96.25) = 70,896 > 70,000:
    # an atomic liquidator sells it all, as does one that acts at any loss: ETH to 678.2
    for mode in ("atomic", "any_loss"):
        whole = _liquidators(mode, 0.10)
        assert whole.assets["ETH"].sold_units == pytest.approx(96.25, rel=1e-12)
        assert whole.assets["ETH"].final_price == pytest.approx(k / (x0 + 96.25) ** 2, rel=1e-12)
        assert whole.protocols["p"].liquidator_profit_usd == pytest.approx(
            math.sqrt(k * 800) * 96.25 / (x0 + 96.25) - 70000, rel=1e-9
        )


def test_a_thin_bonus_separates_the_three_behaviours():
    # bonus 2 %: 89.25 ETH for 70,000, 784.31 a unit. Rational: the first unit fetches 800, so
    # the liquidation pays; they sell sqrt(k / 784.31) - sqrt(k / 800) = 11.13 ETH and hold
    # 78.12. Atomic: the whole 89.25 would raise 66,121 < 70,000: declined. Any loss: sold, a
    # loss of 3,879
    k = 1.0e9
    x0 = math.sqrt(k / 800)
    seize = 70000 * 1.02 / 800
    q = math.sqrt(k / (800 / 1.02 * (1 - 1e-9))) - x0
    rational = _liquidators("rational", 0.02)
    assert rational.assets["ETH"].sold_units == pytest.approx(q, rel=1e-12)
    assert q == pytest.approx(11.13, abs=0.01)
    assert rational.assets["ETH"].held_units == pytest.approx(seize - q, rel=1e-12)
    atomic = _liquidators("atomic", 0.02)
    assert atomic.liquidations == 0 and atomic.protocols["p"].skipped_unprofitable >= 1
    whole = math.sqrt(k * 800) * seize / (x0 + seize)
    assert whole == pytest.approx(66121, abs=1)
    loss = _liquidators("any_loss", 0.02)
    assert loss.liquidations == 1
    assert loss.protocols["p"].liquidator_profit_usd == pytest.approx(whole - 70000, rel=1e-9)


def test_rational_liquidators_decline_when_the_market_pays_less_than_their_cost():
    # a 3 % pool fee: the first unit fetches 0.97 x 800 = 776 < 784.31 (bonus 2 %): declined,
    # round after round; the position stays open, and nothing is sold
    r = _liquidators("rational", 0.02, fee=0.03)
    p = r.protocols["p"]
    assert p.liquidations == 0 and p.skipped_unprofitable >= 1
    assert r.assets["ETH"].sold_units == 0.0
    assert r.assets["ETH"].final_price == pytest.approx(800.0, rel=1e-12)


def test_the_rounds_rational_sales_are_allocated_in_ascending_cost():
    # ETH 800, one fee-free pool (k = 1e9). In round 1 two "cheap" liquidations (10 % bonus:
    # 96.25 ETH for 70,000 each, a cost of 727.27) and one "dear" (5 %: 91.875 ETH for 70,000,
    # 761.90). Alone, each would sell down to its cost: 54.57, 54.57 and 27.63 ETH - together
    # 136.8 ETH, far below every cost. Allocated together: the cheapest cost first, the market
    # takes sqrt(k / 727.27) - sqrt(k / 800) = 54.57 ETH above it, shared pro rata by the two
    # cheap ones (27.28 each); the pool is then at 727.27, below 761.90: the dear one sells
    # nothing and holds its 91.875 ETH
    text = """
name: allocation
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000, market: {type: cpmm, base_reserve: 1000, quote_reserve: 1.0e6}}
protocols:
  cheap:
    type: lending
    collateral: {ETH: {ltv: 0.8, liquidation_threshold: 0.825, liquidation_bonus: 0.10}}
    positions:
      - {account: a, collateral: {ETH: 100}, debt: {USDC: 70000}}
      - {account: b, collateral: {ETH: 100}, debt: {USDC: 70000}}
  dear:
    type: lending
    collateral: {ETH: {ltv: 0.8, liquidation_threshold: 0.825, liquidation_bonus: 0.05}}
    positions:
      - {account: c, collateral: {ETH: 100}, debt: {USDC: 70000}}
shocks:
  - {ETH: -0.20}
"""
    k, x0, tol = 1.0e9, math.sqrt(1.0e9 / 800), 1e-9
    cheap_cost, dear_cost = 800 / 1.10 * (1 - tol), 800 / 1.05 * (1 - tol)
    taken = math.sqrt(k / cheap_cost) - x0
    assert taken == pytest.approx(54.57, abs=0.01)
    assert math.sqrt(k / dear_cost) - x0 < taken  # the dear one's cost is above the pool now
    result = run_scenario(scenario_from_yaml(text), trace=True)
    assert result.assets["ETH"].sold_units == pytest.approx(taken, rel=1e-12)
    assert result.assets["ETH"].final_price == pytest.approx(cheap_cost, rel=1e-12)
    round1 = result.trace[0].flows
    assert round1["cheap"]["ETH"] == pytest.approx(taken, rel=1e-12)  # 27.28 each
    assert "ETH" not in round1["dear"]
    assert result.assets["ETH"].held_units == pytest.approx(2 * 96.25 + 91.875 - taken, rel=1e-12)
    assert_agree(yaml.safe_load(text), mixed=True)


# --- the debt side: liquidators buy the debt they repay on its market ------------------------

SQUEEZE = """
name: squeeze
assets:
  USDC: {price: 1.0}
  CRV: {price: 0.5, market: {type: cpmm, base_reserve: 1.0e7, quote_reserve: 5.0e6}}
protocols:
  aave:
    type: lending
    close_factor: 0.5
    full_close_below_hf: 1.0e-6
    collateral: {USDC: {ltv: 0.80, liquidation_threshold: 0.85, liquidation_bonus: 0.045}}
    positions:
      - {account: crv-short, collateral: {USDC: 6.36e6}, debt: {CRV: 9.2e6}}
  other:
    type: lending
    collateral: {USDC: {ltv: 0.80, liquidation_threshold: 0.85, liquidation_bonus: 0.045}}
    positions:
      - {account: small-short, collateral: {USDC: 1.0e6}, debt: {CRV: 9.0e5}}
shocks:
  - {CRV: 0.25}
"""


def test_liquidators_buy_the_debt_they_repay_and_squeeze_it():
    # CRV +25 % to 0.625; the pool re-centred there (k = 5e13: 8,944,272 CRV, $5,590,170).
    # The short's HF is 6.36M x 0.85 / (9.2M x 0.625) = 0.940: half its debt, 4.6M CRV
    # ($2.875M at the oracle), is repaid for 3,004,375 USDC. The liquidators must buy those 4.6M
    # CRV on the pool: y q / (x - q) = $5,919,239, and CRV goes to (y + cost) / (x - q) = 2.649.
    # That purchase is what the short squeeze of November 2022 was: at 2.649 the rest of the
    # short is liquidated in round 2 (with bad debt), and so is a second, safer short elsewhere
    # (HF 1.51 at 0.625) - depth 1, through the price of the debt asset
    k = 1.0e7 * 5.0e6
    x, y = math.sqrt(k / 0.625), math.sqrt(k * 0.625)
    q = 4.6e6
    cost = y * q / (x - q)
    after = (y + cost) / (x - q)
    assert cost == pytest.approx(5_919_238.55, abs=0.01) and after == pytest.approx(
        2.6494, abs=1e-4
    )
    hf = 6.36e6 * 0.85 / (9.2e6 * 0.625)
    assert hf == pytest.approx(0.9402, abs=1e-4)
    assert 1.0e6 * 0.85 / (9.0e5 * 0.625) > 1.5 > 1.0 > 1.0e6 * 0.85 / (9.0e5 * after)
    result = run_scenario(scenario_from_yaml(SQUEEZE), trace=True)
    first = result.trace[0]
    assert first.flows["aave"]["CRV"] == pytest.approx(-q, rel=1e-12)  # bought
    assert first.prices["CRV"] == pytest.approx(after, rel=1e-12)
    aave, other = result.protocols["aave"], result.protocols["other"]
    assert (aave.depth, other.depth, other.first_distress_round) == (0, 1, 2)
    assert ("aave", "other", "CRV", 2) in {
        (e.source, e.target, e.asset, e.round) for e in result.edges
    }
    assert aave.bad_debt_usd > 0 and other.liquidations >= 1
    crv = result.assets["CRV"]
    assert crv.bought_units > q and crv.final_price > after > crv.shocked_price
    assert_agree(yaml.safe_load(SQUEEZE), mixed=True)
    # the liquidators paid the market for the CRV: they lost on the squeeze they caused
    assert aave.liquidator_profit_usd < 0


# --- an issued token with a market of its own (a stablecoin's pool) ---------------------------

DAI_POOL = """
name: dai-pool
assets:
  USDC: {price: 1.0}
  ETH: {price: 1500, market: {type: cpmm, base_reserve: 1.0e6, quote_reserve: 1.5e9}}
  DAI:
    issuer: maker
    market: {type: cpmm, base_reserve: 1.0e5, quote_reserve: 1.0e5}
protocols:
  maker:
    type: cdp
    stablecoin: DAI
    liquidation_ratio: 1.5
    penalty: 0.13
    auction: {max_slippage: 0.0, zero_bid_discount: 1.0}
    positions:
      - {account: risky, collateral: {ETH: 10}, debt: 9000}
      - {account: safe, collateral: {ETH: 100}, debt: 27000}
  stable-lend:
    type: lending
    collateral: {DAI: {ltv: 0.75, liquidation_threshold: 0.80, liquidation_bonus: 0.05}}
    positions:
      - {account: dai-holder, collateral: {DAI: 10000}, debt: {USDC: 6500}}
shocks:
  - {ETH: -0.1333333333333333}
"""


def test_a_deficit_and_the_sales_depeg_a_stablecoin_through_its_pool():
    # ETH 1,300: the risky vault (9,000 DAI) is auctioned with no bids: 9,000 of bad debt, no
    # reserve, DAI liabilities 36,000: a haircut of 25 %. The haircut shows one round later
    # (docs/model.md 3f): DAI's pool is re-centred from 1.00 to 0.75 (k kept). stable-lend's
    # holder (10,000 DAI against 6,500 USDC) is then at HF 10,000 x 0.75 x 0.8 / 6,500 = 0.923:
    # closed in full in round 3, 9,100 DAI seized for 6,500, a cost of 0.75 / 1.05 = 0.7143 a
    # DAI. Its liquidators sell into the DAI pool what fetches that: sqrt(k / 0.7143) -
    # sqrt(k / 0.75) = 2,851.5 DAI, and DAI ends at 0.7143: the sales depeg it further through
    # its market. The edge maker -> stable-lend runs through DAI (depth 1)
    k = 1.0e10
    cost = 0.75 / 1.05 * (1 - 1e-9)
    sold = math.sqrt(k / cost) - math.sqrt(k / 0.75)
    assert sold == pytest.approx(2851.54, abs=0.01)
    result = run_scenario(scenario_from_yaml(DAI_POOL), trace=True)
    prices = [row.prices["DAI"] for row in result.trace]
    assert prices[:3] == pytest.approx([1.0, 0.75, cost], rel=1e-12)
    maker, lend = result.protocols["maker"], result.protocols["stable-lend"]
    assert maker.bad_debt_usd == pytest.approx(9000.0) and maker.haircut == pytest.approx(0.25)
    assert (lend.depth, lend.first_distress_round) == (1, 3)
    assert [(e.source, e.asset) for e in result.edges] == [("maker", "DAI")]
    dai = result.assets["DAI"]
    assert dai.sold_units == pytest.approx(sold, rel=1e-12)
    assert dai.held_units == pytest.approx(9100.0 - sold, rel=1e-12)
    assert dai.final_price == pytest.approx(cost, rel=1e-12)
    assert dai.shocked_price == 1.0  # the deficit and the sales are endogenous
    assert_agree(yaml.safe_load(DAI_POOL), mixed=True)


def test_a_stablecoin_with_a_pool_can_be_shocked():
    # a -5 % depeg of DAI itself (its pool re-centred at 0.95), no deficit: stable-lend's HF is
    # 10,000 x 0.95 x 0.8 / 6,500 = 1.17, nothing happens; the shocked price is 0.95
    text = DAI_POOL.replace("- {ETH: -0.1333333333333333}", "- {DAI: -0.05}")
    result = run_scenario(scenario_from_yaml(text))
    dai = result.assets["DAI"]
    assert dai.shocked_price == pytest.approx(0.95, rel=1e-12)
    assert dai.final_price == pytest.approx(0.95, rel=1e-12)
    assert result.liquidations == 0
    assert_agree(yaml.safe_load(text), mixed=True)
