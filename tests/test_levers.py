"""Each lever of issue 4 changes outcomes as documented: hand cases and the example files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import run_scenario, scenario_from_yaml

from contagion_cli.compiler import compile_scenario
from contagion_cli.engine import run, run_raw
from contagion_cli.inputs import load_scenario

LEVERS = Path(__file__).parents[1] / "scenarios" / "levers"


def lever(name: str, *sets: str, entities: int = 0):
    return run(compile_scenario(load_scenario(LEVERS / f"{name}.yaml", sets)), entities=entities)


ONE = """
name: one
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1000{market}}}
protocols:
  p:
    type: lending
    {extra}
    collateral: {{ETH: {{ltv: 0.8, liquidation_threshold: 0.8, liquidation_bonus: 0.05}}}}
    positions:
      - {{account: a, collateral: {{ETH: 10}}, debt: {{USDC: 7000}}}}
shocks:
{shocks}
"""


def one(extra: str = "", shocks: str = "  - {ETH: -0.15}", market: str = ""):
    return scenario_from_yaml(ONE.format(extra=extra, shocks=shocks, market=market))


# --- oracles -----------------------------------------------------------------------------------


def test_spot_oracle_liquidates_in_the_first_round():
    # HF at 850 = 10 x 850 x 0.8 / 7000 = 0.971 -> liquidated in round 1
    result = run_scenario(one())
    assert result.protocols["p"].first_distress_round == 1
    assert result.protocols["p"].liquidations == 1


def test_oracle_lagged_by_rounds_sees_the_shock_later():
    # two rounds behind: rounds 1 and 2 read older prices (the start), round 3 reads the shock
    result = run_scenario(one("oracle: {type: lagged, rounds: 2}"), trace=True)
    p = result.protocols["p"]
    assert p.liquidations == 1
    assert [row.liquidations["p"] for row in result.trace][:3] == [0, 0, 1]
    assert result.steps[0].rounds == 1  # the quiet rounds do not count as action


def test_oracle_lagged_by_steps_reads_the_previous_step_end():
    # one step behind: step 1 reads the start (no liquidation); step 2 reads step 1's end
    result = run_scenario(one("oracle: {type: lagged, steps: 1}", "  - {ETH: -0.15}\n  - {}"))
    p = result.protocols["p"]
    assert p.first_distress_step == 2 and p.liquidations == 1


def test_twap_oracle_averages_rounds():
    # twap over 3 rounds: round 1 = mean(1000, 1000, 850) = 950: HF 1.086, no liquidation;
    # round 2 = mean(1000, 850, 850) = 900: HF 1.03; round 3 = 850: liquidated
    result = run_scenario(one("oracle: {type: twap, rounds: 3}"), trace=True)
    assert [row.liquidations["p"] for row in result.trace][:3] == [0, 0, 1]


def test_external_oracle_ignores_market_impact():
    # on a thin pool the first liquidation's sale takes ETH below the shocked 850; a spot feed
    # reads the pool and liquidates the second position (HF 1.03 at 850) too, an external feed
    # stays at 850 (the exogenous path) and does not
    pool = ", market: {type: cpmm, base_reserve: 30, quote_reserve: 30000}"
    second = "      - {account: b, collateral: {ETH: 10}, debt: {USDC: 6600}}\n"
    spot = ONE.format(extra="", shocks="  - {ETH: -0.15}", market=pool)
    ext = ONE.format(extra="oracle: {type: external}", shocks="  - {ETH: -0.15}", market=pool)
    spot, ext = (t.replace("shocks:\n", second + "shocks:\n") for t in (spot, ext))
    r_spot = run_scenario(scenario_from_yaml(spot))
    r_ext = run_scenario(scenario_from_yaml(ext))
    assert r_ext.protocols["p"].liquidations == 1
    assert r_spot.protocols["p"].liquidations > 1
    assert r_ext.assets["ETH"].final_price < 850.0  # the pool moved; the feed did not


def test_oracle_floor_hides_a_loss_that_market_shortfall_shows():
    result = lever("oracle-floor")
    venus = result.protocols["venus"]
    assert venus.market_shortfall_usd > 5e6  # LUNA at $0.01 against a $0.10 feed
    assert venus.shortfall_usd == 0.0  # at its own oracle the positions look fine
    spot = lever("oracle-floor", "protocols.venus.oracle={type: spot}").protocols["venus"]
    assert spot.market_shortfall_usd == 0.0
    assert spot.bad_debt_usd > venus.bad_debt_usd


def test_oracle_lag_turns_liquidations_into_bad_debt():
    lagged = lever("oracle-lag").protocols["market"]
    spot = lever("oracle-lag", "protocols.market.oracle={type: spot}").protocols["market"]
    assert lagged.skipped_unprofitable > 0
    assert lagged.bad_debt_usd > 10 * spot.bad_debt_usd > 0


def test_external_oracle_contains_an_on_chain_crash():
    ext = lever("external-oracle").protocols["lender"]
    spot = lever("external-oracle", "protocols.lender.oracle={type: spot}").protocols["lender"]
    assert ext.bad_debt_usd == 0 and not ext.insolvent and ext.liquidations == 1
    assert spot.bad_debt_usd > 1e7 and spot.insolvent


# --- liquidators -------------------------------------------------------------------------------


def test_unprofitable_liquidations_are_skipped():
    # HF 0.971 -> close factor 0.5: repay 3500, seize 3500 x 1.05 / 850 = 4.32 ETH, which
    # sells (no market: at 850) for 3675: a profit of 175. A minimum of 200 declines it
    declined = run_scenario(one("liquidators: {min_profit_usd: 200}"))
    assert declined.protocols["p"].liquidations == 0
    assert declined.protocols["p"].skipped_unprofitable == 1
    taken = run_scenario(one("liquidators: {min_profit_usd: 150}"))
    assert taken.protocols["p"].liquidations == 1
    assert taken.protocols["p"].liquidator_profit_usd == pytest.approx(175.0)


def test_capital_goes_to_the_most_profitable_first_and_runs_out():
    text = """
