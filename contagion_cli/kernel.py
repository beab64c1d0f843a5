"""The cascade kernel: Jacobi liquidation rounds to a fixed point (MODEL.md §1–§3, §5).

Array code only (numba ``@njit(cache=True)``): it mutates the state arrays it is given, fills
preallocated outputs, returns a status code, never raises, never prints. Every jitted helper
lives in this one file because numba's cache does not notice edits in *other* files that a
cached function calls.

Section comments (``# --- round: ... ---``) mirror those of the plain-Python reference in
``tests/reference.py`` so that one can be read against the other.
"""

from __future__ import annotations

import math

import numpy as np

try:  # engine.py runs a second copy of this file as plain Python, with `njit` the identity
    njit = _TWIN_NJIT  # type: ignore[name-defined]
except NameError:
    from numba import njit

from .layout import (
    ASSET_MARKET,
    POS_CLOSED,
    POS_OPEN,
    STATUS_CONVERGED,
    STATUS_NOT_CONVERGED,
    STATUS_OVER_BUDGET,
    VENUE_CPMM,
    VENUE_EXPONENTIAL,
    VENUE_LINEAR,
    VENUE_ORDERBOOK,
)

# ---------------------------------------------------------------------------------------------
# Markets (MODEL.md §2): selling and buying q units on one venue. Each returns
# (USD proceeds or cost, units filled) and updates the venue's reserves and price.
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def venue_sell(V, B, v, q, eps):
    """Sell ``q`` units on venue ``v``; returns (proceeds_usd, units_filled)."""
    kind = V.kind[v]
    p0 = V.price[v]
    if q <= 0.0:
        return 0.0, 0.0
    if kind == VENUE_CPMM:
        x = V.x[v]
        y = V.y[v]
        q_in = q * (1.0 - V.fee[v])
        out = y * q_in / (x + q_in)
        V.x[v] = x + q
        V.y[v] = y - out
        V.price[v] = V.y[v] / V.x[v]
        return out, q
    if kind == VENUE_LINEAR:
        p1 = p0 * max(eps, 1.0 - V.lam[v] * q * p0)
        V.price[v] = p1
        return q * 0.5 * (p0 + p1), q
    if kind == VENUE_EXPONENTIAL:
        a = V.alpha[v]
        decay = math.exp(-a * q)
        V.price[v] = max(p0 * decay, p0 * eps)
        return p0 * (1.0 - decay) / a, q
    # VENUE_ORDERBOOK: walk the bids, best first
    left = q
    proceeds = 0.0
    start = V.bid_start[v]
    n = V.bid_count[v]
    last_price = p0
    for k in range(start, start + n):
        level_price = V.anchor[v] * (1.0 + B.offset[k])
        if B.remaining[k] <= 0.0:
            last_price = level_price
            continue
        take = min(B.remaining[k], left)
        B.remaining[k] -= take
        proceeds += take * level_price
        left -= take
        last_price = level_price
        if left <= 0.0:
            break
    if n > 0 and left > 0.0:  # exhausted: the price floor is the last level
        last_price = V.anchor[v] * (1.0 + B.offset[start + n - 1])
    V.price[v] = min(p0, last_price)
    return proceeds, q - left


