"""Hand cases of the cdp, perp, leveraged and options protocol types (issue 3)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import close, run_scenario, scenario_from_yaml
from hypothesis import given
from strategies import mixed_scenarios

from contagion_cli.compiler import compile_scenario
from contagion_cli.engine import run_raw

# --- cdp ---------------------------------------------------------------------------------------

CDP = """
name: cdp
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1500, market: {{type: cpmm, base_reserve: 1.0e6, quote_reserve: 1.5e9}}}}
  DAI: {{issuer: maker}}
protocols:
  maker:
    type: cdp
    stablecoin: DAI
    liquidation_ratio: 1.5
    penalty: 0.13
    auction: {{max_slippage: {slip}, zero_bid_discount: 1.0}}
    positions:
      # 10 ETH at 1500 = 15,000 against 9,000 DAI (ratio 1.67): safe
      - {{account: risky, collateral: {{ETH: 10}}, debt: 9000}}
      # 100 ETH against 27,000 DAI (ratio 5.6): safe whatever happens here
      - {{account: safe, collateral: {{ETH: 100}}, debt: 27000}}
shocks:
  - {{ETH: -0.1333333333333333}}
"""


def test_working_auction_raises_the_tab():
    # ETH 1500 -> 1300: 13,000 < 1.5 x 9,000 -> auction; tab = 9,000 x 1.13 = 10,170 DAI;
    # the lot (10,170 / 13,000 of the vault) sells on a deep pool: the debt is repaid, the
    # penalty (1,170) is income, the rest of the collateral goes back to the owner.
    result = run_scenario(scenario_from_yaml(CDP.format(slip=1.0)))
    maker = result.protocols["maker"]
    assert maker.auctions == 1 and maker.zero_bid_auctions == 0
    assert maker.bad_debt_usd == 0.0
    assert maker.repaid_usd == pytest.approx(9000.0, rel=1e-9)
    assert maker.income_usd == pytest.approx(1170.0, rel=1e-4)
    assert result.assets["DAI"].final_price == 1.0
    assert not maker.insolvent


def test_zero_bid_auction_leaves_bad_debt_and_depegs_the_stablecoin():
    # with max_slippage 0 any sale is "too stressed": keepers win all 10 ETH for zero DAI.
    # The 9,000 DAI debt is bad debt; with no reserve, DAI loses 9,000 / 36,000 = 25%.
    compiled = compile_scenario(scenario_from_yaml(CDP.format(slip=0.0)))
    raw = run_raw(compiled)
    result = run_scenario(scenario_from_yaml(CDP.format(slip=0.0)))
    maker = result.protocols["maker"]
    assert maker.zero_bid_auctions == 1
    assert maker.bad_debt_usd == pytest.approx(9000.0)
    assert maker.zero_bid_collateral_usd == pytest.approx(13000.0)
    assert maker.auction_raised_usd == 0.0
    assert maker.insolvent
    assert maker.haircut == pytest.approx(0.25)
    assert result.assets["DAI"].final_price == pytest.approx(0.75)
    # no market sale: keepers took the collateral off market
    assert result.assets["ETH"].sold_units == 0.0
    assert raw.state.cdp.col_units[0] == 0.0
    assert raw.outputs.written_off_units[0, 2] == pytest.approx(9000.0)


def test_auction_stress_threshold_depends_on_lot_size():
    # a 1% max slippage: a deep pool takes the lot with less impact -> a working auction
    deep = run_scenario(scenario_from_yaml(CDP.format(slip=0.01)))
    assert deep.protocols["maker"].zero_bid_auctions == 0
    thin = CDP.format(slip=0.01).replace(
        "base_reserve: 1.0e6, quote_reserve: 1.5e9", "base_reserve: 200, quote_reserve: 3.0e5"
    )
    assert run_scenario(scenario_from_yaml(thin)).protocols["maker"].zero_bid_auctions == 1


# --- perp --------------------------------------------------------------------------------------

ADL = """
name: adl
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000}
protocols:
  venue:
    type: perp
    reserve_usd: 20
    maintenance_margin: 0.05
    positions:
      # long 2 ETH from 1000 with 80 margin: at 900 its equity is 80 - 200 = -120
      - {account: bankrupt, asset: ETH, size: 2, entry_price: 1000, margin: 80}
      # shorts in profit at 900: 300, 100, 100
      - {account: w300, asset: ETH, size: -1, entry_price: 1200, margin: 100}
      - {account: w100a, asset: ETH, size: -1, entry_price: 1000, margin: 100}
      - {account: w100b, asset: ETH, size: -1, entry_price: 1000, margin: 100}
shocks:
  - {ETH: -0.10}
