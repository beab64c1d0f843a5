"""Adversarial books (issue 6 item 7): the position index must give exactly what visiting every
position every round gives - every raw output array and every state array, to the last bit -
on the books most likely to break it, and both must agree with the plain-Python reference
(where the book is small enough for it) and with the numpy baseline of the benchmarks.

- every position at the same liquidation price: the whole book crosses one health bucket at
  once, and a price landing exactly on it leaves every health factor at exactly 1 (not < 1);
- one huge position that dominates its pool: its sale alone drains the pool to its price floor;
- dust: very many positions of 1e-12 to 1e-6 units, whose repayments and bad debt are tiny.

``tests/kernel/test_index.py`` runs a small inline book of each kind through the index; here
the books are positions files of 10^5 to 10^6 rows, cover several protocols and assets, and are
checked against the reference and the baseline too, hypothesis drawing the small ones.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from agreement import assert_agree
from helpers import scenario_from_dict
from hypothesis import given
from hypothesis import strategies as st

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.compile.layout import Outputs
from contagion_cli.engine.kernels import Executor
from contagion_cli.engine.raw import RawRun, run_raw
from contagion_cli.generate import Generated, write
from contagion_cli.load.scenario import load_scenario

# the benchmarks live beside the tests, not in the installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import numpy_baseline
from benchmarks.books import inline_scenario

#: With the JIT off (make test-nojit) the kernel runs as Python: the large books shrink 100-fold.
SCALE = 100 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 1
ETH = 1000.0
WBTC = 50_000.0
LT = {"lend-a": {"ETH": 0.8, "WBTC": 0.75}, "lend-b": {"ETH": 0.85, "WBTC": 0.7}}


def scenario(
    books: dict[str, dict[str, np.ndarray]],
    eth_pool: float,
    shocks: list[dict],
    min_price_fraction: float = 1e-6,
    close_factor: float = 0.5,
) -> Generated:
    """Two lending protocols over ETH and WBTC pools; ``books``: columns per protocol."""
    protocols = {
        name: {
            "type": "lending",
            "reserve_usd": 1e5,
            "close_factor": close_factor,
            "full_close_below_hf": 0.95,
            "collateral": {
                a: {"ltv": lt - 0.05, "liquidation_threshold": lt, "liquidation_bonus": bonus}
                for (a, lt), bonus in zip(LT[name].items(), (0.05, 0.08), strict=True)
            },
        }
        for name in books
    }
    data = {
        "name": "adversarial",
        # the classic cascade (liquidators sell at any loss): what the numpy baseline implements
        "settings": {
            "max_rounds": 1000,
            "min_price_fraction": min_price_fraction,
            "liquidators": {"mode": "any_loss"},
        },
        "assets": {
            "USDC": {"price": 1.0},
            "ETH": {"price": ETH, "market": _pool(eth_pool, ETH, 0.003)},
            "WBTC": {"price": WBTC, "market": _pool(200.0, WBTC, 0.0)},
        },
        "protocols": protocols,
        "shocks": shocks,
    }
    return Generated(data, books)


def _pool(base: float, price: float, fee: float) -> dict:
    return {"type": "cpmm", "base_reserve": base, "quote_reserve": base * price, "fee": fee}


def _columns(prefix: str, units: np.ndarray, asset: np.ndarray, debt: np.ndarray) -> dict:
    return {
        "account": np.char.add(prefix, np.arange(len(units)).astype(str)),
        "collateral.ETH": np.where(asset == 0, units, 0.0),
        "collateral.WBTC": np.where(asset == 1, units, 0.0),
        "debt.USDC": debt,
    }


def same_liquidation_price(n: int, seed: int, exact: bool, trigger: bool = True) -> Generated:
    """Every ETH position of both protocols has health factor exactly 1 at ETH = $900.

    ``exact``: the shock takes ETH to exactly $900, where no health factor is below 1; with
    ``trigger`` one position starts just below, and its liquidation moves the price under the
    whole book. Otherwise the shock takes ETH below $900: the whole book is eligible at once."""
    rng = np.random.default_rng(seed)
    books = {}
    for name in LT:
        units = (rng.pareto(1.5, n) + 1.0) * 0.5
        debt = units * 900.0 * LT[name]["ETH"]  # health factor (u x 900) x lt / debt = 1
        books[name] = _columns(f"{name}-", units, np.zeros(n, int), debt)
    if exact and trigger:
        books["lend-a"]["debt.USDC"][0] *= 1.0 + 1e-9
    assert 1000.0 * (1.0 + -0.1) == 900.0  # the shocked price lands on the threshold to the bit
    return scenario(books, eth_pool=30.0 * n, shocks=[{"ETH": -0.1 if exact else -0.12}])


def huge_position(n: int, seed: int, multiple: float, floor: float) -> Generated:
    """Small positions spread over health 1.0 to 1.6, and one whose collateral is ``multiple``
    times the ETH pool: its liquidation alone crashes the pool, down to the floor ``floor``
    x the start price, where the rest of its sale stays unfilled."""
    rng = np.random.default_rng(seed)
    pool = 50.0 * n
    books = {}
    for name in LT:
        asset = (rng.random(n) < 0.2).astype(int)
        price = np.where(asset == 0, ETH, WBTC)
        units = rng.uniform(0.5, 5.0, n) * ETH / price
        lt = np.where(asset == 0, LT[name]["ETH"], LT[name]["WBTC"])
        debt = units * price * lt / rng.uniform(1.0, 1.6, n)
        books[name] = _columns(f"{name}-", units, asset, debt)
    big = multiple * pool
    books["lend-b"]["collateral.ETH"][n // 2] = big
    books["lend-b"]["collateral.WBTC"][n // 2] = 0.0
    books["lend-b"]["debt.USDC"][n // 2] = big * ETH * LT["lend-b"]["ETH"] / 1.05
    shocks = [{"ETH": -0.12}, {"ETH": -0.05, "WBTC": -0.1}]
    return scenario(books, pool, shocks, min_price_fraction=floor, close_factor=1.0)


def dust(n: int, seed: int) -> Generated:
    """Positions of 1e-12 to 1e-6 ETH with health factors 0.9 to 1.3, and a few ordinary ones
    whose liquidations move the (shallow) pool."""
    rng = np.random.default_rng(seed)
    books = {}
    for name in LT:
        units = 10.0 ** rng.uniform(-12.0, -6.0, n)
        ordinary = rng.random(n) < 20.0 / n
        units[ordinary] = rng.uniform(1.0, 20.0, ordinary.sum())
        debt = units * ETH * LT[name]["ETH"] / rng.uniform(0.9, 1.3, n)
        books[name] = _columns(f"{name}-", units, np.zeros(n, int), debt)
    return scenario(books, eth_pool=100.0, shocks=[{"ETH": -0.08}, {"ETH": -0.05}])


# --- checks ------------------------------------------------------------------------------------


def assert_index_matches_full_scan(compiled) -> RawRun:
    """Every raw output array and every state array equal, to the last bit."""
    fast = run_raw(compiled, executor=Executor.jit, index=True)
    full = run_raw(compiled, executor=Executor.jit, index=False)
    assert fast.status == full.status
    for name, a, b in zip(Outputs._fields, fast.outputs.raw, full.outputs.raw, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)
    for part_a, part_b in zip(fast.state, full.state, strict=True):
        parts = (
            [(part_a, part_b)]
            if isinstance(part_a, np.ndarray)
            else zip(part_a, part_b, strict=True)
        )
        for x, y in parts:
            np.testing.assert_array_equal(x, y)
    return fast


def assert_numpy_baseline_agrees(compiled, raw: RawRun) -> None:
    outcome = numpy_baseline.run(numpy_baseline.inputs_from(compiled))
    assert numpy_baseline.differences(outcome, raw.outputs, raw.state.lending) == []


def from_files(generated: Generated, directory: Path, fmt: str):
    pytest.importorskip("pyarrow")
    return compile_scenario(load_scenario(write(generated, directory, fmt)[0]))


# --- large books from positions files: the index against the full scan ----------------------


def test_a_whole_book_at_one_liquidation_price(tmp_path):
    compiled = from_files(
        same_liquidation_price(100_000 // SCALE, seed=1, exact=False), tmp_path, "csv"
    )
    raw = assert_index_matches_full_scan(compiled)
    o = raw.outputs
    # the whole book was eligible in the first round
    assert o.liquidations.sum() >= compiled.position_counts.sum()
    assert_numpy_baseline_agrees(compiled, raw)


def test_a_whole_book_on_the_threshold_to_the_bit(tmp_path):
    """Health factors of exactly 1 are not eligible; one position below sets off the book."""
    quiet = from_files(
        same_liquidation_price(100_000 // SCALE, 2, True, False), tmp_path / "q", "parquet"
    )
    raw = assert_index_matches_full_scan(quiet)
    assert raw.outputs.liquidations.sum() == 0
    assert raw.outputs.counters[2] == 1  # one quiet round: the fixed point
    compiled = from_files(
        same_liquidation_price(100_000 // SCALE, 2, True), tmp_path / "t", "parquet"
    )
    raw = assert_index_matches_full_scan(compiled)
    assert raw.outputs.liquidations.sum() >= compiled.position_counts.sum()
    assert_numpy_baseline_agrees(compiled, raw)


def test_a_single_position_that_drains_its_pool(tmp_path):
    generated = huge_position(100_000 // SCALE, seed=3, multiple=40.0, floor=0.05)
    compiled = from_files(generated, tmp_path, "parquet")
    raw = assert_index_matches_full_scan(compiled)
    eth = compiled.asset_names.index("ETH")
    assert raw.outputs.unfilled_units[eth] > 0  # the pool reached its floor, $50
    assert raw.outputs.final_price[eth] < 0.05 * ETH * 1.01
    assert_numpy_baseline_agrees(compiled, raw)


def test_a_million_dust_positions(tmp_path):
    compiled = from_files(dust(500_000 // SCALE, seed=4), tmp_path, "parquet")
    assert compiled.position_counts.sum() == 1_000_000 // SCALE
    raw = assert_index_matches_full_scan(compiled)
    assert raw.outputs.liquidations.sum() > 100_000 // SCALE
    assert raw.outputs.closed_positions.sum() > 0  # dust written off as bad debt
    assert_numpy_baseline_agrees(compiled, raw)


# --- small books: the index, the full scan, the reference and the baseline all agree --------


@st.composite
def small_adversarial_books(draw: st.DrawFn) -> dict:
    n = draw(st.integers(3, 60))
    seed = draw(st.integers(0, 2**32 - 1))
    family = draw(st.sampled_from(["same-price", "on-threshold", "huge", "dust"]))
    if family == "same-price":
        generated = same_liquidation_price(n, seed, exact=False)
    elif family == "on-threshold":
        generated = same_liquidation_price(n, seed, exact=True)
    elif family == "huge":
        multiple = draw(st.sampled_from([0.5, 3.0, 40.0]))
        generated = huge_position(n, seed, multiple, draw(st.sampled_from([1e-6, 0.05, 0.5])))
    else:
        generated = dust(n, seed)
    return inline_scenario(generated)


@given(small_adversarial_books())
def test_small_adversarial_books_agree_everywhere(data):
    compiled = compile_scenario(scenario_from_dict(data))
    raw = assert_index_matches_full_scan(compiled)
    assert_numpy_baseline_agrees(compiled, raw)
    assert_agree(data)  # the kernel against tests/reference.py (1e-9)