@njit(cache=True)
def venue_buy(V, B, v, q, eps):
    """Buy ``q`` units on venue ``v``; returns (cost_usd, units_filled)."""
    kind = V.kind[v]
    p0 = V.price[v]
    if q <= 0.0:
        return 0.0, 0.0
    if kind == VENUE_CPMM:
        x = V.x[v]
        y = V.y[v]
        # a pool cannot deliver all its base units: stop where the price reaches p0 / eps
        q_max = x * (1.0 - math.sqrt(eps))
        filled = min(q, q_max)
        cost = y * filled / ((x - filled) * (1.0 - V.fee[v]))
        V.x[v] = x - filled
        V.y[v] = y + cost
        V.price[v] = V.y[v] / V.x[v]
        return cost, filled
    if kind == VENUE_LINEAR:
        p1 = p0 * (1.0 + V.lam[v] * q * p0)
        cap = p0 / eps
        if p1 > cap:
            # beyond the cap the rest fills at the cap price
            q_lin = (cap / p0 - 1.0) / (V.lam[v] * p0)
            V.price[v] = cap
            return q_lin * 0.5 * (p0 + cap) + (q - q_lin) * cap, q
        V.price[v] = p1
        return q * 0.5 * (p0 + p1), q
    if kind == VENUE_EXPONENTIAL:
        a = V.alpha[v]
        limit = math.log(1.0 / eps)
        if a * q > limit:
            q_exp = limit / a
            cap = p0 / eps
            V.price[v] = cap
            return p0 * (math.exp(limit) - 1.0) / a + (q - q_exp) * cap, q
        grow = math.exp(a * q)
        V.price[v] = p0 * grow
        return p0 * (grow - 1.0) / a, q
    # VENUE_ORDERBOOK: walk the asks
    left = q
    cost = 0.0
    start = V.ask_start[v]
    n = V.ask_count[v]
    last_price = p0
    for k in range(start, start + n):
        level_price = V.anchor[v] * (1.0 + B.offset[k])
        if B.remaining[k] <= 0.0:
            last_price = level_price
            continue
        take = min(B.remaining[k], left)
        B.remaining[k] -= take
        cost += take * level_price
        left -= take
        last_price = level_price
        if left <= 0.0:
            break
    if n > 0 and left > 0.0:
        last_price = V.anchor[v] * (1.0 + B.offset[start + n - 1])
    V.price[v] = max(p0, last_price)
    return cost, q - left


@njit(cache=True)
def venue_recenter(V, B, v, new_price, multiplier):
    """Move venue ``v`` to ``new_price`` by arbitrage and scale its liquidity by ``multiplier``.

    cpmm: reserves scale by the multiplier, then the pool is re-centred with k = x·y unchanged.
    linear / exponential: impact per unit is divided by the multiplier. Order book: makers
    requote around the new price with the (scaled) depth of every level restored.
    """
    kind = V.kind[v]
    if kind == VENUE_CPMM:
        x = V.x[v] * multiplier
        y = V.y[v] * multiplier
        k = x * y
        V.x[v] = math.sqrt(k / new_price)
        V.y[v] = math.sqrt(k * new_price)
    elif kind == VENUE_LINEAR:
        V.lam[v] = V.lam[v] / multiplier
    elif kind == VENUE_EXPONENTIAL:
        V.alpha[v] = V.alpha[v] / multiplier
    elif kind == VENUE_ORDERBOOK:
        V.anchor[v] = new_price
        for k in range(V.bid_start[v], V.bid_start[v] + V.bid_count[v]):
            B.depth[k] *= multiplier
            B.remaining[k] = B.depth[k]
        for k in range(V.ask_start[v], V.ask_start[v] + V.ask_count[v]):
            B.depth[k] *= multiplier
            B.remaining[k] = B.depth[k]
    V.price[v] = new_price


@njit(cache=True)
def _add(total, comp, i, value):
    """Neumaier-compensated ``total[i] += value``: batch sums that do not depend on order."""
    t = total[i] + value
    if abs(total[i]) >= abs(value):
        comp[i] += (total[i] - t) + value
    else:
        comp[i] += (value - t) + total[i]
    total[i] = t


# ---------------------------------------------------------------------------------------------
# Lending (MODEL.md §3): one pass over the book per round.
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _value_position(L, Pr, oracle, i, p):
    """(debt value, largest debt leg, collateral value, LT-weighted collateral, largest
    collateral leg) of position ``i`` at protocol ``p``'s oracle. Legs are -1 when absent."""
    debt_value = 0.0
    j_star = -1
    j_val = -1.0
    for k in range(L.debt_start[i], L.debt_start[i + 1]):
        if L.debt_units[k] <= 0.0:
            continue
        val = L.debt_units[k] * oracle[p, L.debt_asset[k]]
        debt_value += val
        if val > j_val:  # strict: ties go to the asset declared first (legs are sorted)
            j_val = val
            j_star = k
    col_value = 0.0
    col_adj = 0.0
    i_star = -1
    i_val = -1.0
    for k in range(L.col_start[i], L.col_start[i + 1]):
        if L.col_units[k] <= 0.0:
            continue
        a = L.col_asset[k]
        val = L.col_units[k] * oracle[p, a]
        col_value += val
        col_adj += val * Pr.lt[p, a]
        if val > i_val:
            i_val = val
            i_star = k
    return debt_value, j_star, col_value, col_adj, i_star