"""


def test_auto_deleveraging_worked_example():
    # deficit 120, fund 20 -> 100 left; winners' PnL 300/100/100 -> haircut 20%: 60/20/20
    compiled = compile_scenario(scenario_from_yaml(ADL))
    raw = run_raw(compiled)
    np.testing.assert_allclose(raw.state.perp.adl_cut, [0.0, 60.0, 20.0, 20.0])
    # the cut comes out of unrealised profit: the shorts' entries move toward the mark
    np.testing.assert_allclose(raw.state.perp.entry, [1000.0, 1140.0, 980.0, 980.0])
    np.testing.assert_allclose(raw.state.perp.margin, [80.0, 100.0, 100.0, 100.0])
    result = run_scenario(scenario_from_yaml(ADL))
    venue = result.protocols["venue"]
    assert venue.deficit_usd == pytest.approx(120.0)
    assert venue.adl_usd == pytest.approx(100.0)
    assert venue.bad_debt_usd == pytest.approx(20.0)  # what the insurance fund paid
    assert not venue.insolvent  # the fund covered its share, ADL the rest
    assert [(c.account, round(c.cut_usd, 9)) for c in venue.adl_cuts] == [
        ("w300", 60.0),
        ("w100a", 20.0),
        ("w100b", 20.0),
    ]
    assert result.adl_usd == pytest.approx(100.0)


def test_adl_short_of_winners_leaves_bad_debt():
    # without the profitable shorts the 100 the fund cannot pay is a loss: insolvent
    text = "\n".join(line for line in ADL.splitlines() if "account: w" not in line)
    venue = run_scenario(scenario_from_yaml(text)).protocols["venue"]
    assert venue.adl_usd == 0.0
    assert venue.bad_debt_usd == pytest.approx(120.0)
    assert venue.insolvent


SQUEEZE = """
name: squeeze
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000, market: {type: cpmm, base_reserve: 2000, quote_reserve: 2.0e6}}
protocols:
  venue:
    type: perp
    reserve_usd: 1.0e6
    maintenance_margin: 0.05
    liquidation_fee: 0.01
    positions:
      # shorts with margins that survive a +10% move only at different distances
      - {account: s1, asset: ETH, size: -100, entry_price: 1000, margin: 14000}
      - {account: s2, asset: ETH, size: -100, entry_price: 1000, margin: 17000}
      - {account: s3, asset: ETH, size: -100, entry_price: 1000, margin: 22000}
      - {account: s4, asset: ETH, size: -100, entry_price: 1000, margin: 30000}
shocks:
  - {ETH: 0.10}
"""


def test_short_squeeze_on_an_upward_shock():
    result = run_scenario(scenario_from_yaml(SQUEEZE), trace=True)
    venue = result.protocols["venue"]
    eth = result.assets["ETH"]
    # the +10% shock liquidates s1 (equity 4,000 < 5% x 100 x 1,100); its forced buy lifts
    # ETH further and squeezes the next short, round after round
    assert venue.liquidations >= 3
    assert result.rounds >= 2
    assert eth.bought_units == pytest.approx(100.0 * venue.liquidations)
    assert eth.final_price > eth.shocked_price == pytest.approx(1100.0)
    assert eth.endogenous_impact > 0
    # forced buys into a thin pool fill above the mark: the shorts close with negative equity,
    # which the insurance fund pays
    assert venue.deficit_usd > 0
    assert venue.bad_debt_usd == pytest.approx(venue.deficit_usd)
    assert not venue.insolvent and venue.adl_usd == 0


# --- leveraged ---------------------------------------------------------------------------------

FUNDS = """
name: funds
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000, market: {type: cpmm, base_reserve: 5000, quote_reserve: 5.0e6}}
  BTC: {price: 50000, market: {type: exponential, depth_usd: 5.0e8}}
protocols:
  fund-a:
    type: leveraged
    max_leverage: 10
    target_leverage: 5
    positions:
      # 2,000 ETH with 1.85M debt: equity 150K, leverage 13.3 -> a -10% shock wipes it out
      - {account: a, holdings: {ETH: 2000}, debt_usd: 1.85e6}
  fund-b:
    type: leveraged
    max_leverage: 4
    target_leverage: 3
    positions:
      # overlapping portfolio: ETH and BTC, leverage 3.33 before the shock
      - {account: b, holdings: {ETH: 1000, BTC: 20}, debt_usd: 1.4e6}
shocks:
  - {ETH: -0.10}
"""


def test_leveraged_fund_failure_pulls_a_second_fund_under():
    result = run_scenario(scenario_from_yaml(FUNDS))
    a, b = result.protocols["fund-a"], result.protocols["fund-b"]
    # fund-a: equity 1.8M - 1.85M < 0 after the shock -> it sells everything; the fire sale
    # cannot repay the debt: bad debt of its lender
    assert a.depth == 0 and a.bad_debt_usd > 0
    assert a.deleveraging_sales_usd > 0
    # fund-b was below its max leverage after the shock alone (ETH 900: 3.6 < 4); fund-a's
    # selling pushed it over: it deleverages one round later, through ETH
    assert b.depth == 1 and b.first_distress_round == 2
    assert b.deleveraging_sales_usd > 0 and b.bad_debt_usd == 0
    assert ("fund-a", "fund-b", "ETH") in {(e.source, e.target, e.asset) for e in result.edges}
    # fund-b sold BTC too (pro rata): the fire sale spread to an asset nobody shocked
    assert result.assets["BTC"].sold_units > 0
    assert result.assets["BTC"].final_price < 50000


def test_deleveraging_returns_to_target_without_slippage():
    # no market: sales at the oracle; leverage 4.5 -> sell X = H - 2 x E, back to exactly 2
    text = """
