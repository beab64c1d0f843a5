"""Hand cases of the cdp, perp, leveraged and options protocol types (issue 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import close, run_scenario, scenario_from_dict, scenario_from_yaml
from hypothesis import given
from strategies import mixed_scenarios

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.collect import collect
from contagion_cli.engine.raw import run_raw

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


def test_keepers_pay_the_tab_at_a_discount():
    # zero_bid_discount 0.2: the lot is worth the tab, 10,170 DAI = 7.823 ETH at 1,300; keepers
    # take lot / (1 - 0.2) = 9.779 ETH (12,712.50 at the oracle) and pay 0.8 x that = 10,170:
    # the tab is raised (debt 9,000 + penalty 1,170), and the vault's last 0.221 ETH go back
    # to the owner in kind
    text = CDP.format(slip=0.0).replace("zero_bid_discount: 1.0", "zero_bid_discount: 0.2")
    raw = run_raw(compile_scenario(scenario_from_yaml(text)))
    maker = run_scenario(scenario_from_yaml(text)).protocols["maker"]
    taken = 10170 / 1300 / 0.8
    assert maker.zero_bid_auctions == 1
    assert maker.zero_bid_collateral_usd == pytest.approx(taken * 1300, rel=1e-9)
    assert maker.auction_raised_usd == pytest.approx(10170.0, rel=1e-9)
    assert maker.repaid_usd == pytest.approx(9000.0, rel=1e-9)
    assert maker.income_usd == pytest.approx(1170.0, rel=1e-9)
    assert maker.bad_debt_usd == 0.0
    assert raw.state.cdp.col_units[0] == pytest.approx(10 - taken, rel=1e-9)
    # returned_to_owners_usd counts sale proceeds beyond the tab only, not collateral in kind
    assert maker.returned_to_owners_usd == 0.0


def test_keepers_take_at_most_the_whole_vault():
    # zero_bid_discount 0.5: lot / 0.5 = 15.6 ETH is more than the vault: keepers take all 10
    # ETH for 0.5 x 13,000 = 6,500; the other 2,500 of debt is bad debt (DAI: 2,500 / 36,000)
    text = CDP.format(slip=0.0).replace("zero_bid_discount: 1.0", "zero_bid_discount: 0.5")
    result = run_scenario(scenario_from_yaml(text))
    maker = result.protocols["maker"]
    assert maker.zero_bid_collateral_usd == pytest.approx(13000.0, rel=1e-9)
    assert maker.auction_raised_usd == pytest.approx(6500.0, rel=1e-9)
    assert maker.repaid_usd == pytest.approx(6500.0, rel=1e-9)
    assert maker.income_usd == 0.0
    assert maker.bad_debt_usd == pytest.approx(2500.0, rel=1e-9)
    assert result.assets["DAI"].final_price == pytest.approx(1 - 2500 / 36000, rel=1e-12)


def test_an_auction_that_repays_the_debt_but_not_the_whole_penalty():
    # ETH 1,500 -> 975: 9,750 < 1.5 x 9,000 -> auction. The tab 10,170 is worth more than the
    # vault, so the lot is all 10 ETH; the deep pool pays 9,749.99 for it. That repays the
    # 9,000 debt; the other 749.99 is penalty income; the remaining 420.01 of the penalty is
    # not collected: it is no loss (nobody is owed it), so neither bad debt nor a haircut
    text = CDP.format(slip=1.0).replace("-0.1333333333333333", "-0.35")
    result = run_scenario(scenario_from_yaml(text))
    maker = result.protocols["maker"]
    raised = maker.auction_raised_usd
    assert 9000.0 < raised < 10170.0
    assert result.assets["ETH"].sold_units == pytest.approx(10.0, rel=1e-12)
    assert maker.repaid_usd == pytest.approx(9000.0, rel=1e-9)
    assert maker.income_usd == pytest.approx(raised - 9000.0, rel=1e-9)
    assert maker.bad_debt_usd == 0.0 and maker.returned_to_owners_usd == 0.0
    assert result.assets["DAI"].final_price == 1.0
    # the vault is closed with its collateral gone but its debt repaid: only the penalty went
    # unraised, which is lost income, so it is not a bad-debt position (docs/model.md 3b)
    assert maker.bad_debt_positions == 0


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
    # the bankrupt long (2 ETH closed at 900: 1,800 of notional) in the share of its deficit
    # the cuts paid, 100 of 120: 1,500 of notional deleveraged
    assert venue.adl_notional_usd == pytest.approx(1_800 * 100 / 120, rel=1e-12)


def test_adl_short_of_winners_leaves_bad_debt():
    # without the profitable shorts the 100 the fund cannot pay is a loss: insolvent
    text = "\n".join(line for line in ADL.splitlines() if "account: w" not in line)
    venue = run_scenario(scenario_from_yaml(text)).protocols["venue"]
    assert venue.adl_usd == 0.0 and venue.adl_notional_usd == 0.0
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
    # by hand: the +10% shock re-centres the pool (k = 4e9) at 1,100: x = 1,906.96 ETH,
    # y = 2,097,617.7 USD. s1's equity 14,000 - 100 x 100 = 4,000 < 5% x 100 x 1,100 = 5,500:
    # closed, it buys 100 ETH for y x 100 / (x - 100) -> ETH 1,225.12. At 1,225.12 s2 and s3
    # are under water (17,000 and 22,000 - 22,512): both buy (200 ETH) -> 1,549.06. At
    # 1,549.06 s4 (30,000 - 54,906) is too: 100 more -> 1,761.48. 4 closes over 3 rounds.
    k = 2000 * 2.0e6
    x, y = math.sqrt(k / 1100), math.sqrt(k * 1100)
    prices, deficit = [], 0.0
    for n_closed, margins in ((1, [14000]), (2, [17000, 22000]), (1, [30000])):
        q = 100.0 * n_closed
        cost = y * q / (x - q)
        x, y = x - q, y + cost
        prices.append(y / x)
        # forced buys fill above the mark: realised equity margin - 100 x (avg - 1,000) < 0
        deficit += sum(100 * (cost / q - 1000) - m for m in margins)
    assert prices == pytest.approx([1225.12, 1549.06, 1761.48], abs=0.01)
    assert deficit == pytest.approx(73_794.12, abs=0.01)
    assert venue.liquidations == 4 and result.rounds == 3
    assert [row.liquidations["venue"] for row in result.trace[:3]] == [1, 2, 1]
    assert [row.flows["venue"] for row in result.trace[:3]] == [
        {"ETH": -100.0},
        {"ETH": -200.0},
        {"ETH": -100.0},
    ]
    assert [row.prices["ETH"] for row in result.trace[:3]] == pytest.approx(prices, rel=1e-12)
    assert eth.bought_units == pytest.approx(400.0) and eth.sold_units == 0.0
    assert eth.shocked_price == pytest.approx(1100.0)
    assert eth.final_price == pytest.approx(prices[-1], rel=1e-12)
    assert eth.endogenous_impact == pytest.approx(prices[-1] / 1100 - 1, rel=1e-9)
    # every close had negative equity, so no fee was earned; the insurance fund (1M) pays it all
    assert venue.income_usd == 0.0
    assert venue.deficit_usd == pytest.approx(deficit, rel=1e-9)
    assert venue.bad_debt_usd == pytest.approx(deficit, rel=1e-9)
    assert not venue.insolvent and venue.adl_usd == 0


# --- two-sided markets -------------------------------------------------------------------------

CROSS = """
name: cross
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000, market: {type: linear, lambda_per_usd: 1.0e-5}}
protocols:
  venue:
    type: perp
    reserve_usd: 1.0e6
    maintenance_margin: 0.05
    positions:
      # at 900: equity 1,200 - 10 x 100 = 200 < 5% x 10 x 900 = 450 -> closed: buys 10
      - {account: short, asset: ETH, size: -10, entry_price: 800, margin: 1200}
      # at 900: equity 1,000 - 20 x 100 < 0 -> closed: sells 20
      - {account: long, asset: ETH, size: 20, entry_price: 1000, margin: 1000}
