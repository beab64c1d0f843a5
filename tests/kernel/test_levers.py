"""Each lever of issue 4 changes outcomes as documented: hand cases and the example files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import run_scenario, scenario_from_yaml

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.raw import run_raw
from contagion_cli.engine.run import run
from contagion_cli.load.scenario import load_scenario

LEVERS = Path(__file__).parents[2] / "scenarios" / "levers"


def lever(name: str, *sets: str, entities: int = 0, trace: bool = False):
    compiled = compile_scenario(load_scenario(LEVERS / f"{name}.yaml", sets))
    return run(compiled, entities=entities, trace=trace)


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


CAPITAL = """
name: capital
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1000}}
protocols:
  p:
    type: lending
    close_factor: 1.0
    liquidators: {{capital_usd_per_round: {capital}}}
    collateral: {{ETH: {{ltv: 0.8, liquidation_threshold: 0.8, liquidation_bonus: 0.1}}}}
    positions:
      # at 850 every HF = 0.971 (close factor 1: repay all); profits (10% bonus x repay):
      # bob 420, zed 700, amy 630 - neither the file's order nor the names' order
      - {{account: bob, collateral: {{ETH: 6}}, debt: {{USDC: 4200}}}}
      - {{account: zed, collateral: {{ETH: 10}}, debt: {{USDC: 7000}}}}
      - {{account: amy, collateral: {{ETH: 9}}, debt: {{USDC: 6300}}}}
shocks:
  - {{ETH: -0.15}}
"""


def test_capital_goes_to_the_most_profitable_first_and_runs_out():
    raw = run_raw(compile_scenario(scenario_from_yaml(CAPITAL.format(capital=10000))))
    debt = raw.state.lending.debt_units
    # round 1: zed (profit 700) in full: 7000; amy (630) with the 3000 left; bob (420) waits.
    # round 2: bob in full. Amy, 3000 repaid for 3.88 ETH, is left with 5.12 ETH against 3300
    # (HF 1.055): no longer liquidatable. By name (amy, bob, zed) amy would be repaid in full
    # and bob in part; in file order bob would go first.
    assert debt.tolist() == pytest.approx([0.0, 0.0, 3300.0])
    o = raw.outputs
    assert o.skipped_capital[0] == 1
    assert o.liquidations[0] == 3
    assert o.repaid_usd[0] == pytest.approx(7000.0 + 3000.0 + 4200.0)


def test_skipped_capital_counts_position_rounds():
    # capital 4200 a round. Round 1: zed (700) gets all of it, in part (4200 of 7000, then
    # HF 1.11); amy and bob wait: 2 skipped. Round 2: amy (630) gets 4200 of 6300 (then HF
    # 1.15); bob waits again: 1 more. Round 3: bob in full. Bob counts twice: 3 in all.
    result = run_scenario(scenario_from_yaml(CAPITAL.format(capital=4200)), trace=True)
    p = result.protocols["p"]
    assert p.skipped_capital == 3
    assert p.liquidations == 3
    assert [row.repaid_usd["p"] for row in result.trace][:3] == pytest.approx([4200.0] * 3)


def test_liquidators_example_leaves_a_shortfall_instead_of_a_fire_sale():
    with_check = lever("liquidators").protocols["market"]
    without = lever("liquidators", "protocols.market.liquidators={mode: any_loss}").protocols[
        "market"
    ]
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


# --- circuit breakers and dynamic risk on cdp and perp protocols -------------------------------

TYPES = """
name: types
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1000}}
  DAI: {{issuer: maker}}
protocols:
  maker:
    type: cdp
    stablecoin: DAI
    liquidation_ratio: 1.5
    penalty: 0.1
    {cdp_extra}
    positions:
      - {{account: v, collateral: {{ETH: 10}}, debt: {cdp_debt}}}
  perps:
    type: perp
    maintenance_margin: 0.05
    {perp_extra}
    positions:
      - {{account: t, asset: ETH, size: 10, entry_price: 1000, margin: {margin}}}
