"""A straightforward vectorised-numpy implementation of the lending rounds: the baseline the
kernel is compared with in BENCHMARKS.md.

The same model as the kernel (MODEL.md §1, §3 lending; docs/model.md §1–§3), restricted to the
books ``contagion generate`` writes: lending protocols only, every position with one collateral
leg and one debt leg, collateral traded on a constant-product pool (or on no market), debt in
an asset without a market, spot oracles, no levers. Each round works on whole arrays, every
position at once: health factors, the eligible mask, the close factor, repayment and seizure,
bad debt, then the round's batch sale per asset on its pool. There is no per-position Python
loop and no position index: it is what one would write in numpy without a compiler.

The results are the kernel's to the last bit (``tests/kernel/test_numpy_baseline.py``), so that the
ratio in BENCHMARKS.md compares the same arithmetic:

- every elementwise expression is written with the kernel's operands in the kernel's order;
- totals per protocol are summed in position order onto the running total, as the kernel's
  ``+=`` does: ``np.bincount`` adds its weights one at a time in input order, and the running
  total goes in first (:func:`_accumulate`);
- the units of an asset sold in a round, which the kernel sums with Neumaier compensation, are
  taken as the correctly rounded sum (``math.fsum``). The two agree unless the exact sum lies
  within about ``n**2 * 2**-106`` (relative, ``n`` terms) of a rounding midpoint, which the
  tests' books never come near.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from contagion_cli.compile.compiler import Compiled
from contagion_cli.compile.layout import POS_OPEN, Lending, OutputView
from contagion_cli.schema.models import CpmmMarket, LendingProtocol


class UnsupportedError(ValueError):
    """The scenario uses something the baseline does not implement."""


@dataclass(frozen=True)
class Inputs:
    """A single-leg lending book as flat arrays (P protocols, A assets, N positions, T steps)."""

    protocol: np.ndarray  # i8[N]
    col_asset: np.ndarray  # i8[N]
    col_units: np.ndarray  # f8[N]
    debt_asset: np.ndarray  # i8[N]
    debt_units: np.ndarray  # f8[N]
    lt: np.ndarray  # f8[P, A] liquidation thresholds
    bonus: np.ndarray  # f8[P, A] liquidation bonuses
    close_factor: np.ndarray  # f8[P]
    full_close_hf: np.ndarray  # f8[P]
    price: np.ndarray  # f8[A] start prices
    has_pool: np.ndarray  # bool[A] a cpmm pool (else no market: the price moves with shocks only)
    x: np.ndarray  # f8[A] pool base reserve
    y: np.ndarray  # f8[A] pool quote reserve
    fee: np.ndarray  # f8[A]
    returns: np.ndarray  # f8[T, A]
    liquidity: np.ndarray  # f8[T, A]
    max_rounds: int
    eps: float  # min_price_fraction: sales stay above eps x the price the path alone gives
    tol: float  # settings.tolerance: a health factor within it of a threshold is at it


@dataclass
class Outcome:
    """What a run reports, named as in :class:`~contagion_cli.compile.layout.Outputs`."""

    converged: bool
    total_rounds: int  # rounds run, the quiet last round of each step included
    acting_rounds: int  # rounds in which a position was liquidated
    step_rounds: list[int]
    liquidations: np.ndarray  # i8[P]
    closed_positions: np.ndarray  # i8[P] written off (bad debt)
    repaid_usd: np.ndarray  # f8[P]
    seized_usd: np.ndarray  # f8[P]
    proceeds_usd: np.ndarray  # f8[P]
    bad_debt_usd: np.ndarray  # f8[P]
    shortfall_usd: np.ndarray  # f8[P] at the final prices
    seized_units: np.ndarray  # f8[P, A]
    repaid_units: np.ndarray  # f8[P, A]
    written_off_units: np.ndarray  # f8[P, A]
    final_price: np.ndarray  # f8[A]
    sold_units: np.ndarray  # f8[A] units that filled
    sale_proceeds_usd: np.ndarray  # f8[A]
    slippage_usd: np.ndarray  # f8[A]
    unfilled_units: np.ndarray  # f8[A]
    held_units: np.ndarray  # f8[P, A] what no market took stays with the liquidators
    col_units: np.ndarray  # f8[N] final state
    debt_units: np.ndarray  # f8[N]
    open: np.ndarray  # bool[N]


def inputs_from(compiled: Compiled) -> Inputs:
    """The baseline's arrays from a compiled scenario (positions as the compiler laid them
    out, parameters from the validated scenario). Raises :class:`UnsupportedError`."""
    s = compiled.scenario
    _check_supported(compiled)
    lend = compiled.state.lending
    if len(lend.protocol) and (
        np.any(np.diff(lend.col_start) != 1) or np.any(np.diff(lend.debt_start) != 1)
    ):
        raise UnsupportedError("every position needs exactly one collateral leg and one debt leg")
    cut = getattr(lend, "lt_cut", None)
    if cut is not None and np.any(cut != 0.0):
        raise UnsupportedError("coordination (thresholds cut per position) is not implemented")
    names = compiled.asset_names
    n_a, n_p = len(names), len(compiled.protocol_names)
    lt = np.zeros((n_p, n_a))
    bonus = np.zeros((n_p, n_a))
    close_factor = np.zeros(n_p)
    full_close = np.zeros(n_p)
    for p, proto in enumerate(s.protocols.values()):
        assert isinstance(proto, LendingProtocol)
        close_factor[p] = proto.close_factor
        full_close[p] = proto.full_close_below_hf
        for a, name in enumerate(names):
            if name in proto.collateral:
                lt[p, a] = proto.collateral[name].liquidation_threshold
                bonus[p, a] = proto.collateral[name].liquidation_bonus
    price = np.array([s.assets[n].price for n in names], dtype=float)
    has_pool = np.array([s.assets[n].market is not None for n in names])
    x = np.ones(n_a)
    fee = np.zeros(n_a)
    for a, name in enumerate(names):
        market = s.assets[name].market
        if isinstance(market, CpmmMarket):
            # the compiler's convention: the stated price is authoritative, y = x * price
            x[a] = market.base_reserve
            fee[a] = market.fee
    debt_asset = lend.debt_asset.copy()
    if np.any(has_pool[debt_asset]):
        raise UnsupportedError("debt must be in an asset without a market")
    return Inputs(
        protocol=lend.protocol.copy(),
        col_asset=lend.col_asset.copy(),
        col_units=lend.col_units.copy(),
        debt_asset=debt_asset,
        debt_units=lend.debt_units.copy(),
        lt=lt,
        bonus=bonus,
        close_factor=close_factor,
        full_close_hf=full_close,
        price=price,
        has_pool=has_pool,
        x=x,
        y=x * price,
        fee=fee,
        returns=compiled.path.returns.copy(),
        liquidity=compiled.path.liquidity.copy(),
        max_rounds=int(compiled.params.max_rounds),
        eps=float(compiled.params.min_price_fraction),
        tol=float(compiled.params.tol),
    )


def _check_supported(compiled: Compiled) -> None:
    s = compiled.scenario
    liquidators = s.settings.liquidators
    if (
        liquidators is None
        or liquidators.mode != "any_loss"
        or liquidators.capital_usd_per_round is not None
    ):
        raise UnsupportedError(
            "only liquidators that sell at any loss are implemented "
            "(settings.liquidators: {mode: any_loss}, no capital limit)"
        )
    coordination = getattr(s, "coordination", None)
    if coordination is not None and coordination.enabled:
        raise UnsupportedError("coordination is not implemented")
    if s.settings.recovery != 0.0 and compiled.path.returns.shape[0] > 1:
        raise UnsupportedError("recovery between steps is not implemented")
    for name, proto in s.protocols.items():
        if not isinstance(proto, LendingProtocol):
            raise UnsupportedError(f"{name}: only lending protocols are implemented")
        oracle = proto.oracle
        if oracle.type != "spot" or oracle.floor or getattr(oracle, "venues", None):
            raise UnsupportedError(f"{name}: only plain spot oracles are implemented")
        for lever in ("circuit_breaker", "liquidators", "dynamic_risk", "route"):
            if getattr(proto, lever, None) is not None:
                raise UnsupportedError(f"{name}: {lever} is not implemented")
    for name, asset in s.assets.items():
        if asset.peg is not None or asset.issuer is not None:
            raise UnsupportedError(f"{name}: pegged and issued assets are not implemented")
        if getattr(asset, "venues", None) is not None:
            raise UnsupportedError(f"{name}: several venues are not implemented")
        if asset.market is not None and not isinstance(asset.market, CpmmMarket):
            raise UnsupportedError(f"{name}: only cpmm markets are implemented")


def _accumulate(total: np.ndarray, groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``total[g] += v`` for each (g, v) in order, as a sequential loop would round it:
    ``np.bincount`` adds weights one at a time in input order; the running total goes first."""
    n = total.shape[0]
    keys = np.concatenate([np.arange(n), groups])
    weights = np.concatenate([total, values])
    return np.bincount(keys, weights=weights, minlength=n)