shocks:
  - {ETH: -0.10}
"""


def test_sells_and_buys_of_one_round_cross_at_the_round_start_price():
    result = run_scenario(scenario_from_yaml(CROSS), trace=True)
    eth = result.assets["ETH"]
    # 10 of the 20 sold cross the 10 bought at 900 (no impact); the net 10 go to the linear
    # market: P' = 900 x (1 - 1e-5 x 10 x 900) = 819, proceeds 10 x (900 + 819) / 2 = 8,595
    assert eth.final_price == pytest.approx(819.0, rel=1e-12)
    assert eth.sold_units == pytest.approx(20.0) and eth.bought_units == pytest.approx(10.0)
    assert result.trace[0].net_sold_units["ETH"] == pytest.approx(10.0)
    # the sellers get 10 x 900 + 8,595 = 17,595 (879.75 each); slippage is the net's alone:
    # 10 x 900 - 8,595 = 405, over the gross notional 30 x 900 = 27,000 -> 150 bps
    assert eth.sale_proceeds_usd == pytest.approx(17_595.0, rel=1e-12)
    assert eth.slippage_usd == pytest.approx(405.0, rel=1e-9)
    assert eth.slippage_bps == pytest.approx(150.0, rel=1e-9)
    venue = result.protocols["venue"]
    # the long realises at 879.75: 1,000 + 20 x (879.75 - 1,000) = -1,405; the short buys at
    # 900 (crossed): 1,200 - 10 x 100 = 200 left to it. The fund pays the 1,405.
    assert venue.liquidations == 2
    assert venue.deficit_usd == pytest.approx(1405.0, rel=1e-9)
    assert venue.bad_debt_usd == pytest.approx(1405.0, rel=1e-9)


def test_a_buy_on_a_linear_market():
    # a short closed at P = 100 buys 10 units: P' = 100 x (1 + 1e-4 x 10 x 100) = 110,
    # cost 10 x (100 + 110) / 2 = 1,050 (slippage 50 against 10 x 100)
    text = """
