"""The lending book's order in memory (compile/order.py): a permutation that groups positions
by (protocol, collateral, debt) and sorts them by trigger, legs and accounts moved with them."""

from __future__ import annotations

import numpy as np
from agreement import assert_agree
from helpers import scenario_from_dict

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.compile.order import permute_legs, trigger_order

I8 = np.int64


def _csr(rows: list[list[tuple[int, float]]]):  # type: ignore[no-untyped-def]
    start = np.zeros(len(rows) + 1, I8)
    np.cumsum([len(r) for r in rows], out=start[1:])
    asset = np.array([a for r in rows for a, _ in r], I8)
    units = np.array([u for r in rows for _, u in r], float)
    return start, asset, units


def test_single_legs_by_group_then_ratio_multi_legs_last_in_book_order() -> None:
    protocol = np.array([0, 0, 0, 0, 0, 1, 1])
    col = _csr(
        [[(0, 10.0)], [(0, 10.0), (1, 1.0)], [(1, 2.0)], [(0, 4.0)], [], [(0, 1.0)], [(0, 2.0)]]
    )
    debt = _csr(
        [[(2, 5.0)], [(2, 1.0)], [(2, 1.0)], [(2, 4.0)], [(2, 1.0)], [(2, 1.0)], [(2, 1.0)]]
    )
    order = trigger_order(protocol, *col, *debt, 3)
    # protocol 0: (c=0: ratios 0.5 (row 0), 1.0 (row 3)), (c=1: row 2), then rows 1, 4
    # protocol 1: ratios 1.0 (row 5), 0.5 (row 6)
    assert order.tolist() == [0, 3, 2, 1, 4, 6, 5]


def test_ties_keep_the_book_order() -> None:
    protocol = np.zeros(4, I8)
    col = _csr([[(0, 2.0)]] * 4)
    debt = _csr([[(1, 1.0)]] * 4)
    assert trigger_order(protocol, *col, *debt, 2).tolist() == [0, 1, 2, 3]


def test_zero_collateral_sorts_last_and_zero_debt_first() -> None:
    protocol = np.zeros(3, I8)
    col = _csr([[(0, 0.0)], [(0, 1.0)], [(0, 1.0)]])
    debt = _csr([[(1, 1.0)], [(1, 0.0)], [(1, 1.0)]])
    assert trigger_order(protocol, *col, *debt, 2).tolist() == [1, 2, 0]


def test_permute_legs_moves_every_leg_with_its_position() -> None:
    start, asset, units = _csr([[(0, 1.0), (1, 2.0)], [], [(2, 3.0)], [(0, 4.0), (2, 5.0)]])
    order = np.array([3, 1, 0, 2])
    s2, a2, u2 = permute_legs(start, asset, units, order)
    assert s2.tolist() == [0, 2, 2, 4, 5]
    assert a2.tolist() == [0, 2, 0, 1, 2]
    assert u2.tolist() == [4.0, 5.0, 1.0, 2.0, 3.0]


def test_permute_single_legs_is_a_gather() -> None:
    start, asset, units = _csr([[(0, 1.0)], [(1, 2.0)], [(2, 3.0)]])
    s2, a2, u2 = permute_legs(start, asset, units, np.array([2, 0, 1]))
    assert s2.tolist() == [0, 1, 2, 3]
    assert a2.tolist() == [2, 0, 1]
    assert u2.tolist() == [3.0, 1.0, 2.0]


def test_as_many_legs_as_positions_but_not_one_each_is_not_a_gather() -> None:
    # three legs for three positions: two, none, one (the shortcut must not take it)
    start, asset, units = _csr([[(0, 1.0), (1, 2.0)], [], [(2, 3.0)]])
    s2, a2, u2 = permute_legs(start, asset, units, np.array([2, 1, 0]))
    assert s2.tolist() == [0, 1, 1, 3]
    assert a2.tolist() == [2, 0, 1]
    assert u2.tolist() == [3.0, 1.0, 2.0]


def _book_scenario() -> dict:
    ratios = [0.9, 0.5, 0.8, 0.1, 0.7, 0.85]  # debt / collateral value at the start
    return {
        "name": "sorted book",
        "settings": {"liquidators": {"mode": "any_loss"}},
        "assets": {
            "USDC": {"price": 1.0},
            "ETH": {
                "price": 2000.0,
                "market": {"type": "cpmm", "base_reserve": 5000.0, "quote_reserve": 1.0e7},
            },
        },
        "protocols": {
            "lender": {
                "type": "lending",
                "close_factor": 0.5,
                "collateral": {
                    "ETH": {"ltv": 0.75, "liquidation_threshold": 0.8, "liquidation_bonus": 0.05}
                },
                "positions": [
                    {"account": f"acct{i}", "collateral": {"ETH": 10.0}, "debt": {"USDC": 2e4 * r}}
                    for i, r in enumerate(ratios)
                ],
            }
        },
        "shocks": [{"ETH": -0.1}],
    }


def test_compiled_book_is_in_trigger_order_with_its_accounts() -> None:
    compiled = compile_scenario(scenario_from_dict(_book_scenario()))
    L = compiled.lending
    assert np.all(np.diff(L.debt_units / L.col_units) >= 0)
    names = [compiled.entity_names[e] for e in compiled.entities["lending"]]
    assert names == ["acct3", "acct1", "acct4", "acct2", "acct5", "acct0"]


def test_the_sorted_book_agrees_with_the_reference() -> None:
    assert_agree(_book_scenario())


def test_many_groups_sort_by_the_wide_key_too() -> None:
    # (protocol 300, 21 asset slots): a group key beyond 16 bits takes the comparison sort
    protocol = np.array([300, 300, 0])
    col = _csr([[(0, 1.0)], [(0, 2.0)], [(5, 1.0)]])
    debt = _csr([[(7, 1.0)], [(7, 1.0)], [(7, 1.0)]])
    assert trigger_order(protocol, *col, *debt, 20).tolist() == [2, 1, 0]


def test_triggers_within_one_level_keep_the_book_order() -> None:
    # the book's log triggers span [0, 16]: a level is 16 / 65,534 wide in log2
    protocol = np.zeros(4, I8)
    col = _csr([[(0, 1.0)]] * 4)
    debt = _csr([[(1, 1.0 + 1e-9)], [(1, 1.0)], [(1, 2.0**16)], [(1, 1.0)]])
    assert trigger_order(protocol, *col, *debt, 2).tolist() == [0, 1, 3, 2]