name: capital
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000}
protocols:
  p:
    type: lending
    close_factor: 1.0
    liquidators: {capital_usd_per_round: 10000}
    collateral: {ETH: {ltv: 0.8, liquidation_threshold: 0.8, liquidation_bonus: 0.1}}
    positions:
      # at 850 every HF = 0.971; profits (10% bonus x repay) 420, 700, 630
      - {account: zed, collateral: {ETH: 6}, debt: {USDC: 4200}}
      - {account: amy, collateral: {ETH: 10}, debt: {USDC: 7000}}
      - {account: bob, collateral: {ETH: 9}, debt: {USDC: 6300}}
shocks:
  - {ETH: -0.15}
"""
    compiled = compile_scenario(scenario_from_yaml(text))
    raw = run_raw(compiled)
    debt = raw.state.lending.debt_units
    # round 1: amy (profit 700) in full: 7000; bob (630) with the 3000 left; zed (420) waits.
    # round 2: zed in full. Bob, 3000 repaid for 3.88 ETH, is left with 5.12 ETH against 3300
    # (HF 1.055): no longer liquidatable
    assert debt.tolist() == pytest.approx([0.0, 0.0, 3300.0])
    o = raw.outputs
    assert o.skipped_capital[0] == 1
    assert o.liquidations[0] == 3
    assert o.repaid_usd[0] == pytest.approx(7000.0 + 3000.0 + 4200.0)


def test_liquidators_example_leaves_a_shortfall_instead_of_a_fire_sale():
    with_check = lever("liquidators").protocols["market"]
    without = lever("liquidators", "protocols.market.liquidators=null").protocols["market"]
    assert with_check.skipped_unprofitable >= 1
    assert with_check.shortfall_usd > 0
    assert without.skipped_unprofitable == 0 and without.liquidator_profit_usd < 0
    assert without.bad_debt_usd > with_check.bad_debt_usd


# --- circuit breakers, dynamic risk ------------------------------------------------------------


def test_breaker_pauses_for_the_rest_of_the_step_and_reports_what_it_deferred():
    result = run_scenario(one("circuit_breaker: {drop: 0.1}", "  - {ETH: -0.15}\n  - {}"))
    p = result.protocols["p"]
    # step 1: ETH 15% below the step's start -> paused, the liquidation waits; step 2 resumes
    assert p.paused_rounds == 1
    assert p.deferred_liquidations == 1
    assert p.deferred_debt_usd == pytest.approx(7000.0)
    # deferring is not acting, and the position is not underwater: distress starts in step 2
    assert p.first_distress_step == 2
    assert p.liquidations == 1  # in step 2, when the breaker is reset


def test_circuit_breaker_through_a_flash_crash():
    on = lever("circuit-breaker").protocols["market"]
    off = lever("circuit-breaker", "protocols.market.circuit_breaker=null").protocols["market"]
    assert on.liquidations == 0 and on.bad_debt_usd == 0 and on.deferred_liquidations == 5
    assert off.liquidations > 0 and off.bad_debt_usd > 0


def test_dynamic_risk_formula():
    # vol of the step = |ln(850/1000)| = 0.1625; k = 1, reference 0.05 -> adj = 0.1125
    # LT 0.8 x (1 - 0.1125) = 0.71; a position with HF 1.1 at 850 under LT 0.8 is liquidated
    text = ONE.format(
        extra="dynamic_risk: {sensitivity: 1.0, reference_vol: 0.05, max_change: 0.5}",
        shocks="  - {ETH: -0.15}",
        market="",
    ).replace("debt: {USDC: 7000}", "debt: {USDC: 6180}")
    assert run_scenario(scenario_from_yaml(text)).protocols["p"].liquidations == 1
    relaxed = text.replace("sensitivity: 1.0", "sensitivity: -1.0").replace(
        "debt: {USDC: 6180}", "debt: {USDC: 7000}"
    )
    # relaxing: LT 0.8 x 1.1125 = 0.89: HF 1.08 -> spared
    assert run_scenario(scenario_from_yaml(relaxed)).protocols["p"].liquidations == 0


def test_dynamic_risk_example_tightening_beats_relaxing():
    tighten = lever("dynamic-risk").protocols["market"]
    relax = lever("dynamic-risk", "protocols.market.dynamic_risk.sensitivity=-2")
    static = lever("dynamic-risk", "protocols.market.dynamic_risk=null")
    assert tighten.bad_debt_usd < static.protocols["market"].bad_debt_usd
    assert static.protocols["market"].bad_debt_usd < relax.protocols["market"].bad_debt_usd


# --- pegged assets, tokens, credit, isolation --------------------------------------------------


def test_pegged_price_follows_ratio_and_target():
    result = lever("pegged-depeg")
    steth, eth = result.assets["stETH"], result.assets["ETH"]
    assert steth.start_price == pytest.approx(0.99 * 1800)
    assert steth.shocked_price == pytest.approx(0.99 * 0.94 * 1800)  # a depeg: ratio only
    assert eth.shocked_price == 1800.0 and eth.final_price == 1800.0  # sellers keep their ETH
    assert steth.final_price < steth.shocked_price  # liquidations into the pool deepen it
    assert result.protocols["aave"].liquidations > 2


def test_pegged_sale_without_its_own_market_sells_the_target():
    text = """
