"""The coordination layer (docs/model.md 3k; issue 9 item 6).

Off (no block, ``enabled: false``, or a block no entity triggers) it changes nothing, on every
lever scenario; a hand-worked entity borrowing on two lending markets; only participants
tighten; the kernel agrees with the reference on generated coordination scenarios.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from agreement import assert_agree
from helpers import run_scenario, scenario_from_dict, scenario_from_yaml
from hypothesis import given, settings
from reference import Reference, simulate
from strategies import coordination_scenarios

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.run import run
from contagion_cli.load.scenario import load_scenario
from contagion_cli.load.yaml import load_file

SCENARIOS = Path(__file__).parents[2] / "scenarios"
LEVER_FILES = sorted((SCENARIOS / "levers").glob("*.yaml"))
OTHER_FILES = [*sorted((SCENARIOS / "types").glob("*.yaml")), SCENARIOS / "mixed.yaml"]

DISABLED = "coordination={enabled: false, max_entity_leverage: 1.0, margin_add_per_leverage: 1.0}"
INERT = "coordination={max_entity_leverage: 1000, margin_add_per_leverage: 0.1}"


def _json(path: Path, *sets: str) -> dict:
    return run(compile_scenario(load_scenario(path, sets))).to_dict()


# --- coordination off reproduces the results without it, exactly ------------------------------


@pytest.mark.parametrize("path", LEVER_FILES + OTHER_FILES, ids=lambda p: p.stem)
def test_coordination_off_changes_nothing(path):
    base = _json(path)
    assert _json(path, DISABLED) == base
    # an enabled block that no entity triggers: the same run (its own report aside)
    levers = Reference(load_scenario(path)).entity_leverage()
    if all(lev <= 1000 for lev in levers.values()):
        inert = _json(path, INERT)
        inert.pop("coordination", None)
        assert inert == base


@pytest.mark.parametrize("path", LEVER_FILES + OTHER_FILES, ids=lambda p: p.stem)
def test_kernel_matches_reference_with_coordination_on_example_files(path):
    # a block that tightens the most levered accounts of every example
    data = load_file(path).data
    data["coordination"] = {"max_entity_leverage": 2.0, "margin_add_per_leverage": 0.05}
    assert_agree(data, mixed=True)


# --- a hand-worked case ---------------------------------------------------------------------------

WHALE = """
name: whale
assets:
  USDC: {{price: 1.0}}
  ETH: {{price: 1000}}
protocols:
  aave:
    type: lending
    collateral: {{ETH: {{ltv: 0.8, liquidation_threshold: 0.8, liquidation_bonus: 0.05}}}}
    positions:
      - {{account: whale, collateral: {{ETH: 10}}, debt: {{USDC: 7000}}}}
      - {{account: small, collateral: {{ETH: 10}}, debt: {{USDC: 3000}}}}
  comp:
    type: lending
    collateral: {{ETH: {{ltv: 0.8, liquidation_threshold: 0.8, liquidation_bonus: 0.05}}}}
    positions:
      - {{account: whale, collateral: {{ETH: 10}}, debt: {{USDC: 7000}}}}