name: target
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000}
protocols:
  fund:
    type: leveraged
    max_leverage: 4
    target_leverage: 2
    positions:
      - {account: f, holdings: {ETH: 100}, debt_usd: 70000}
shocks:
  - {ETH: -0.10}
"""
    raw = run_raw(compile_scenario(scenario_from_yaml(text)))
    # H = 90,000, E = 20,000 (leverage 4.5): X = 90,000 - 40,000 = 50,000 -> 55.56 ETH sold
    units = raw.state.leveraged.hold_units[0]
    debt = raw.state.leveraged.debt[0]
    assert units == pytest.approx(100 - 50000 / 900)
    assert debt == pytest.approx(20000.0)
    assert units * 900 / (units * 900 - debt) == pytest.approx(2.0)


# --- options -----------------------------------------------------------------------------------

PUTS = """
name: puts
assets:
  USDC: {price: 1.0}
  ETH: {price: 2000, market: {type: cpmm, base_reserve: 20000, quote_reserve: 4.0e7}}
protocols:
  vault:
    type: options
    reserve_usd: 5.0e6
    rebalance_band: 0.01
    positions:
      - {asset: ETH, kind: put, strike: 1800, expiry_days: 14, units: 10000, vol: 0.8}
shocks:
  - {ETH: -0.15}
"""


def test_put_writing_vault_sells_into_a_falling_market():
    result = run_scenario(scenario_from_yaml(PUTS), trace=True)
    vault = result.protocols["vault"]
    eth = result.assets["ETH"]
    # the put delta falls toward -1 as ETH falls: the short hedge must grow -> it sells ETH
    assert vault.hedge_units_traded > 0
    assert eth.sold_units > 0 and eth.bought_units == 0
    assert all(v >= 0 for row in result.trace for v in row.flows["vault"].values())
    # its selling deepened the fall beyond the exogenous -15%
    assert eth.final_price < eth.shocked_price
    assert vault.depth == 0
    # mark-to-market: the puts gained more value than the hedge made: a loss (shortfall)
    assert vault.shortfall_usd > 0


def test_call_writing_vault_buys_into_a_rally():
    text = PUTS.replace("kind: put, strike: 1800", "kind: call, strike: 2200").replace(
        "{ETH: -0.15}", "{ETH: 0.15}"
    )
    result = run_scenario(scenario_from_yaml(text))
    assert result.assets["ETH"].bought_units > 0
    assert result.assets["ETH"].final_price > result.assets["ETH"].shocked_price


# --- conservation over every type --------------------------------------------------------------


@given(mixed_scenarios())
def test_conservation_across_protocol_types(data):
    from helpers import scenario_from_dict

    compiled = compile_scenario(scenario_from_dict(data))
    raw = run_raw(compiled)
    o, st = raw.outputs, raw.state
    result = run_scenario(scenario_from_dict(data))
    names = compiled.protocol_names
    maker = names.index("maker")
    dai = compiled.asset_names.index("DAI")
    eth = compiled.asset_names.index("ETH")
    start_cdp = compiled.state.cdp
    # cdp collateral units: start = held at end + auctioned (market and keepers)
    assert close(
        float(start_cdp.col_units.sum()),
        float(st.cdp.col_units.sum() + o.seized_units[maker, eth]),
        rel=1e-9,
    )
    # stablecoin debt: start = end + repaid (burned) + written off
    assert close(
        float(start_cdp.debt.sum()),
        float(st.cdp.debt.sum() + o.repaid_units[maker, dai] + o.written_off_units[maker, dai]),
        rel=1e-9,
        abs_=1e-6,
    )
    # what auctions raised = debt repaid + penalty income + returned to owners (up to the
    # waived dust of a finished auction, 1e-6 of its tab)
    pm = result.protocols["maker"]
    assert close(
        pm.auction_raised_usd,
        pm.repaid_usd + pm.income_usd + pm.returned_to_owners_usd,
        rel=1e-5,
        abs_=1e-3,
    )
    # perp insurance fund: every deficit is paid by the fund, by ADL or is a loss
    pv = result.protocols["perps"]
    assert close(pv.deficit_usd, pv.adl_usd + pv.bad_debt_usd, rel=1e-9, abs_=1e-6)
    assert close(float(st.perp.adl_cut.sum()), pv.adl_usd, rel=1e-9, abs_=1e-6)
    assert np.all(st.perp.margin >= -1e-9)
    # leveraged: debt at start = at end + repaid + lost
    if "fund" in names:
        pf = result.protocols["fund"]
        assert close(
            float(compiled.state.leveraged.debt.sum()),
            float(st.leveraged.debt.sum()) + pf.repaid_usd + pf.bad_debt_usd,
            rel=1e-9,
            abs_=1e-6,
        )
        assert np.all(st.leveraged.hold_units >= -1e-12)
    # no NaN, positive prices
    assert np.all(np.isfinite(o.final_price)) and np.all(o.final_price > 0)
    assert all(np.isfinite(v.bad_debt_usd) for v in result.protocols.values())
