"""The numpy baseline of BENCHMARKS.md (``benchmarks/numpy_baseline.py``) computes what the
kernel computes, so that its speed ratio compares like with like: on generated single-collateral
lending books every output and the final position state are equal to the last bit, for the
index and the full scan alike; against the plain-Python reference the suite's tolerance holds
(counts equal, amounts within 1e-9). Scenarios outside what it implements are refused."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import scenario_from_dict
from hypothesis import given
from hypothesis import strategies as st
from reference import simulate

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.engine.kernels import Executor
from contagion_cli.engine.raw import run_raw
from contagion_cli.generate import Spec, generate, write
from contagion_cli.load.scenario import load_scenario

# the benchmarks live beside the tests, not in the installed package
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from benchmarks import numpy_baseline
from benchmarks.books import classic, inline_scenario


def assert_same_as_kernel(compiled) -> numpy_baseline.Outcome:
    outcome = numpy_baseline.run(numpy_baseline.inputs_from(compiled))
    for index in (True, False):
        raw = run_raw(compiled, executor=Executor.jit, index=index)
        assert numpy_baseline.differences(outcome, raw.outputs, raw.state.lending) == []
    return outcome


@st.composite
def generated_books(draw: st.DrawFn) -> dict:
    """A generated book as an inline scenario, with the knobs of the model drawn too: close
    factors, full-close thresholds, pool fees and depth, several shock steps with liquidity."""
    spec = Spec(
        positions=draw(st.integers(10, 250)),
        protocols=draw(st.integers(1, 4)),
        assets=draw(st.integers(1, 4)),
        seed=draw(st.integers(0, 2**32 - 1)),
        shared=draw(st.sampled_from([0.0, 0.3])),
        # mostly deep enough to start a cascade; sometimes none, or a rise
        shock=draw(st.one_of(st.floats(-0.8, -0.15), st.sampled_from([0.0, 0.05]))),
        market_share=draw(st.floats(0.05, 5.0)),
    )
    data = inline_scenario(generate(spec))
    for proto in data["protocols"].values():
        proto["close_factor"] = draw(st.sampled_from([0.25, 0.5, 1.0]))
        proto["full_close_below_hf"] = draw(st.sampled_from([0.5, 0.95, 1.0]))
    for asset in data["assets"].values():
        if "market" in asset:
            asset["market"]["fee"] = draw(st.sampled_from([0.0, 0.003, 0.05]))
    first = next(a for a in data["assets"] if a != "USDC")
    for _ in range(draw(st.integers(0, 2))):
        step = {first: draw(st.floats(-0.3, 0.05))}
        if draw(st.booleans()):
            step["liquidity"] = {first: draw(st.floats(0.2, 2.0))}
        data["shocks"].append(step)
    data["settings"]["min_price_fraction"] = draw(st.sampled_from([1e-6, 0.2, 0.5]))
    return data


@given(generated_books())
def test_the_baseline_matches_the_kernel_to_the_last_bit(data):
    assert_same_as_kernel(compile_scenario(scenario_from_dict(data)))


@given(generated_books())
def test_the_baseline_matches_the_reference(data):
    scenario = scenario_from_dict(data)
    compiled = compile_scenario(scenario)
    got = numpy_baseline.run(numpy_baseline.inputs_from(compiled))
    ref = simulate(scenario)
    assert got.converged == ref["converged"]
    assert got.total_rounds == ref["total_rounds"]
    assert got.step_rounds == ref["step_rounds"]
    for p, name in enumerate(compiled.protocol_names):
        want = ref["protocols"][name]
        assert got.liquidations[p] == want.liquidations
        assert got.closed_positions[p] == want.bad_debt_positions
        for mine, theirs in (
            (got.repaid_usd[p], want.repaid_usd),
            (got.seized_usd[p], want.seized_usd),
            (got.proceeds_usd[p], want.proceeds_usd),
            (got.bad_debt_usd[p], want.bad_debt_usd),
            (got.shortfall_usd[p], want.shortfall_usd),
        ):
            assert math.isclose(mine, theirs, rel_tol=1e-9, abs_tol=1e-6), name
    for a, name in enumerate(compiled.asset_names):
        want = ref["assets"][name]
        for key in ("final_price", "sold_units", "sale_proceeds_usd", "slippage_usd"):
            mine = getattr(got, key)[a]
            assert math.isclose(mine, want[key], rel_tol=1e-9, abs_tol=1e-7), (name, key)


def test_a_benchmark_book_from_parquet_files(tmp_path):
    """A book of BENCHMARKS.md: Parquet files, a cascade of many rounds."""
    pytest.importorskip("pyarrow")
    # with the JIT off (make test-nojit) the kernel runs as Python: a smaller book
    n = 2_000 if os.environ.get("NUMBA_DISABLE_JIT") == "1" else 20_000
    spec = Spec(positions=n, seed=3, shared=0.0)
    path = write(classic(generate(spec)), tmp_path, "parquet")[0]
    outcome = assert_same_as_kernel(compile_scenario(load_scenario(path)))
    assert outcome.acting_rounds >= 10  # a long cascade: every round's arithmetic is compared
    assert outcome.liquidations.sum() > 1000


def test_the_comparison_notices_a_difference():
    """``differences`` is what the benchmark trusts; one changed bit must show."""
    compiled = compile_scenario(scenario_from_dict(inline_scenario(generate(Spec(200, seed=5)))))
    outcome = numpy_baseline.run(numpy_baseline.inputs_from(compiled))
    raw = run_raw(compiled, executor=Executor.jit)
    assert outcome.liquidations.sum() > 0
    outcome.repaid_usd[np.argmax(outcome.repaid_usd)] *= 1.0 + 2**-52
    assert numpy_baseline.differences(outcome, raw.outputs) == ["repaid_usd"]


def _book(**changes) -> dict:
    data = inline_scenario(generate(Spec(20, protocols=1, assets=2, seed=1)))
    proto = data["protocols"]["lender-0"]
    for key, value in changes.items():
        if key == "positions":
            proto["positions"] = value(proto["positions"])
        elif key == "market":
            data["assets"]["ETH"]["market"] = value
        elif key == "settings":
            data["settings"].update(value)
        elif key == "coordination":
            data["coordination"] = value
        else:
            proto[key] = value
    return data


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (
            {"positions": lambda ps: [{**p, "collateral": {"ETH": 1.0, "WBTC": 0.1}} for p in ps]},
            "one collateral leg",
        ),
        ({"market": {"type": "linear", "lambda_per_usd": 1e-9}}, "only cpmm"),
        ({"oracle": {"type": "lagged", "rounds": 2}}, "spot oracles"),
        ({"circuit_breaker": {"drop": 0.2}}, "circuit_breaker"),
        ({"settings": {"liquidators": {"min_profit_usd": 10.0}}}, "liquidator"),
        (
            {"coordination": {"max_entity_leverage": 1.0, "margin_add_per_leverage": 0.01}},
            "coordination",
        ),
    ],
)
def test_what_the_baseline_does_not_implement_is_refused(changes, fragment):
    compiled = compile_scenario(scenario_from_dict(_book(**changes)))
    with pytest.raises(numpy_baseline.UnsupportedError, match=fragment):
        numpy_baseline.inputs_from(compiled)
