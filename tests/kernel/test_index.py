"""The position index visits only positions a price move can have made eligible; it must give
exactly the results of visiting every position every round (issue 6 item 7)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import scenario_from_dict
from hypothesis import given
from hypothesis import strategies as st
from strategies import cascade_scenarios, lending_scenarios, lever_scenarios, mixed_scenarios

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.collect import collect
from contagion_cli.engine.raw import run_raw


def assert_identical(compiled) -> None:
    fast = run_raw(compiled, index=True)
    full = run_raw(compiled, index=False)
    assert fast.status == full.status
    a = collect(compiled, fast.outputs, fast.status, fast.state).to_dict()
    b = collect(compiled, full.outputs, full.status, full.state).to_dict()
    assert a == b  # every number to the last bit
    for part_a, part_b in zip(fast.state, full.state, strict=True):
        if isinstance(part_a, np.ndarray):  # a record array
            np.testing.assert_array_equal(part_a, part_b)
            continue
        for x, y in zip(part_a, part_b, strict=True):
            np.testing.assert_array_equal(x, y)


@given(st.one_of(lending_scenarios(), cascade_scenarios(), mixed_scenarios(), lever_scenarios()))
def test_index_matches_the_full_scan(data):
    assert_identical(compile_scenario(scenario_from_dict(data)))


def _book(n: int, units, debt, extra_steps: int = 0) -> dict:
    return {
        "name": "adversarial",
        "settings": {"max_rounds": 2000},
        "assets": {
            "USDC": {"price": 1.0},
            "ETH": {
                "price": 1000.0,
                "market": {"type": "cpmm", "base_reserve": 5e3, "quote_reserve": 5e6},
            },
        },
        "protocols": {
            "p": {
                "type": "lending",
                "collateral": {
                    "ETH": {"ltv": 0.8, "liquidation_threshold": 0.8, "liquidation_bonus": 0.05}
                },
                "positions": [
                    {
                        "account": f"a{i}",
                        "collateral": {"ETH": float(units[i])},
                        "debt": {"USDC": float(debt[i])},
                    }
                    for i in range(n)
                ],
            }
        },
        "shocks": [{"ETH": -0.1}] + [{"ETH": -0.02}] * extra_steps,
    }


def test_every_position_at_the_same_liquidation_price():
    n = 3000
    units = np.full(n, 2.0)
    debt = np.full(n, 2.0 * 950 * 0.8)  # all liquidated at exactly $950
    assert_identical(compile_scenario(scenario_from_dict(_book(n, units, debt, 2))))


def test_a_single_huge_position_among_small_ones():
    rng = np.random.default_rng(1)
    n = 2000
    units = rng.uniform(0.1, 1.0, n)
    units[7] = 4000.0
    debt = units * 1000 * 0.8 / rng.uniform(1.0, 1.6, n)
    debt[7] = 4000 * 1000 * 0.8 / 1.05
    assert_identical(compile_scenario(scenario_from_dict(_book(n, units, debt, 1))))


@pytest.mark.slow
def test_many_dust_positions():
    rng = np.random.default_rng(2)
    n = 20000
    units = rng.uniform(1e-9, 1e-6, n)
    debt = units * 1000 * 0.8 / rng.uniform(0.95, 1.3, n)
    assert_identical(compile_scenario(scenario_from_dict(_book(n, units, debt, 3))))