def run(inp: Inputs) -> Outcome:
    """Run the shock path: per step the shock, then rounds to the fixed point."""
    n_p, n_a = inp.lt.shape
    proto = inp.protocol
    col_asset = inp.col_asset
    debt_asset = inp.debt_asset
    units = inp.col_units.copy()
    debt = inp.debt_units.copy()
    is_open = np.ones(units.shape[0], dtype=bool)
    lt_pos = inp.lt[proto, col_asset]  # a position's threshold never changes (no dynamic risk)
    price = inp.price.copy()
    x = inp.x.copy()
    y = inp.y.copy()
    shocked = inp.price.copy()  # the exogenous path alone: the band is eps x this
    pa = proto * n_a  # flat (protocol, asset) keys
    out = Outcome(
        converged=True,
        total_rounds=0,
        acting_rounds=0,
        step_rounds=[],
        liquidations=np.zeros(n_p, np.int64),
        closed_positions=np.zeros(n_p, np.int64),
        repaid_usd=np.zeros(n_p),
        seized_usd=np.zeros(n_p),
        proceeds_usd=np.zeros(n_p),
        bad_debt_usd=np.zeros(n_p),
        shortfall_usd=np.zeros(n_p),
        seized_units=np.zeros((n_p, n_a)),
        repaid_units=np.zeros((n_p, n_a)),
        written_off_units=np.zeros((n_p, n_a)),
        final_price=price,
        sold_units=np.zeros(n_a),
        sale_proceeds_usd=np.zeros(n_a),
        slippage_usd=np.zeros(n_a),
        unfilled_units=np.zeros(n_a),
        held_units=np.zeros((n_p, n_a)),
        col_units=units,
        debt_units=debt,
        open=is_open,
    )
    for t in range(inp.returns.shape[0]):
        # --- step: the exogenous shock (never clamped); a pool is re-centred, k = x·y kept ---
        for a in range(n_a):
            new = float(price[a]) * (1.0 + float(inp.returns[t, a]))
            shocked[a] *= 1.0 + float(inp.returns[t, a])
            if inp.has_pool[a]:
                m = float(inp.liquidity[t, a])
                k = (float(x[a]) * m) * (float(y[a]) * m)
                x[a] = math.sqrt(k / new)
                y[a] = math.sqrt(k * new)
            price[a] = new
        rounds_here = 0
        converged = False
        for _ in range(inp.max_rounds):
            out.total_rounds += 1
            lo = shocked * inp.eps  # the band: eps x the exogenous price
            # --- round: value every position at the round-start (spot) oracle ---
            debt_value = debt * price[debt_asset]
            col_adj = units * price[col_asset] * lt_pos
            live = is_open & (debt > 0.0) & (units > 0.0)
            # --- round: find eligible positions (HF < 1, beyond the tolerance) ---
            with np.errstate(divide="ignore", invalid="ignore"):
                hf = col_adj / debt_value
            rows = np.flatnonzero(live & (hf < 1.0 - inp.tol))
            if rows.size == 0:
                converged = True
                break
            # --- round: liquidate: close factor, repay, seize ---
            p = proto[rows]
            a_col = col_asset[rows]
            a_debt = debt_asset[rows]
            u = units[rows]
            d = debt[rows]
            h = hf[rows]
            p_col = price[a_col]
            p_debt = price[a_debt]
            b = inp.bonus[p, a_col]
            cf = np.where(h <= inp.full_close_hf[p] * (1.0 + inp.tol), 1.0, inp.close_factor[p])
            by_debt = cf * d * p_debt
            by_col = u * p_col / (1.0 + b)
            take_debt = by_debt <= by_col
            repay_usd = np.where(take_debt, by_debt, by_col)
            repay_units = np.where(take_debt, cf * d, np.minimum(repay_usd / p_debt, d))
            seize = np.where(take_debt, np.minimum(repay_usd * (1.0 + b) / p_col, u), u)
            d_left = d - repay_units
            u_left = u - seize
            debt[rows] = d_left
            units[rows] = u_left
            out.liquidations += np.bincount(p, minlength=n_p)
            out.repaid_usd = _accumulate(out.repaid_usd, p, repay_usd)
            out.seized_usd = _accumulate(out.seized_usd, p, seize * p_col)
            out.seized_units = _accumulate(
                out.seized_units.ravel(), pa[rows] + a_col, seize
            ).reshape(n_p, n_a)
            out.repaid_units = _accumulate(
                out.repaid_units.ravel(), pa[rows] + a_debt, repay_units
            ).reshape(n_p, n_a)
            orders = np.bincount(pa[rows] + a_col, weights=seize, minlength=n_p * n_a)
            orders = orders.reshape(n_p, n_a)
            # --- round: settle: debt with no collateral left is bad debt ---
            gone = u_left <= 0.0
            if gone.any():
                g = rows[gone]
                pg = p[gone]
                owed = d_left[gone]
                written = np.where(owed > 0.0, owed * p_debt[gone], 0.0)
                out.bad_debt_usd = _accumulate(out.bad_debt_usd, pg, written)
                out.written_off_units = _accumulate(
                    out.written_off_units.ravel(), pa[g] + a_debt[gone], np.maximum(owed, 0.0)
                ).reshape(n_p, n_a)
                out.closed_positions += np.bincount(pg, minlength=n_p)
                debt[g] = 0.0
                is_open[g] = False
            # --- round: batch execution per asset: the round's sale on the pool ---
            fill = np.zeros(n_a)
            avg = np.zeros(n_a)
            for a in range(n_a):
                sold = seize[a_col == a]
                if sold.size == 0:
                    continue
                q = math.fsum(sold)
                p0 = float(price[a])
                if inp.has_pool[a]:
                    xa, ya = float(x[a]), float(y[a])
                    filled = min(q, max(0.0, math.sqrt(xa * ya / float(lo[a])) - xa))
                    q_in = filled * (1.0 - float(inp.fee[a]))
                    got = ya * q_in / (xa + q_in)
                    x[a] = xa + filled
                    y[a] = ya - got
                    price[a] = y[a] / x[a]
                    out.slippage_usd[a] += filled * p0 - got
                else:
                    got, filled = q * p0, q
                fill[a] = filled / q
                avg[a] = got / filled if filled > 0.0 else p0
                out.sold_units[a] += filled
                out.sale_proceeds_usd[a] += got
            # what the pool did not take stays with each protocol's liquidators
            for a in range(n_a):
                for pp in range(n_p):
                    if orders[pp, a] > 0.0 and fill[a] < 1.0:
                        left = orders[pp, a] * (1.0 - fill[a])
                        out.unfilled_units[a] += left
                        out.held_units[pp, a] += left
            # liquidators keep what the sale raised, per protocol in asset order
            for pp in range(n_p):
                for a in range(n_a):
                    if orders[pp, a] > 0.0:
                        out.proceeds_usd[pp] += orders[pp, a] * fill[a] * avg[a]
            rounds_here += 1
            out.acting_rounds += 1
        out.step_rounds.append(rounds_here)
        out.converged = out.converged and converged
    # --- final shortfall: sum over open positions of max(0, debt value - collateral value) ---
    debt_value = debt * price[debt_asset]
    col_value = np.where(units > 0.0, units * price[col_asset], 0.0)
    owing = is_open & (debt > 0.0)
    gap = np.where(owing & (debt_value > col_value), debt_value - col_value, 0.0)
    out.shortfall_usd = np.bincount(proto, weights=gap, minlength=n_p)
    out.final_price = price
    return out