name: wrapped
assets:
  USDC: {price: 1.0}
  ETH: {price: 1000, market: {type: cpmm, base_reserve: 1000, quote_reserve: 1.0e6}}
  WETH: {peg: {to: ETH, ratio: 1.0}}
protocols:
  p:
    type: lending
    collateral: {WETH: {ltv: 0.8, liquidation_threshold: 0.8, liquidation_bonus: 0.05}}
    positions:
      - {account: a, collateral: {WETH: 10}, debt: {USDC: 7000}}
shocks:
  - {ETH: -0.15}
"""
    result = run_scenario(scenario_from_yaml(text))
    assert result.assets["WETH"].sold_units > 0
    assert result.assets["ETH"].sold_units == pytest.approx(result.assets["WETH"].sold_units)
    assert result.assets["ETH"].final_price < 850.0
    assert result.assets["WETH"].final_price == pytest.approx(result.assets["ETH"].final_price)


def test_credit_and_token_contagion_reach_depth_two():
    result = lever("composability")
    fund, lend, vault = (result.protocols[n] for n in ("loop-fund", "lend", "treasury-vault"))
    assert fund.bad_debt_usd > 0 and lend.credit_losses_usd == pytest.approx(fund.bad_debt_usd)
    assert lend.insolvent and lend.haircut > 0 and lend.bad_debt_usd == 0
    assert result.assets["lUSD"].final_price == pytest.approx(1 - lend.haircut)
    assert vault.depth == 2 and vault.liquidations > 0
    edges = {(e.source, e.target, e.asset) for e in result.edges}
    assert ("loop-fund", "lend", "credit") in edges
    assert ("lend", "treasury-vault", "lUSD") in edges
    # the system total counts the default once (the fund's bad debt, not again as credit)
    assert result.bad_debt_usd == pytest.approx(fund.bad_debt_usd + vault.bad_debt_usd)
    outside = lever("composability", "protocols.loop-fund.lender=null")
    assert outside.protocols["lend"].credit_losses_usd == 0
    assert outside.protocols["treasury-vault"].liquidations == 0


def test_isolation_keeps_a_bad_listing_out_of_the_main_market():
    pooled = run(compile_scenario(load_scenario(LEVERS / "isolation-pooled.yaml")))
    isolated = run(compile_scenario(load_scenario(LEVERS / "isolation-isolated.yaml")))
    assert pooled.protocols["pool"].insolvent and pooled.protocols["pool"].haircut > 0
    assert pooled.protocols["safe-vault"].depth == 1  # through aUSDC, not a market
    assert pooled.assets["aUSDC"].final_price < 1.0
    assert not isolated.protocols["pool"].insolvent
    assert isolated.protocols["meme-market"].insolvent
    assert isolated.assets["aUSDC"].final_price == 1.0
    assert isolated.protocols["safe-vault"].depth is None
    # the same MEME losses either way
    assert pooled.protocols["pool"].bad_debt_usd == pytest.approx(
        isolated.protocols["meme-market"].bad_debt_usd
    )


# --- entities ----------------------------------------------------------------------------------


def test_entities_aggregate_an_account_across_protocols():
    path = Path(__file__).parents[1] / "scenarios" / "quickstart.yaml"
    result = run(compile_scenario(load_scenario(path)), entities=50)
    whale = next(e for e in result.entities if e.account == "whale-1")
    assert whale.protocols == ["aave", "compound"]
    assert whale.positions == 2
    # 6000 ETH in aave + 5000 in compound at $3000; debts 13.2M + 9.5M
    assert whale.collateral_usd == pytest.approx(11000 * 3000.0)
    assert whale.debt_usd == pytest.approx(1.32e7 + 9.5e6)
    assert whale.leverage == pytest.approx(33e6 / (33e6 - 22.7e6))
    assert whale.liquidated_positions == 2
    assert whale.loss_usd > 0
    # ordered by debt
    debts = [e.debt_usd for e in result.entities]
    assert debts == sorted(debts, reverse=True)
    assert np.isfinite([e.loss_usd for e in result.entities]).all()
