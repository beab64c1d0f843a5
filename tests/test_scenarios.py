"""Every shipped scenario loads, runs, converges and obeys the basic accounting."""

from __future__ import annotations

from pathlib import Path

import pytest

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run
from contagion_cli.load.scenario import load_scenario

# scenarios/policies/ holds `contagion check` policies, not scenarios (tests/gates/test_check.py)
SCENARIOS = sorted(
    p
    for p in (Path(__file__).parents[1] / "scenarios").rglob("*.yaml")
    if "policies" not in p.parts
)


def test_there_are_scenarios():
    assert SCENARIOS


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs(path):
    result = run(compile_scenario(load_scenario(path)))
    assert result.converged
    assert result.bad_debt_usd >= 0
    for asset in result.assets.values():
        assert asset.final_price > 0


def test_readme_scenario_example_is_valid():
    from helpers import run_scenario, scenario_from_yaml

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("## Writing a scenario", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    result = run_scenario(scenario_from_yaml(block))
    assert result.converged
    assert result.liquidations > 0


# --- issue 3, Done when: every protocol type in one fixed point, each example shows its type --

ROOT = Path(__file__).parents[1] / "scenarios"


def _run(path: Path):
    compiled = compile_scenario(load_scenario(path))
    return compiled, run(compiled, trace=True)


def test_mixed_scenario_has_every_type_interacting_through_one_eth_market():
    compiled, result = _run(ROOT / "mixed.yaml")
    assert result.converged and len(result.steps) == 1  # one fixed point
    protocols = result.protocols
    types = {p.type for p in protocols.values()}
    assert len(types) >= 4
    assert types == {"lending", "cdp", "perp", "leveraged", "options"}
    # every type acted
    for p in protocols.values():
        acted = {
            "lending": p.liquidations,
            "cdp": p.auctions,
            "perp": p.liquidations,
            "leveraged": p.deleveraging_sales_usd,
            "options": p.hedge_units_traded,
        }[p.type]
        assert acted > 0, p.name
    # they all depend on ETH's price and all traded on its one market, in the same step
    eth = compiled.asset_names.index("ETH")
    assert compiled.protocols.uses[:, eth].all()
    for name in protocols:
        assert any(row.flows[name].get("ETH", 0.0) != 0.0 for row in result.trace), name
    # contagion between kinds: perp and option flows -> lending (depth 1) -> cdp and
    # leveraged vault (depth 2)
    assert result.propagation_depth >= 2
    edges = {(e.source, e.target, e.asset) for e in result.edges}
    assert {("perps", "lending", "ETH"), ("puts", "lending", "ETH")} <= edges
    assert {("lending", "maker", "ETH"), ("lending", "looper", "ETH")} <= edges
    assert protocols["perps"].depth == protocols["puts"].depth == 0
    assert protocols["lending"].depth == 1
    assert protocols["maker"].depth == protocols["looper"].depth == 2


def test_cdp_example_shows_zero_bid_auctions_and_a_stablecoin_haircut():
    _, result = _run(ROOT / "types" / "cdp-auctions.yaml")
    maker = result.protocols["maker"]
    assert maker.auctions > maker.zero_bid_auctions > 0  # some auctions work, some fail
    assert maker.zero_bid_collateral_usd > 0 and maker.auction_raised_usd > 0
    assert maker.bad_debt_usd > maker.reserve_usd and maker.insolvent
    # the uncovered deficit devalues DAI: price = 1 - haircut
    assert 0 < maker.haircut < 1
    assert result.assets["DAI"].final_price == pytest.approx(1 - maker.haircut, rel=1e-12)
    assert [s.rounds > 0 for s in result.steps] == [True, True]  # both legs down auction


def test_perp_example_shows_a_squeeze_and_auto_deleveraging():
    _, result = _run(ROOT / "types" / "perp-squeeze.yaml")
    venue = result.protocols["venue"]
    eth = result.assets["ETH"]
    assert venue.liquidations > 1 and eth.bought_units > 0 and eth.sold_units == 0
    assert eth.final_price > eth.shocked_price  # the shorts' buys lifted ETH further
    # the fund ran dry; the rest was cut from the profitable longs
    assert venue.bad_debt_usd == pytest.approx(venue.reserve_usd + venue.income_usd)
    assert venue.adl_usd > 0 and venue.adl_positions == len(venue.adl_cuts) > 0
    assert {c.account for c in venue.adl_cuts} <= {"long-1", "long-2", "long-3"}
    assert venue.deficit_usd == pytest.approx(venue.adl_usd + venue.bad_debt_usd)


def test_leveraged_example_shows_deleveraging_and_a_failure():
    _, result = _run(ROOT / "types" / "leveraged-fire-sale.yaml")
    p = result.protocols
    # basis-fund fails on the shock alone; macro-fund only deleverages, one hop later
    assert p["basis-fund"].insolvent and p["basis-fund"].bad_debt_usd > 0
    assert p["basis-fund"].depth == 0
    assert p["macro-fund"].deleveraging_sales_usd > 0 and p["macro-fund"].bad_debt_usd == 0
    assert p["macro-fund"].depth == 1 and not p["macro-fund"].insolvent
    assert p["loop-vault"].depth == 1 and p["loop-vault"].deleveraging_sales_usd > 0
    # the overlapping portfolio spread the fire sale to LST, which nobody shocked
    lst = result.assets["LST"]
    assert lst.shocked_price == lst.start_price and lst.final_price < lst.start_price
    assert ("basis-fund", "macro-fund", "LST") in {
        (e.source, e.target, e.asset) for e in result.edges
    }


def test_options_example_hedges_into_a_falling_market():
    _, result = _run(ROOT / "types" / "options-hedging.yaml")
    vault = result.protocols["vault"]
    eth = result.assets["ETH"]
    assert vault.hedge_units_traded > 0
    # the vault only sold (put writers' deltas fall toward -1) and sold in both steps
    flows = [row.flows["vault"].get("ETH", 0.0) for row in result.trace]
    assert all(f >= 0 for f in flows)
    assert {row.step for row in result.trace if row.flows["vault"]} == {1, 2}
    assert sum(flows) == pytest.approx(vault.hedge_units_traded, rel=1e-9)
    assert eth.sold_units == pytest.approx(vault.hedge_units_traded) and eth.bought_units == 0
    assert eth.final_price < eth.shocked_price  # its selling deepened the fall
    assert vault.shortfall_usd > 0