#: Outcome fields that have a kernel output of the same name (per protocol or per asset).
COMPARED = (
    "liquidations",
    "closed_positions",
    "repaid_usd",
    "seized_usd",
    "proceeds_usd",
    "bad_debt_usd",
    "shortfall_usd",
    "seized_units",
    "repaid_units",
    "written_off_units",
    "final_price",
    "sold_units",
    "sale_proceeds_usd",
    "slippage_usd",
    "unfilled_units",
    "held_units",
)


def differences(outcome: Outcome, outputs: OutputView, lending: Lending | None = None) -> list[str]:
    """What differs, to the last bit, between the baseline and the kernel's outputs (and its
    final lending state, when given); empty when they agree."""
    found = []
    if outcome.total_rounds != int(outputs.counters[2]):
        found.append("total_rounds")
    if outcome.acting_rounds != int(outputs.counters[3]):
        found.append("acting_rounds")
    if outcome.step_rounds != [int(r) for r in outputs.step_rounds]:
        found.append("step_rounds")
    for name in COMPARED:
        if not np.array_equal(getattr(outcome, name), np.asarray(getattr(outputs, name))):
            found.append(name)
    if lending is not None:
        if not np.array_equal(outcome.col_units, lending.col_units):
            found.append("col_units")
        if not np.array_equal(outcome.debt_units, lending.debt_units):
            found.append("debt_units")
        if not np.array_equal(outcome.open, lending.status == POS_OPEN):
            found.append("status")
    return found