@njit(cache=True)
def lending_shortfall(L, Pr, oracle, shortfall):
    """Per protocol: sum over open positions of max(0, debt value - collateral value)."""
    for i in range(L.protocol.shape[0]):
        if L.status[i] != POS_OPEN:
            continue
        p = L.protocol[i]
        debt_value, j_star, col_value, _, _ = _value_position(L, Pr, oracle, i, p)
        if j_star >= 0 and debt_value > col_value:
            shortfall[p] += debt_value - col_value


@njit(cache=True)
def lending_round(L, Pr, oracle, shortfall, acted, sell, sell_c, flow, O_, trace_row):
    """One lending round over every open position.

    Measures each protocol's shortfall at the round-start oracle (into ``shortfall``) and
    liquidates every eligible position once (Jacobi: decisions use round-start state only; each
    position is touched once, so updating it in place is equivalent).
    """
    n = L.protocol.shape[0]
    for i in range(n):
        if L.status[i] != POS_OPEN:
            continue
        p = L.protocol[i]
        # --- round: value the position at the protocol's oracle ---
        debt_value, j_star, col_value, col_adj, i_star = _value_position(L, Pr, oracle, i, p)
        if j_star < 0:
            continue  # no debt: a pure supplier is never liquidated
        if debt_value > col_value:
            shortfall[p] += debt_value - col_value
        # --- round: find eligible positions (HF < 1) ---
        hf = col_adj / debt_value
        if hf >= 1.0 or i_star < 0:
            continue
        # --- round: liquidate: largest debt j*, largest collateral i*, close factor ---
        a_col = L.col_asset[i_star]
        a_debt = L.debt_asset[j_star]
        p_col = oracle[p, a_col]
        p_debt = oracle[p, a_debt]
        b = Pr.bonus[p, a_col]
        cf = 1.0 if hf < Pr.full_close_hf[p] else Pr.close_factor[p]
        by_debt = cf * L.debt_units[j_star] * p_debt
        by_col = L.col_units[i_star] * p_col / (1.0 + b)
        if by_debt <= by_col:
            repay_usd = by_debt
            repay_units = cf * L.debt_units[j_star]
            seize = min(repay_usd * (1.0 + b) / p_col, L.col_units[i_star])
        else:
            repay_usd = by_col
            repay_units = min(repay_usd / p_debt, L.debt_units[j_star])
            seize = L.col_units[i_star]
        L.debt_units[j_star] -= repay_units
        L.col_units[i_star] -= seize
        O_.liquidations[p] += 1
        O_.repaid_usd[p] += repay_usd
        O_.seized_usd[p] += seize * p_col
        O_.seized_units[p, a_col] += seize
        O_.repaid_units[p, a_debt] += repay_units
        _add(sell, sell_c, a_col, seize)
        flow[p, a_col] += seize
        acted[p] = 1
        if trace_row >= 0:
            O_.trace_liquidations[trace_row, p] += 1
            O_.trace_repaid_usd[trace_row, p] += repay_usd
        # --- round: settle: debt with no collateral left is bad debt ---
        empty = True
        for k in range(L.col_start[i], L.col_start[i + 1]):
            if L.col_units[k] > 0.0:
                empty = False
                break
        if empty:
            written = 0.0
            for k in range(L.debt_start[i], L.debt_start[i + 1]):
                if L.debt_units[k] > 0.0:
                    a = L.debt_asset[k]
                    written += L.debt_units[k] * oracle[p, a]
                    O_.written_off_units[p, a] += L.debt_units[k]
                    L.debt_units[k] = 0.0
            O_.bad_debt_usd[p] += written
            O_.closed_positions[p] += 1
            L.status[i] = POS_CLOSED


# ---------------------------------------------------------------------------------------------
# The step loop: exogenous shock, then rounds to the fixed point.
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _asset_price_from_venues(A, V, a):
    # one venue per asset for now: the asset's price is its venue's price
    return V.price[A.venue_start[a]]