shocks:
{shocks}
"""


def types(
    cdp_debt: float,
    margin: float,
    extra: str = "",
    shocks: str = "  - {ETH: -0.15}",
):
    text = TYPES.format(
        cdp_debt=cdp_debt, margin=margin, cdp_extra=extra, perp_extra=extra, shocks=shocks
    )
    return run_scenario(scenario_from_yaml(text))


def test_breaker_defers_a_cdp_auction_and_a_perp_close_to_the_next_step():
    # at 850: the vault is worth 8,500 against 6,000 DAI (ratio 1.42 < 1.5): auctioned; the
    # perp's equity 1,800 - 1,500 = 300 is below 5% x 8,500 = 425: closed. Neither is
    # underwater. A breaker at 10% pauses both for step 1 (ETH is 15% below the step's start);
    # step 2 has no fall, so they go ahead
    two_steps = "  - {ETH: -0.15}\n  - {}"
    off = types(6000, 1800, shocks=two_steps)
    assert off.protocols["maker"].auctions == 1 and off.protocols["perps"].liquidations == 1
    assert off.protocols["maker"].first_distress_step == 1
    assert off.protocols["perps"].first_distress_step == 1
    on = types(6000, 1800, "circuit_breaker: {drop: 0.1}", shocks=two_steps)
    maker, perps = on.protocols["maker"], on.protocols["perps"]
    assert maker.paused_rounds == 1 and perps.paused_rounds == 1
    assert maker.deferred_liquidations == 1 and perps.deferred_liquidations == 1
    assert maker.deferred_debt_usd == pytest.approx(6000.0)  # the vault's debt at par
    assert perps.deferred_debt_usd == pytest.approx(8500.0)  # the position's notional
    assert maker.auctions == 1 and maker.first_distress_step == 2
    assert perps.liquidations == 1 and perps.first_distress_step == 2


def test_breaker_that_does_not_trip_changes_nothing():
    # a 20% breaker never trips on a 15% fall: the same run as without one
    off = types(6000, 1800)
    on = types(6000, 1800, "circuit_breaker: {drop: 0.2}")
    for name in ("maker", "perps"):
        assert on.protocols[name].paused_rounds == 0
        assert on.protocols[name].liquidations == off.protocols[name].liquidations == 1


def test_dynamic_risk_tightens_a_cdp_liquidation_ratio_and_a_perp_margin():
    # vol = |ln 0.85| = 0.1625; k = 1, reference 0.05 -> adj = 0.1125.
    # cdp: 8,500 / 5,300 = 1.604 >= 1.5 (safe), < 1.5 x 1.1125 = 1.669 (auctioned);
    # perp: equity 1,950 - 1,500 = 450 >= 5% x 8,500 = 425 (safe), < 5.625% x 8,500 = 478
    static = types(5300, 1950)
    assert static.protocols["maker"].auctions == 0 and static.protocols["perps"].liquidations == 0
    tight = types(5300, 1950, "dynamic_risk: {sensitivity: 1.0, reference_vol: 0.05}")
    assert tight.protocols["maker"].auctions == 1 and tight.protocols["perps"].liquidations == 1


def test_dynamic_risk_relaxes_a_cdp_liquidation_ratio_and_a_perp_margin():
    # k = -1: adj = -0.1125. cdp: 8,500 / 6,000 = 1.417 < 1.5 (auctioned), >= 1.5 x 0.8875 =
    # 1.331 (spared); perp: equity 400 < 425 (closed), >= 4.4375% x 8,500 = 377 (spared)
    static = types(6000, 1900)
    assert static.protocols["maker"].auctions == 1 and static.protocols["perps"].liquidations == 1
    relaxed = types(6000, 1900, "dynamic_risk: {sensitivity: -1.0, reference_vol: 0.05}")
    assert relaxed.protocols["maker"].auctions == 0
    assert relaxed.protocols["perps"].liquidations == 0


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
    # the loss travels through the loan and the token only: lend and treasury-vault price no
    # asset that anyone sold, so there is no market edge into either
    edges = {(e.source, e.target, e.asset) for e in result.edges}
    assert edges == {("loop-fund", "lend", "credit"), ("lend", "treasury-vault", "lUSD")}
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
    path = Path(__file__).parents[2] / "scenarios" / "quickstart.yaml"
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


# --- every example: the runs its header names, with the figures it states ----------------------
#
# Each entry: the example, the --set overrides of one run its header names, and the figures the
# header states for that run. Keys: "field" (the run), "protocol.field", "asset.field" (an asset
# by name), "liquidations@protocol" (the rounds in which it liquidated). Counts and flags must
# match; money and prices within 1% (the header rounds them to 3 digits); a callable is a test.

EXAMPLE_RUNS = [
    # liquidators.yaml
    (
        "liquidators",
        [],
        {
            "market.liquidations": 5,
            "liquidations@market": [1, 2, 3],
            "market.repaid_usd": 767e3,
            "market.skipped_unprofitable": 4,
            "market.skipped_capital": 3,
            "market.bad_debt_usd": 133e3,
            "market.shortfall_usd": 399e3,
            "market.insolvent": True,
            "ALT.final_price": 5.34,
        },
    ),
    (
        "liquidators",
        ["protocols.market.liquidators.capital_usd_per_round=null"],
        {
            "market.liquidations": 3,
            "liquidations@market": [1],
            "market.repaid_usd": 775e3,
            "market.skipped_unprofitable": 2,
            "market.skipped_capital": 0,
            "market.bad_debt_usd": 125e3,
            "market.shortfall_usd": 399e3,
            "market.insolvent": True,
        },
    ),
    (
        "liquidators",
        ["protocols.market.liquidators.mode=rational"],
        {
            "market.liquidations": 8,
            "rounds": 7,
            "market.skipped_unprofitable": 3,
            "market.skipped_capital": 20,
            "market.bad_debt_usd": 130e3,
            "market.shortfall_usd": 585e3,
            "market.insolvent": True,
            "ALT.final_price": 5.225,
        },
    ),
    (
        "liquidators",
        ["protocols.market.liquidators={mode: any_loss}"],
        {
            "market.liquidations": 4,
            "market.repaid_usd": 3.78e6,
            "ALT.final_price": 3.30,
            "market.bad_debt_usd": 725e3,
            "market.shortfall_usd": 0.0,
            "market.liquidator_profit_usd": -337.5e3,
        },
    ),
    # liquidators-capital.yaml (settings.liquidators)
    (
        "liquidators-capital",
        [],
        {
            "liquidations": 10,
            "rounds": 5,
            "aave.skipped_capital": 6,
            "aave.bad_debt_usd": 41.8e3,
            "aave.insolvent": False,
            "spark.bad_debt_usd": 0.0,
            "ETH.final_price": 1962.0,
        },
    ),
    (
        "liquidators-capital",
        ["settings.liquidators=null"],
        {
            "liquidations": 5,
            "rounds": 1,
            "bad_debt_usd": 0.0,
            "aave.skipped_capital": 0,
            "ETH.final_price": 2292.0,
        },
    ),
    (
        "liquidators-capital",
        ["settings.liquidators={}"],
        {"liquidations": 5, "rounds": 1, "bad_debt_usd": 0.0},
    ),
    # oracle-lag.yaml (lagged by steps)
    (
        "oracle-lag",
        [],
        {
            "market.skipped_unprofitable": 4,
            "market.liquidations": 4,
            "market.first_distress_step": 3,
            "market.bad_debt_usd": 2.99e6,
            "market.insolvent": True,
        },
    ),
    (
        "oracle-lag",
        ["protocols.market.oracle={type: spot}"],
        {
            "market.liquidations": 4,
            "liquidations@market": [1],
            "market.bad_debt_usd": 108e3,
            "market.insolvent": False,
        },
    ),
    # oracle-lag-rounds.yaml
    (
        "oracle-lag-rounds",
        [],
        {
            "lend.skipped_unprofitable": 3,
            "lend.liquidations": 3,
            "liquidations@lend": [4],
            "lend.bad_debt_usd": 851e3,
            "lend.insolvent": True,
            "fund.bad_debt_usd": 0.0,
            "ETH.final_price": 2075.0,
        },
    ),
    (
        "oracle-lag-rounds",
        ["protocols.lend.oracle={type: spot}"],
        {
            "lend.liquidations": 3,
            "liquidations@lend": [1],
            "lend.repaid_usd": 9.54e6,
            "lend.bad_debt_usd": 0.0,
            "fund.bad_debt_usd": 0.0,
            "ETH.final_price": 2090.0,
        },
    ),
    # oracle-twap.yaml
    (
        "oracle-twap",
        [],
        {
            "slow.skipped_unprofitable": 6,
            "slow.liquidations": 3,
            "liquidations@slow": [4],
            "liquidations@fast": [1],
            "slow.bad_debt_usd": 1.74e6,
            "slow.insolvent": True,
            "ETH.final_price": 1601.0,
        },
    ),
    (
        "oracle-twap",
        ["protocols.slow.oracle={type: spot}"],
        {
            "slow.liquidations": 3,
            "liquidations@slow": [1],
            "slow.repaid_usd": 7.01e6,
            "slow.bad_debt_usd": 0.0,
            "ETH.final_price": 1676.0,
        },
    ),
    # external-oracle.yaml
    (
        "external-oracle",
        [],
        {
            "lender.liquidations": 1,
            "lender.repaid_usd": 305e3,
            "lender.bad_debt_usd": 0.0,
            "lender.insolvent": False,
            "lender.market_shortfall_usd": 8.5e6,
            "CRV.final_price": 0.242,
        },
    ),
    (
        "external-oracle",
        ["protocols.lender.oracle={type: spot}"],
        {
            "lender.liquidations": 5,
            "CRV.final_price": lambda v: v < 1e-4,
            "lender.bad_debt_usd": 12.9e6,
            "lender.insolvent": True,
        },
    ),
    (
        "external-oracle",
        ["protocols.lender.oracle={type: spot}", "protocols.lender.liquidators.mode=rational"],
        {
            "lender.liquidations": 8,
            "CRV.final_price": 0.267,
            "lender.bad_debt_usd": 0.0,
            "lender.insolvent": False,
        },
    ),
    # oracle-floor.yaml
    (
        "oracle-floor",
        [],
        {
            "venus.liquidations": 1,
            "venus.bad_debt_usd": 3.64e6,
            "venus.shortfall_usd": 0.0,
            "venus.market_shortfall_usd": 7.56e6,
            "venus.insolvent": True,
        },
    ),
    (
        "oracle-floor",
        ["protocols.venus.oracle={type: spot}"],
        {
            "venus.liquidations": 3,
            "LUNA.final_price": 0.0083,
            "venus.bad_debt_usd": 11.4e6,
            "venus.market_shortfall_usd": 0.0,
            "venus.insolvent": True,
        },
    ),
    # circuit-breaker.yaml
    (
        "circuit-breaker",
        [],
        {
            "market.liquidations": 0,
            "market.paused_rounds": 1,
            "market.deferred_liquidations": 5,
            "market.deferred_debt_usd": 13.5e6,
            "ETH.final_price": 2700.0,
            "market.bad_debt_usd": 0.0,
        },
    ),
    (
        "circuit-breaker",
        ["protocols.market.circuit_breaker=null"],
        {
            "market.liquidations": 5,
            "liquidations@market": [1],
            "market.repaid_usd": 12.5e6,
            "ETH.price@1": 2129.0,
            "ETH.final_price": 2627.0,
            "market.bad_debt_usd": 199e3,
            "market.insolvent": False,
            "market.liquidator_profit_usd": 2.69e6,
        },
    ),
    # dynamic-risk.yaml
    (
        "dynamic-risk",
        [],
        {
            "market.liquidations": 5,
            "market.first_distress_step": 1,
            "market.repaid_usd": 11.8e6,
            "market.bad_debt_usd": 0.0,
        },
    ),
    (
        "dynamic-risk",
        ["protocols.market.dynamic_risk=null"],
        {
            "market.liquidations": 4,
            "market.first_distress_step": 2,
            "market.bad_debt_usd": 653e3,
            "market.insolvent": True,
        },
    ),
    (
        "dynamic-risk",
        ["protocols.market.dynamic_risk.sensitivity=-2"],
        {
            "market.liquidations": 8,
            "market.first_distress_step": 2,
            "market.bad_debt_usd": 1.17e6,
            "market.insolvent": True,
        },
    ),
    # pegged-depeg.yaml
    (
        "pegged-depeg",
        [],
        {
            "aave.liquidations": 7,
            "rounds": 5,
            "aave.repaid_usd": 25.8e6,
            "stETH.shocked_price": 1675.0,
            "stETH.final_price": 1471.0,
            "ETH.final_price": 1800.0,
            "ETH.sold_units": 0.0,
            "bad_debt_usd": 0.0,
        },
    ),
    (
        "pegged-depeg",
        ["assets.stETH.market=null"],
        {
            "aave.liquidations": 2,
            "rounds": 1,
            "aave.repaid_usd": 11.1e6,
            "stETH.final_price": 1675.0,
            "bad_debt_usd": 0.0,
        },
    ),
    # composability.yaml
    (
        "composability",
        [],
        {
            "ETH.final_price": 1618.0,
            "loop-fund.bad_debt_usd": 3.81e6,
            "lend.credit_losses_usd": 3.81e6,
            "lend.insolvent": True,
            "lend.haircut": 0.1655,
            "lend.depth": 1,
            "lUSD.final_price": 0.8345,
            "treasury-vault.liquidations": 2,
            "treasury-vault.bad_debt_usd": 818e3,
            "treasury-vault.depth": 2,
            "bad_debt_usd": 4.63e6,
        },
    ),
    (
        "composability",
        ["protocols.loop-fund.lender=null"],
        {
            "loop-fund.bad_debt_usd": 3.81e6,
            "lend.credit_losses_usd": 0.0,
            "lend.insolvent": False,
            "lUSD.final_price": 1.0,
            "treasury-vault.liquidations": 0,
            "propagation_depth": 0,
        },
    ),
    # isolation-pooled.yaml / isolation-isolated.yaml
    (
        "isolation-pooled",
        [],
        {
            "pool.liquidations": 2,
            "pool.bad_debt_usd": 1.32e6,
            "pool.insolvent": True,
            "pool.haircut": 0.0161,
            "aUSDC.final_price": 0.984,
            "safe-vault.liquidations": 1,
            "safe-vault.repaid_usd": 4.7e6,
            "safe-vault.depth": 1,
        },
    ),
    (
        "isolation-isolated",
        [],
        {
            "meme-market.liquidations": 2,
            "meme-market.bad_debt_usd": 1.32e6,
            "meme-market.insolvent": True,
            "meme-market.haircut": 0.28,
            "pool.insolvent": False,
            "aUSDC.final_price": 1.0,
            "safe-vault.liquidations": 0,
        },
    ),
]


def figure(result, key: str):
    """One figure of a run, by the keys of EXAMPLE_RUNS."""
    if key.startswith("liquidations@"):
        name = key.split("@", 1)[1]
        return sorted({row.round for row in result.trace if row.liquidations[name]})
    if "@" in key:  # "ETH.price@1": the asset's price at the end of step 1
        asset, step = key.split(".price@")
        return [row.prices[asset] for row in result.trace if row.step == int(step)][-1]
    if "." not in key:
        return getattr(result, key)
    name, field = key.rsplit(".", 1)
    holder = result.protocols.get(name) or result.assets[name]
    return getattr(holder, field)


def example_id(run_spec) -> str:
    name, sets, _ = run_spec
    return name + ("" if not sets else " " + " ".join(sets))


@pytest.mark.parametrize("spec", EXAMPLE_RUNS, ids=[example_id(s) for s in EXAMPLE_RUNS])
def test_example_header_figures(spec):
    name, sets, figures = spec
    text = (LEVERS / f"{name}.yaml").read_text()
    for override in sets:  # the header names the command it describes
        assert override.split("=", 1)[0] in text, (name, override)
    result = lever(name, *sets, trace=True)
    for key, want in figures.items():
        got = figure(result, key)
        if callable(want):
            assert want(got), (key, got)
        elif isinstance(want, bool | int | list):
            assert got == want, (key, got, want)
        else:
            assert got == pytest.approx(want, rel=0.01, abs=1e-9), (key, got, want)


def test_every_example_has_its_runs_tested():
    tested = {name for name, _, _ in EXAMPLE_RUNS}
    assert tested == {p.stem for p in LEVERS.glob("*.yaml")}
    # and each example is run with and without its lever (isolation: the pair of files)
    for name in tested - {"isolation-pooled", "isolation-isolated"}:
        assert sum(1 for n, _, _ in EXAMPLE_RUNS if n == name) >= 2, name
