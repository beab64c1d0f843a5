"""Settlement rules found in review: where a sale's money goes, and what a liquidator quotes."""

from __future__ import annotations

import pytest
from helpers import run_scenario, scenario_from_yaml
from reference import simulate

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run

LEV_STALE = """
name: stale-fund
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000}
protocols:
  fund:
    type: leveraged
    max_leverage: 3
    target_leverage: 2
    oracle: {type: lagged, steps: 1}
    positions:
      - {account: f, holdings: {ETH: 100}, debt_usd: 60000}
shocks:
  - {ETH: 0.0}
  - {ETH: -0.25}
  - {ETH: 1.0}
"""


def test_proceeds_beyond_a_leveraged_vaults_debt_stay_with_its_owner():
    # step 2: the lagged oracle still reads 1000: equity 40,000 on 100,000, leverage 2.5 (< 3)
    # step 3: it reads 750: H 75,000, E 15,000, leverage 5 > 3: sell H - 2E = 45,000 at the
    #   oracle = 60 ETH; ETH has no market, so they sell at its price 1500: 90,000 raised,
    #   60,000 repays the whole debt and 30,000 is the owner's (it used to vanish)
    s = scenario_from_yaml(LEV_STALE)
    result = run_scenario(s)
    fund = result.protocols["fund"]
    assert fund.repaid_usd == pytest.approx(60_000.0, rel=1e-12)
    assert fund.returned_to_owners_usd == pytest.approx(30_000.0, rel=1e-12)
    # MODEL.md §6: USD raised by sales = USD paid (to the lender) + USD returned to owners
    assert fund.collateral_sold_usd == pytest.approx(
        fund.repaid_usd + fund.returned_to_owners_usd, rel=1e-12
    )
    assert fund.bad_debt_usd == 0.0
    ref = simulate(s)["protocols"]["fund"]
    assert ref.returned_usd == pytest.approx(30_000.0, rel=1e-12)


def test_the_owner_keeps_the_cash_in_the_entity_view():
    # start equity 100 x 1000 - 60,000 = 40,000; end: ETH at 1000 x 0.75 x 2 = 1500,
    # 40 ETH x 1500 + 30,000 cash, no debt = 90,000: a gain of 50,000 (without the cash the
    # entity view showed a 20,000 loss)
    result = run(compile_scenario(scenario_from_yaml(LEV_STALE)), entities=5)
    (entity,) = [e for e in result.entities if e.account == "f"]
    assert entity.loss_usd == pytest.approx(40_000.0 - 90_000.0, rel=1e-12)


PEG_KEEP = """
name: keep-the-target
assets:
  USDC: {price: 1.0}
  ETH:
    price: 1800
    market: {type: cpmm, base_reserve: 5000, quote_reserve: 9.0e6, fee: 0.003}
  stETH:
    peg: {to: ETH, ratio: 0.99, sell_target: false}
    market: {type: cpmm, base_reserve: 250000, quote_reserve: 247500, fee: 0.0004}
protocols:
  aave:
    type: lending
    reserve_usd: 5.0e6
    liquidators: {min_profit_usd: 0}
    collateral:
      stETH: {ltv: 0.69, liquidation_threshold: 0.81, liquidation_bonus: 0.075}
    positions:
      - {account: loop-1, collateral: {stETH: 10000}, debt: {ETH: 7780}}
      - {account: loop-2, collateral: {stETH: 6000}, debt: {ETH: 4550}}
      - {account: loop-3, collateral: {stETH: 4000}, debt: {ETH: 2950}}
      - {account: loop-4, collateral: {stETH: 8000}, debt: {ETH: 5730}}
shocks:
  - {stETH: -0.06}
"""


def test_liquidators_keeping_the_peg_target_quote_it_at_its_price():
    """With `sell_target: false` liquidators keep the ETH the stETH pool pays; quoting it through
    the thin ETH pool (as if they sold it) called every liquidation unprofitable."""
    s = scenario_from_yaml(PEG_KEEP)
    with_check = run_scenario(s)
    without = run_scenario(
        scenario_from_yaml(PEG_KEEP.replace("    liquidators: {min_profit_usd: 0}\n", ""))
    )
    aave = with_check.protocols["aave"]
    assert aave.skipped_unprofitable == 0
    assert aave.liquidations == without.protocols["aave"].liquidations > 0
    assert aave.liquidator_profit_usd > 0
    assert simulate(s)["protocols"]["aave"].liquidations == aave.liquidations


RELAX = """
name: relax
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000}
protocols:
  lend:
    type: lending
    dynamic_risk: {sensitivity: 5, reference_vol: 0.5, max_change: 0.5}
    collateral:
      ETH: {ltv: 0.8, liquidation_threshold: 0.9, liquidation_bonus: 0.05}
    positions:
      - {account: a, collateral: {ETH: 10}, debt: {USDC: 9500}}
shocks:
  - {ETH: -0.01}
"""


def test_a_relaxed_threshold_stops_at_one():
    # vol |ln 0.99| = 0.01 is far below 0.5: adj = clamp(5 x -0.49) = -0.5, LT 0.9 x 1.5 = 1.35
    # without the cap; capped at 1: HF = 10 x 990 x 1 / 9500 = 1.042 -> no liquidation, while
    # debt 10,000 > collateral 9,900 would give HF 0.99 even at LT 1
    ok = run_scenario(scenario_from_yaml(RELAX))
    assert ok.protocols["lend"].liquidations == 0
    over = run_scenario(scenario_from_yaml(RELAX.replace("USDC: 9500", "USDC: 10000")))
    assert over.protocols["lend"].liquidations >= 1  # with LT 1.35 it would have been spared