@njit(cache=True)
def _apply_recovery(A, V, B, f, shocked):
    """Between steps: a fraction ``f`` of each asset's endogenous impact reverts."""
    for a in range(A.price.shape[0]):
        if A.kind[a] != ASSET_MARKET:
            continue
        target = A.price[a] + f * (shocked[a] - A.price[a])
        for v in range(A.venue_start[a], A.venue_start[a] + A.venue_count[a]):
            venue_recenter(V, B, v, target, 1.0)
        A.price[a] = target


@njit(cache=True)
def _apply_shock(A, V, B, path, t, shocked):
    """Start of step ``t``: apply the exogenous returns and liquidity multipliers."""
    for a in range(A.price.shape[0]):
        r = path.returns[t, a]
        m = path.liquidity[t, a]
        new_price = A.price[a] * (1.0 + r)
        shocked[a] *= 1.0 + r
        if A.kind[a] == ASSET_MARKET:
            for v in range(A.venue_start[a], A.venue_start[a] + A.venue_count[a]):
                venue_recenter(V, B, v, new_price, m)
        A.price[a] = new_price


@njit(cache=True)
def _set_oracle(A, oracle):
    """Oracle prices of every protocol for this round (spot: the market price)."""
    n_p = oracle.shape[0]
    for p in range(n_p):
        for a in range(A.price.shape[0]):
            oracle[p, a] = A.price[a]


@njit(cache=True)
def _measure_shortfall(A, L, Pr, shortfall):
    oracle = np.empty((Pr.kind.shape[0], A.price.shape[0]))
    _set_oracle(A, oracle)
    shortfall[:] = 0.0
    lending_shortfall(L, Pr, oracle, shortfall)