name: linear-buy
assets:
  USDC: {price: 1.0}
  ETH: {price: 80, market: {type: linear, lambda_per_usd: 1.0e-4}}
protocols:
  venue:
    type: perp
    reserve_usd: 1.0e6
    maintenance_margin: 0.05
    positions:
      # at 100: equity 240 - 10 x 20 = 40 < 5% x 10 x 100 = 50 -> closed: buys 10
      - {account: s, asset: ETH, size: -10, entry_price: 80, margin: 240}
shocks:
  - {ETH: 0.25}
"""
    result = run_scenario(scenario_from_yaml(text))
    eth = result.assets["ETH"]
    assert eth.shocked_price == pytest.approx(100.0)
    assert eth.bought_units == pytest.approx(10.0)
    assert eth.final_price == pytest.approx(110.0, rel=1e-12)
    assert eth.slippage_usd == pytest.approx(50.0, rel=1e-9)
    # realised at 105: 240 - 10 x (105 - 80) = -10, paid by the fund
    assert result.protocols["venue"].deficit_usd == pytest.approx(10.0, rel=1e-9)


def test_a_buy_walks_the_asks_of_an_order_book():
    text = """
name: asks
assets:
  USDC: {price: 1.0}
  ETH:
    price: 1000
    market: {type: orderbook, bids: [[-0.01, 5]], asks: [[0.02, 50], [0.05, 50], [0.10, 50]]}
protocols:
  venue:
    type: perp
    reserve_usd: 1.0e6
    maintenance_margin: 0.05
    positions:
      # at 1,100: equity 9,000 - 60 x 100 = 3,000 < 5% x 60 x 1,100 = 3,300 -> buys 60
      - {account: s1, asset: ETH, size: -60, entry_price: 1000, margin: 9000}
shocks:
  - {ETH: 0.10}
"""
    result = run_scenario(scenario_from_yaml(text))
    eth = result.assets["ETH"]
    # the book is requoted around 1,100: asks 1,122 (50), 1,155 (50), 1,210 (50).
    # 60 units: 50 x 1,122 + 10 x 1,155 = 67,650; the price is the last level hit
    assert eth.bought_units == pytest.approx(60.0)
    assert eth.final_price == pytest.approx(1155.0, rel=1e-12)
    assert eth.unfilled_units == 0.0
    # slippage 67,650 - 60 x 1,100 = 1,650 = 250 bps of 66,000
    assert eth.slippage_usd == pytest.approx(1650.0, rel=1e-9)
    assert eth.slippage_bps == pytest.approx(250.0, rel=1e-9)
    venue = result.protocols["venue"]
    # realised at 67,650 / 60 = 1,127.5: 9,000 - 60 x 127.5 = 1,350 >= 0: no deficit
    assert venue.liquidated_usd == pytest.approx(67_650.0, rel=1e-12)
    assert venue.deficit_usd == 0.0


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
      # overlapping portfolio: ETH and BTC, leverage 2.2 before the shock, 2.44 after it
      - {account: b, holdings: {ETH: 1000, BTC: 4}, debt_usd: 6.5e5}
shocks:
  - {ETH: -0.10}
"""