shocks:
  - {{ETH: -0.05}}
{coordination}
"""

BLOCK = "coordination: {max_entity_leverage: 2.0, margin_add_per_leverage: 0.05}"


def whale(coordination: str = ""):
    return scenario_from_yaml(WHALE.format(coordination=coordination))


def whale_dict(coordination: str = "") -> dict:
    return yaml.safe_load(WHALE.format(coordination=coordination))


def test_hand_worked_entity_on_two_lending_markets():
    # whale: exposure 20 000, equity 20 000 - 14 000 = 6 000, leverage 3.333;
    # Δ = min(0.25, 0.05 x (3.333 - 2)) = 0.0667, LT 0.8 -> 0.7333.
    # After the shock (ETH 950): HF without = 9500 x 0.8 / 7000 = 1.086 (safe);
    # with = 9500 x 0.7333 / 7000 = 0.995 -> liquidated in round 1 on both markets.
    # small: leverage 10 000 / 7 000 = 1.43 <= 2, untouched (HF 2.53).
    lev = 20000 / 6000
    delta = 0.05 * (lev - 2.0)
    ref = Reference(whale(BLOCK))
    assert math.isclose(ref.entity_leverage()["whale"], lev, rel_tol=1e-12)
    assert set(ref.coordination) == {"whale"}
    assert math.isclose(ref.coordination["whale"]["delta"], delta, rel_tol=1e-12)
    assert 9500 * (0.8 - delta) / 7000 < 1 < 9500 * 0.8 / 7000

    without = run_scenario(whale())
    with_ = run_scenario(whale(BLOCK))
    for p in ("aave", "comp"):
        assert without.protocols[p].liquidations == 0
        assert with_.protocols[p].liquidations == 1
        assert with_.protocols[p].first_distress_round == 1
    # close factor 0.5 (HF 0.995 >= 0.95): repay 3500, seize 3500 x 1.05 / 950 ETH on each
    assert math.isclose(with_.protocols["aave"].repaid_usd, 3500.0, rel_tol=1e-12)
    assert math.isclose(with_.protocols["comp"].collateral_seized_usd, 3500 * 1.05, rel_tol=1e-12)
    assert with_.protocols["aave"].liquidations == 1  # small was not touched
    assert_agree(whale_dict(BLOCK), mixed=True)
    # the report: the entity, its Δ, each participant's requirement without -> with, and the
    # run without coordination beside it
    report = with_.to_dict()["coordination"]
    assert report["participants"] == ["aave", "comp"]
    (entity,) = report["entities"]
    assert entity["account"] == "whale"
    assert math.isclose(entity["leverage"], lev, rel_tol=1e-12)
    assert math.isclose(entity["margin_add"], delta, rel_tol=1e-12)
    for req in entity["requirements"]:
        assert req["measure"] == "liquidation_threshold" and req["without"] == 0.8
        assert math.isclose(req["with"], 0.8 - delta, rel_tol=1e-12)
    assert entity["liquidated_positions"] == 2 and entity["liquidated_positions_without"] == 0
    # loss without: equity 6000 -> 2 x 9500 - 14000 = 5000; with: each liquidation pays the
    # 5 % bonus on 3500 repaid, 175 more on each market
    assert math.isclose(entity["loss_usd_without"], 1000.0, rel_tol=1e-9)
    assert math.isclose(entity["loss_usd"], 1350.0, rel_tol=1e-9)
    assert report["without"]["liquidations"] == 0


def test_only_participants_tighten():
    s = whale(BLOCK.replace("}", ", protocols: [aave]}"))
    result = run_scenario(s)
    assert result.protocols["aave"].liquidations == 1
    assert result.protocols["comp"].liquidations == 0  # comp keeps its own view
    ref = simulate(s)
    assert ref["protocols"]["comp"].liquidations == 0


def test_delta_is_capped_by_max_margin_add():
    s = whale(
        "coordination: {max_entity_leverage: 1.5, margin_add_per_leverage: 1.0, "
        "max_margin_add: 0.12}"
    )
    ref = Reference(s)
    assert ref.coordination["whale"]["delta"] == 0.12  # 1.0 x (3.333 - 1.5) capped
    # LT 0.68: HF 9500 x 0.68 / 7000 = 0.923 < 0.95: closed in full, repay all 7000
    result = run_scenario(s)
    for p in ("aave", "comp"):
        assert result.protocols[p].liquidations == 1
        assert math.isclose(result.protocols[p].repaid_usd, 7000.0, rel_tol=1e-12)


# --- reference agreement on generated scenarios ----------------------------------------------


@settings(max_examples=40)
@given(coordination_scenarios())
def test_kernel_matches_reference_with_coordination(data):
    assert_agree(data, mixed=True)
    s = scenario_from_dict(data)
    report = run_scenario(s).to_dict().get("coordination") or {}
    if report:  # the comparison run is the scenario without the block
        none = run_scenario(
            scenario_from_dict({k: v for k, v in data.items() if k != "coordination"})
        )
        assert report["without"]["liquidations"] == none.to_dict()["liquidations"]
        assert report["without"]["bad_debt_usd"] == none.bad_debt_usd
        assert report["without"]["propagation_depth"] == none.propagation_depth
    got = {e["account"]: e for e in report.get("entities", [])}
    want = Reference(s).coordination
    assert set(got) == set(want)
    for account, w in want.items():
        assert math.isclose(got[account]["margin_add"], w["delta"], rel_tol=1e-9)
        if math.isinf(w["leverage"]):
            assert got[account]["leverage"] is None
        else:
            assert math.isclose(got[account]["leverage"], w["leverage"], rel_tol=1e-9)


@settings(max_examples=15)
@given(coordination_scenarios())
def test_disabled_block_is_no_block(data):
    off = dict(data, coordination=dict(data["coordination"], enabled=False))
    none = {k: v for k, v in data.items() if k != "coordination"}
    assert (
        run_scenario(scenario_from_dict(off)).to_dict()
        == run_scenario(scenario_from_dict(none)).to_dict()
    )