@njit(cache=True, nogil=True)
def run_cascade(A, V, B, L, Pr, path, prm, O_):
    """Run the whole shock path; returns STATUS_CONVERGED or STATUS_NOT_CONVERGED.

    Parameters
    ----------
    A, V, B, L, Pr, path, prm, O_ : layout named tuples
        State (mutated in place), parameters and preallocated outputs (see ``layout.py``).

    Notes
    -----
    MODEL.md §1: per step, apply the shock, then repeat Jacobi rounds (oracle, decisions from
    round-start state, batch execution per asset with sells and buys crossed at the round-start
    price, settlement) until no protocol acts or ``max_rounds`` is reached. Propagation depth
    and contagion edges follow §5.
    """
    n_a = A.price.shape[0]
    n_p = Pr.kind.shape[0]
    n_t = path.returns.shape[0]
    eps = prm.min_price_fraction
    tol = prm.tol

    oracle = np.empty((n_p, n_a))
    shortfall_prev = np.zeros(n_p)
    shortfall_now = np.zeros(n_p)
    acted = np.zeros(n_p, dtype=np.int64)
    sell = np.zeros(n_a)
    sell_c = np.zeros(n_a)
    buy = np.zeros(n_a)
    buy_c = np.zeros(n_a)
    flow = np.zeros((n_p, n_a))  # signed units each protocol sent to market this round
    moved_prev = np.zeros((n_p, n_a), dtype=np.int64)
    moved_now = np.zeros((n_p, n_a), dtype=np.int64)
    sell_value = np.zeros(n_a)  # USD per unit ordered, per side, this round
    shocked = A.start_price.copy()

    # S_0: shortfall before any shock
    _measure_shortfall(A, L, Pr, shortfall_prev)

    status = STATUS_CONVERGED
    global_round = 0
    work = 0  # positions visited, against prm.work_budget
    for t in range(n_t):
        if t > 0 and prm.recovery > 0.0:
            _apply_recovery(A, V, B, prm.recovery, shocked)
        _apply_shock(A, V, B, path, t, shocked)
        moved_prev[:, :] = 0
        converged = False
        for _r in range(1, prm.max_rounds + 1):
            global_round += 1
            n_trace = O_.counters[1]
            trace_row = n_trace if n_trace < prm.trace_cap else -1
            # --- round: oracle prices ---
            _set_oracle(A, oracle)
            # --- round: decisions of every protocol from round-start state ---
            acted[:] = 0
            sell[:] = 0.0
            sell_c[:] = 0.0
            buy[:] = 0.0
            buy_c[:] = 0.0
            flow[:, :] = 0.0
            shortfall_now[:] = 0.0
            lending_round(L, Pr, oracle, shortfall_now, acted, sell, sell_c, flow, O_, trace_row)
            work += L.protocol.shape[0]
            if prm.work_budget > 0 and work > prm.work_budget:
                return STATUS_OVER_BUDGET
            # --- round: batch execution per asset (cross at round-start price, net to market) ---
            moved_now[:, :] = 0
            for a in range(n_a):
                s_units = sell[a] + sell_c[a]
                b_units = buy[a] + buy_c[a]
                if s_units <= 0.0 and b_units <= 0.0:
                    continue
                p0 = A.price[a]
                crossed = min(s_units, b_units)
                net = s_units - b_units
                proceeds = crossed * p0
                cost = crossed * p0
                if A.kind[a] == ASSET_MARKET:
                    v = A.venue_start[a]
                    if net > 0.0:
                        got, filled = venue_sell(V, B, v, net, eps)
                        proceeds += got
                        O_.slippage_usd[a] += filled * p0 - got
                        O_.unfilled_units[a] += net - filled
                    elif net < 0.0:
                        paid, filled = venue_buy(V, B, v, -net, eps)
                        cost += paid
                        O_.slippage_usd[a] += paid - filled * p0
                        O_.unfilled_units[a] += -net - filled
                    A.price[a] = _asset_price_from_venues(A, V, a)
                else:
                    # no market: the counterparty is the numeraire itself, at the fixed price
                    proceeds += max(net, 0.0) * p0
                    cost += max(-net, 0.0) * p0
                O_.sold_units[a] += s_units
                O_.bought_units[a] += b_units
                O_.sale_proceeds_usd[a] += proceeds
                O_.purchase_cost_usd[a] += cost
                O_.traded_notional_usd[a] += (s_units + b_units) * p0
                sell_value[a] = proceeds / s_units if s_units > 0.0 else 0.0
                if A.price[a] != p0 and net != 0.0:
                    for p in range(n_p):
                        if flow[p, a] * net > 0.0:
                            moved_now[p, a] = 1
                if trace_row >= 0:
                    O_.trace_net_units[trace_row, a] = net
            # --- round: settle proceeds ---
            for p in range(n_p):
                for a in range(n_a):
                    if flow[p, a] > 0.0:
                        O_.proceeds_usd[p] += flow[p, a] * sell_value[a]
            # --- round: distress, propagation depth and contagion edges ---
            any_acted = False
            for p in range(n_p):
                if acted[p] == 1:
                    any_acted = True
            for q in range(n_p):
                grew = shortfall_now[q] > shortfall_prev[q] + tol * max(1.0, shortfall_prev[q])
                if O_.depth[q] >= 0 or not (acted[q] == 1 or grew):
                    continue
                best = -1
                for p in range(n_p):
                    if p == q:
                        continue
                    for a in range(n_a):
                        if Pr.uses[q, a] == 1 and moved_prev[p, a] == 1:
                            if best < 0 or O_.depth[p] < best:
                                best = O_.depth[p]
                            e = O_.counters[0]
                            if e < O_.edge_src.shape[0]:
                                O_.edge_src[e] = p
                                O_.edge_dst[e] = q
                                O_.edge_asset[e] = a
                                O_.edge_round[e] = global_round
                                O_.counters[0] = e + 1
                O_.depth[q] = 0 if best < 0 else best + 1
                O_.first_distress_round[q] = global_round
                O_.first_distress_step[q] = t
            for p in range(n_p):
                shortfall_prev[p] = shortfall_now[p]
                for a in range(n_a):
                    moved_prev[p, a] = moved_now[p, a]
            if trace_row >= 0:
                O_.trace_step[trace_row] = t
                O_.trace_round[trace_row] = global_round
                for a in range(n_a):
                    O_.trace_price[trace_row, a] = A.price[a]
                O_.counters[1] = n_trace + 1
            if not any_acted:
                converged = True
                break
            O_.step_rounds[t] += 1
            O_.counters[3] += 1
        O_.step_converged[t] = 1 if converged else 0
        if not converged:
            status = STATUS_NOT_CONVERGED
    O_.counters[2] = global_round
    for a in range(n_a):
        O_.shocked_price[a] = shocked[a]
        O_.final_price[a] = A.price[a]
    # final shortfall at the final prices
    _measure_shortfall(A, L, Pr, O_.shortfall_usd)
    return status