def test_leveraged_fund_failure_pulls_a_second_fund_under():
    result = run_scenario(scenario_from_yaml(FUNDS), trace=True)
    a, b = result.protocols["fund-a"], result.protocols["fund-b"]
    # by hand: the shock re-centres the pool at 900 with k = 5,000 x 5.0e6 = 2.5e10:
    # x = sqrt(k / 900) = 5,270.46 ETH, y = sqrt(k x 900) = 4,743,416.49 USD.
    k = 5000 * 5.0e6
    x, y = math.sqrt(k / 900), math.sqrt(k * 900)
    # round 1, fund-a: equity 1.8M - 1.85M < 0 -> it sells all 2,000 ETH for
    # y x 2,000 / (x + 2,000) = 1,304,845.82; the unpaid 545,154.18 is its lender's loss
    proceeds_a = y * 2000 / (x + 2000)
    assert proceeds_a == pytest.approx(1_304_845.82, abs=0.01)
    assert a.depth == 0 and a.first_distress_round == 1 and a.insolvent
    assert a.deleveraging_sales_usd == pytest.approx(proceeds_a, rel=1e-9)
    assert a.bad_debt_usd == pytest.approx(1.85e6 - proceeds_a, rel=1e-9)
    assert a.bad_debt_usd == pytest.approx(545_154.18, abs=0.01)
    # fund-b after the shock alone: H = 1,000 x 900 + 4 x 50,000 = 1.1M, E = 450K, leverage
    # 2.44 < 4: safe in round 1. fund-a's sale leaves ETH at (y - 1,304,845.82) / (x + 2,000)
    # = 472.95: H = 672,950.73, E = 22,950.73, leverage 29.3 > 4 -> round 2 it sells
    # X = H - 3E = 604,098.54 (89.8 % of each holding, pro rata); the sale's own slippage
    # leaves its equity <= 0 at round-3 prices: it sells everything and fails
    eth_after_a = (y - proceeds_a) / (x + 2000)
    assert eth_after_a == pytest.approx(472.95, abs=0.01)
    h = 1000 * eth_after_a + 4 * 50000
    assert h / (h - 6.5e5) == pytest.approx(29.32, abs=0.01)
    assert result.trace[0].prices["ETH"] == pytest.approx(eth_after_a, rel=1e-12)
    assert b.depth == 1 and b.first_distress_round == 2
    assert b.liquidations == 2  # a deleveraging sale (round 2), then the wind-down (round 3)
    assert [row.flows["fund-b"] for row in result.trace[1:3]] == [
        {"ETH": pytest.approx(897.686, abs=1e-3), "BTC": pytest.approx(3.591, abs=1e-3)},
        {"ETH": pytest.approx(102.314, abs=1e-3), "BTC": pytest.approx(0.409, abs=1e-3)},
    ]
    assert b.insolvent and b.bad_debt_usd == pytest.approx(34_274.79, abs=0.01)
    assert b.deleveraging_sales_usd == pytest.approx(6.5e5 - b.bad_debt_usd, rel=1e-9)
    assert result.bad_debt_usd == pytest.approx(a.bad_debt_usd + b.bad_debt_usd, rel=1e-12)
    assert {(e.source, e.target, e.asset, e.round) for e in result.edges} == {
        ("fund-a", "fund-b", "ETH", 2)
    }
    # fund-b sold all its BTC (pro rata, then the rest): the fire sale spread to an asset
    # nobody shocked; alpha = 50,000 / 5.0e8 per unit -> 50,000 x e^(-4e-4) = 49,980.00
    assert result.assets["BTC"].sold_units == pytest.approx(4.0, rel=1e-12)
    assert result.assets["BTC"].final_price == pytest.approx(50000 * math.exp(-4e-4), rel=1e-9)


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


