"""Named invariants of the model: conservation (MODEL.md §6), permutation invariance (§1),
the fixed point is a fixed point, and a larger shock liquidates no fewer positions."""

from __future__ import annotations

import random

import numpy as np
from helpers import close, run_scenario, scenario_from_dict
from hypothesis import given
from hypothesis import strategies as st
from strategies import cascade_scenarios, lending_scenarios, lever_scenarios, mixed_scenarios

from contagion_cli.compile.compiler import compile_scenario
from contagion_cli.compile.layout import OutputView, Path, empty_outputs
from contagion_cli.engine.raw import call_kernel, run_raw
from contagion_cli.kernel import run_cascade

scenarios = st.one_of(lending_scenarios(), cascade_scenarios())


@given(scenarios)
def test_conservation(data):
    compiled = compile_scenario(scenario_from_dict(data))
    raw = run_raw(compiled)
    o, L = raw.outputs, raw.lending
    start = compiled.lending
    n_p, n_a = compiled.n_protocols, compiled.n_assets
    held_start = np.zeros((n_p, n_a))
    held_end = np.zeros((n_p, n_a))
    debt_start = np.zeros((n_p, n_a))
    debt_end = np.zeros((n_p, n_a))
    for i, p in enumerate(start.protocol):
        for k in range(start.col_start[i], start.col_start[i + 1]):
            held_start[p, start.col_asset[k]] += start.col_units[k]
            held_end[p, L.col_asset[k]] += L.col_units[k]
        for k in range(start.debt_start[i], start.debt_start[i + 1]):
            debt_start[p, start.debt_asset[k]] += start.debt_units[k]
            debt_end[p, L.debt_asset[k]] += L.debt_units[k]
    # collateral units at start = held at end + seized
    np.testing.assert_allclose(held_start, held_end + o.seized_units, rtol=1e-9, atol=1e-9)
    # debt at start = debt at end + repaid + written off
    np.testing.assert_allclose(
        debt_start, debt_end + o.repaid_units + o.written_off_units, rtol=1e-9, atol=1e-6
    )
    # USD raised by sales = USD paid to the sellers (the liquidators of every protocol)
    assert close(float(o.proceeds_usd.sum()), float(o.sale_proceeds_usd.sum()), rel=1e-9)
    # units seized = units sold + units the liquidators hold (unsold; here: what no market took)
    np.testing.assert_allclose(
        o.seized_units.sum(axis=0), o.sold_units + o.held_units.sum(axis=0), rtol=1e-9, atol=1e-9
    )
    # what they hold: what the markets could not take and what they chose not to sell
    assert np.all(o.held_units >= -1e-9)
    # no negative balance, no NaN, prices > 0
    assert np.all(L.col_units >= 0) and np.all(L.debt_units >= 0)
    for arr in (o.repaid_usd, o.bad_debt_usd, o.shortfall_usd, o.final_price, o.slippage_usd):
        assert np.all(np.isfinite(arr))
    assert np.all(o.final_price > 0)
    assert np.all(o.bad_debt_usd >= 0) and np.all(o.shortfall_usd >= 0)
    # a closed position holds nothing and owes nothing
    for i in np.flatnonzero(L.status == 1):
        assert L.col_units[L.col_start[i] : L.col_start[i + 1]].sum() == 0
        assert L.debt_units[L.debt_start[i] : L.debt_start[i + 1]].sum() == 0


def _permuted(data: dict, seed: int) -> dict:
    rng = random.Random(seed)
    out = dict(data)
    protocols = list(data["protocols"].items())
    rng.shuffle(protocols)
    out["protocols"] = {}
    for name, proto in protocols:
        proto = dict(proto)
        positions = list(proto["positions"])
        rng.shuffle(positions)
        proto["positions"] = positions
        out["protocols"][name] = proto
    return out


@given(st.one_of(scenarios, lever_scenarios(), mixed_scenarios()), st.integers(0, 2**32 - 1))
def test_permuting_positions_and_protocols_changes_nothing(data, seed):
    a = run_scenario(scenario_from_dict(data))
    b = run_scenario(scenario_from_dict(_permuted(data, seed)))
    assert a.rounds == b.rounds and a.total_rounds == b.total_rounds
    assert a.liquidations == b.liquidations
    for name, pa in a.protocols.items():
        pb = b.protocols[name]
        assert pa.liquidations == pb.liquidations
        assert pa.bad_debt_positions == pb.bad_debt_positions
        assert pa.depth == pb.depth and pa.first_distress_round == pb.first_distress_round
        for key in ("repaid_usd", "bad_debt_usd", "shortfall_usd", "collateral_sold_usd"):
            assert close(getattr(pa, key), getattr(pb, key), rel=1e-12, abs_=1e-6), key
    for name, xa in a.assets.items():
        assert close(xa.final_price, b.assets[name].final_price, rel=1e-12, abs_=0.0)
    assert {(e.source, e.target, e.asset) for e in a.edges} == {
        (e.source, e.target, e.asset) for e in b.edges
    }


@given(scenarios)
def test_the_fixed_point_is_a_fixed_point(data):
    compiled = compile_scenario(scenario_from_dict(data))
    raw = run_raw(compiled)
    if not all(raw.outputs.step_converged):
        return
    books = np.any(compiled.venues.kind == 3)
    if books and raw.outputs.skipped_unprofitable.sum() > 0:
        # an order book refills at the next step: a liquidation its liquidators declined for
        # lack of bids can then pay - the fixed point of a step, not of the next one
        return
    # one more step with no shock, from the state the run ended in: nothing happens
    path = Path(np.zeros((1, compiled.n_assets)), np.ones((1, compiled.n_assets)))
    raw_out = empty_outputs(compiled.n_protocols, compiled.n_assets, 1, 0, compiled.n_venues)
    prices = raw.assets.price.copy()
    status = call_kernel(run_cascade, compiled, raw.state, path, compiled.params, raw_out)
    out = OutputView(raw_out)
    assert status == 0
    assert out.liquidations.sum() == 0
    assert out.step_rounds[0] == 0
    if np.all(compiled.venues.kind != 3):  # an order book refills at a new step
        np.testing.assert_array_equal(raw.assets.price, prices)


@given(lending_scenarios(), st.floats(0.0, 0.3))
def test_larger_shock_liquidates_no_fewer_positions_without_markets(data, extra):
    # Without market impact (no market: prices follow the path only) the set of positions
    # liquidated at least once can only grow with the size of a one-step shock.
    for asset in data["assets"].values():
        asset.pop("market", None)
    risky = [a for a in data["assets"] if a != "USDC"]
    for step in data["shocks"]:
        step.pop("liquidity", None)
    base = {a: -0.2 for a in risky}
    data = dict(data, shocks=[base])
    worse = dict(data, shocks=[{a: r - extra for a, r in base.items()}])

    def touched(d: dict) -> set[int]:
        c = compile_scenario(scenario_from_dict(d))
        raw = run_raw(c)
        changed = raw.lending.col_units != c.lending.col_units
        owner = np.repeat(np.arange(len(c.lending.protocol)), np.diff(c.lending.col_start))
        return set(owner[changed].tolist())

    assert touched(data) <= touched(worse)