def _black_scholes(call: bool, s: float, strike: float, days: float, vol: float):
    """Black–Scholes (delta, value) of one option at rate 0, written out here with math.erf so
    that the tests do not lean on the kernel's or the compiler's own formula."""
    tau = days / 365.0
    d1 = (math.log(s / strike) + 0.5 * vol * vol * tau) / (vol * math.sqrt(tau))
    d2 = d1 - vol * math.sqrt(tau)

    def n(z: float) -> float:
        return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))

    if call:
        return n(d1), s * n(d1) - strike * n(d2)
    return n(d1) - 1.0, strike * n(-d2) - s * n(-d1)


def test_put_writing_vault_sells_into_a_falling_market():
    result = run_scenario(scenario_from_yaml(PUTS), trace=True)
    vault = result.protocols["vault"]
    eth = result.assets["ETH"]

    def delta(s: float) -> float:
        return _black_scholes(False, s, 1800, 14, 0.8)[0]

    # the vault starts short 10,000 x delta(2,000) = -2,264 ETH (its hedge of the puts it
    # wrote). The put delta falls toward -1 as ETH falls, so the short hedge must grow: at
    # the shocked 1,700 (delta -0.613) it sells 10,000 x (delta(2,000) - delta(1,700))
    round1 = 10000 * (delta(2000) - delta(1700))
    assert round1 == pytest.approx(3863.58, abs=0.01)
    # into the cpmm re-centred at 1,700 (k = 20,000 x 4.0e7): ETH -> 1,224.85
    k = 20000 * 4.0e7
    x, y = math.sqrt(k / 1700), math.sqrt(k * 1700)
    y -= y * round1 / (x + round1)
    x += round1
    p1 = y / x
    assert p1 == pytest.approx(1224.85, abs=0.01)
    # round 2 at 1,224.85 (delta -0.991): 10,000 x (delta(1,700) - delta(p1)) more
    round2 = 10000 * (delta(1700) - delta(p1))
    assert round2 == pytest.approx(3785.71, abs=0.01)
    y -= y * round2 / (x + round2)
    x += round2
    p2 = y / x
    # round 3 at 929.18: the hedge is 86.7 units off target, inside the band (1% x 10,000)
    assert 10000 * abs(delta(p1) - delta(p2)) < 0.01 * 10000
    flows = [row.flows["vault"] for row in result.trace]
    assert flows == [
        {"ETH": pytest.approx(round1, rel=1e-9)},
        {"ETH": pytest.approx(round2, rel=1e-9)},
        {},
    ]
    assert [row.prices["ETH"] for row in result.trace] == pytest.approx([p1, p2, p2], rel=1e-9)
    assert vault.hedge_units_traded == pytest.approx(round1 + round2, rel=1e-9)
    assert vault.hedge_units_traded == pytest.approx(7649.29, abs=0.01)
    assert eth.sold_units == pytest.approx(7649.29, abs=0.01) and eth.bought_units == 0
    # its selling deepened the fall beyond the exogenous -15%
    assert eth.final_price == pytest.approx(p2, rel=1e-9) and p2 < eth.shocked_price
    assert vault.depth == 0 and vault.first_distress_round == 1
    # mark-to-market at 929.18: hedge cash (the start hedge's short sale at 2,000 plus both
    # sales' proceeds) + hedge x price - the puts' value now + their value at the start
    h0 = 10000 * delta(2000)
    cash = -h0 * 2000
    xx, yy = math.sqrt(k / 1700), math.sqrt(k * 1700)
    for q in (round1, round2):  # the two sales again, for their proceeds
        proceeds = yy * q / (xx + q)
        cash += proceeds
        xx, yy = xx + q, yy - proceeds
    hedge = h0 - round1 - round2
    book = 10000 * _black_scholes(False, p2, 1800, 14, 0.8)[1]
    book0 = 10000 * _black_scholes(False, 2000, 1800, 14, 0.8)[1]
    loss = -(cash + hedge * p2 - book + book0)
    assert loss == pytest.approx(3_333_634.71, abs=0.01)
    assert vault.shortfall_usd == pytest.approx(loss, rel=1e-9)
    assert not vault.insolvent  # within its 5M capital


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
    scenario = scenario_from_dict(data)
    compiled = compile_scenario(scenario)
    raw = run_raw(compiled, trace=True)
    o, st = raw.outputs, raw.state
    result = collect(compiled, raw.outputs, raw.status, raw.state)
    assert not result.trace_truncated
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
    # the stablecoin: price = par x (1 - the cdp's haircut), haircut = uncovered / liabilities
    # (liabilities: the DAI its vaults owed at the start), floored at the price band
    eps = scenario.settings.min_price_fraction
    if "market" not in data["assets"]["DAI"]:  # with a pool of its own, its pool's price
        assert close(result.assets["DAI"].final_price, max(1.0 - pm.haircut, eps), rel=1e-12)
    if result.converged:  # at the fixed point the haircut is that of the final state
        liabilities = float(start_cdp.debt.sum())
        assert close(pm.haircut, min(1.0, pm.uncovered_usd / liabilities), rel=1e-9, abs_=1e-12)
    # perp insurance fund: every deficit is paid by the fund, by ADL or is a loss
    pv = result.protocols["perps"]
    assert close(pv.deficit_usd, pv.adl_usd + pv.bad_debt_usd, rel=1e-9, abs_=1e-6)
    assert close(float(st.perp.adl_cut.sum()), pv.adl_usd, rel=1e-9, abs_=1e-6)
    # reserve + fees = paid by the fund + left in it; the fund pays every loss while it has
    # money, and nobody is auto-deleveraged before it is empty
    fund = pv.reserve_usd + pv.income_usd
    paid, left = pv.reserve_used_usd, fund - pv.reserve_used_usd
    assert close(paid, min(fund, pv.bad_debt_usd), rel=1e-12, abs_=1e-9)
    assert left >= -1e-9 and paid >= 0.0
    if pv.adl_usd > 0:
        assert pv.bad_debt_usd >= pv.reserve_usd * (1 - 1e-12)
    assert pv.insolvent == (pv.bad_debt_usd + pv.shortfall_usd > fund)
    # a cut takes profit, never margin: open positions keep the margin they deposited
    is_open = st.perp.status == 0
    np.testing.assert_array_equal(st.perp.margin[is_open], compiled.state.perp.margin[is_open])
    assert np.all(st.perp.margin >= -1e-9) and np.all(st.perp.adl_cut >= 0.0)
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
    # options: the hedge moves by exactly the units traded, as the trace's flows say
    if "vault" in names:
        vault = names.index("vault")
        pv_opt = result.protocols["vault"]
        flows = [row.flows["vault"].get("ETH", 0.0) for row in result.trace]
        h0 = float(compiled.state.pstate.hedge[vault, eth])
        h1 = float(st.pstate.hedge[vault, eth])
        if result.assets["ETH"].unfilled_units == 0.0:  # every order filled in full
            assert close(pv_opt.hedge_units_traded, sum(abs(f) for f in flows), rel=1e-9)
            assert close(h1, h0 - sum(flows), rel=1e-9, abs_=1e-9)
        else:
            assert pv_opt.hedge_units_traded <= sum(abs(f) for f in flows) * (1 + 1e-12)
        assert abs(h1 - h0) <= pv_opt.hedge_units_traded * (1 + 1e-9) + 1e-9
        # hedge cash: what the hedge trades cost and raised; its mark-to-market loss, with a
        # Black-Scholes value written out here, is the reported shortfall
        price = result.assets["ETH"].final_price
        book = 0.0
        for pos in data["protocols"]["vault"]["positions"]:
            call = pos["kind"] == "call"
            _, value = _black_scholes(call, price, pos["strike"], pos["expiry_days"], pos["vol"])
            book += pos["units"] * value
        equity = float(st.pstate.hedge_cash[vault]) + h1 * price - book
        equity += float(compiled.state.pstate.liability0[vault])
        assert close(pv_opt.shortfall_usd, max(0.0, -equity), rel=1e-7, abs_=1e-6)
    # no NaN, positive prices
    assert np.all(np.isfinite(o.final_price)) and np.all(o.final_price > 0)
    assert all(np.isfinite(v.bad_debt_usd) for v in result.protocols.values())
