"""The cascade kernel: Jacobi liquidation rounds to a fixed point (MODEL.md §1–§3, §5).

Array code only (numba ``@njit(cache=True, error_model="numpy")``: IEEE arithmetic, no
exceptions): it mutates the state arrays it is given, fills preallocated outputs, returns a
status code, never raises, never prints. Every jitted helper
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
    ASSET_ISSUED,
    ASSET_MARKET,
    ASSET_PEGGED,
    AUCTION_DUST,
    OPT_CALL,
    ORACLE_LAG_ROUNDS,
    ORACLE_LAG_STEPS,
    ORACLE_SPOT,
    ORACLE_TWAP,
    POS_AUCTION,
    POS_CLOSED,
    POS_OPEN,
    PROTO_LENDING,
    PROTO_OPTIONS,
    STATUS_CONVERGED,
    STATUS_NOT_CONVERGED,
    STATUS_OVER_BUDGET,
    VENUE_CPMM,
    VENUE_EXPONENTIAL,
    VENUE_LINEAR,
    VENUE_ORDERBOOK,
    Scratch,
)

# ---------------------------------------------------------------------------------------------
# Markets (MODEL.md §2): selling and buying q units on one venue. Each returns
# (USD proceeds or cost, units filled) and updates the venue's reserves and price.
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def venue_sell(V, B, v, q, eps):
    """Sell ``q`` units on venue ``v``; returns (proceeds_usd, units_filled).

    No price leaves the venue's band [lo, hi] (start price x eps, start price / eps): beyond
    it a pool is exhausted (units unfilled) and impact curves stop.
    """
    kind = V.kind[v]
    p0 = V.price[v]
    if q <= 0.0:
        return 0.0, 0.0
    if kind == VENUE_CPMM:
        x = V.x[v]
        y = V.y[v]
        filled = min(q, max(0.0, math.sqrt(x * y / V.lo[v]) - x))
        q_in = filled * (1.0 - V.fee[v])
        out = y * q_in / (x + q_in)
        V.x[v] = x + filled
        V.y[v] = y - out
        V.price[v] = V.y[v] / V.x[v]
        return out, filled
    if kind == VENUE_LINEAR:
        p1 = max(p0 * max(eps, 1.0 - V.lam[v] * q * p0), V.lo[v])
        V.price[v] = p1
        return q * 0.5 * (p0 + p1), q
    if kind == VENUE_EXPONENTIAL:
        a = V.alpha[v]
        V.price[v] = max(p0 * math.exp(-a * q), p0 * eps, V.lo[v])
        return -p0 * math.expm1(-a * q) / a, q  # expm1: exact for small sales
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
    V.price[v] = max(min(p0, last_price), V.lo[v])
    return proceeds, q - left


@njit(cache=True, error_model="numpy")
def venue_buy(V, B, v, q, eps):
    """Buy ``q`` units on venue ``v``; returns (cost_usd, units_filled)."""
    kind = V.kind[v]
    p0 = V.price[v]
    if q <= 0.0:
        return 0.0, 0.0
    if kind == VENUE_CPMM:
        x = V.x[v]
        y = V.y[v]
        # a pool cannot deliver all its base units: it stops where the price reaches `hi`
        filled = min(q, max(0.0, x - math.sqrt(x * y / V.hi[v])))
        cost = y * filled / ((x - filled) * (1.0 - V.fee[v]))
        V.x[v] = x - filled
        V.y[v] = y + cost
        V.price[v] = V.y[v] / V.x[v]
        return cost, filled
    cap = min(p0 / eps, V.hi[v])
    if kind == VENUE_LINEAR:
        p1 = p0 * (1.0 + V.lam[v] * q * p0)
        if p1 > cap:
            # beyond the cap the rest fills at the cap price
            q_lin = max(0.0, (cap / p0 - 1.0) / (V.lam[v] * p0))
            V.price[v] = cap
            return q_lin * 0.5 * (p0 + cap) + (q - q_lin) * cap, q
        V.price[v] = p1
        return q * 0.5 * (p0 + p1), q
    if kind == VENUE_EXPONENTIAL:
        a = V.alpha[v]
        limit = math.log(max(cap / p0, 1.0))
        if a * q > limit:
            q_exp = limit / a
            V.price[v] = max(cap, p0)
            return p0 * math.expm1(limit) / a + (q - q_exp) * max(cap, p0), q
        V.price[v] = p0 * math.exp(a * q)
        return p0 * math.expm1(a * q) / a, q
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
    V.price[v] = min(max(p0, last_price), V.hi[v])
    return cost, q - left


@njit(cache=True, error_model="numpy")
def venue_recenter(V, B, v, new_price, multiplier):
    """Move venue ``v`` to ``new_price`` by arbitrage and scale its liquidity by ``multiplier``.

    cpmm: reserves scale by the multiplier, then the pool is re-centred with k = x·y unchanged.
    linear / exponential: impact per unit is divided by the multiplier. Order book: makers
    requote around the new price with the (scaled) depth of every level restored.
    """
    kind = V.kind[v]
    new_price = min(max(new_price, V.lo[v]), V.hi[v])
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


@njit(cache=True, error_model="numpy")
def _add(total, comp, i, value):
    """Neumaier-compensated ``total[i] += value``: batch sums that do not depend on order."""
    t = total[i] + value
    if abs(total[i]) >= abs(value):
        comp[i] += (total[i] - t) + value
    else:
        comp[i] += (value - t) + total[i]
    total[i] = t


@njit(cache=True, error_model="numpy")
def venue_sell_quote(V, B, v, q, eps):
    """What selling ``q`` units on venue ``v`` would raise now, without trading (USD)."""
    kind = V.kind[v]
    p0 = V.price[v]
    if q <= 0.0:
        return 0.0
    if kind == VENUE_CPMM:
        x = V.x[v]
        filled = min(q, max(0.0, math.sqrt(x * V.y[v] / V.lo[v]) - x))
        q_in = filled * (1.0 - V.fee[v])
        return V.y[v] * q_in / (x + q_in)
    if kind == VENUE_LINEAR:
        p1 = max(p0 * max(eps, 1.0 - V.lam[v] * q * p0), V.lo[v])
        return q * 0.5 * (p0 + p1)
    if kind == VENUE_EXPONENTIAL:
        a = V.alpha[v]
        return -p0 * math.expm1(-a * q) / a
    left = q
    proceeds = 0.0
    for k in range(V.bid_start[v], V.bid_start[v] + V.bid_count[v]):
        take = min(B.remaining[k], left)
        if take > 0.0:
            proceeds += take * V.anchor[v] * (1.0 + B.offset[k])
            left -= take
        if left <= 0.0:
            break
    return proceeds


# ---------------------------------------------------------------------------------------------
# Black–Scholes (options vaults, MODEL.md §3 options)
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _norm_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@njit(cache=True, error_model="numpy")
def bs_delta_value(kind, s, k, tau, vol, r):
    """(delta, value) of one option on one unit of the underlying."""
    sq = vol * math.sqrt(tau)
    d1 = (math.log(s / k) + (r + 0.5 * vol * vol) * tau) / sq
    d2 = d1 - sq
    disc = k * math.exp(-r * tau)
    if kind == OPT_CALL:
        return _norm_cdf(d1), s * _norm_cdf(d1) - disc * _norm_cdf(d2)
    return _norm_cdf(d1) - 1.0, disc * _norm_cdf(-d2) - s * _norm_cdf(-d1)


@njit(cache=True, error_model="numpy")
def asset_sell_quote(A, V, B, a, q, eps):
    """USD that selling ``q`` units of asset ``a`` would raise now, without trading.

    A pegged asset is quoted through its ratio market (or converted at the ratio) and then the
    market of the asset it is pegged to; an asset without a market at its price.
    """
    if A.kind[a] == ASSET_MARKET:
        return venue_sell_quote(V, B, A.venue_start[a], q, eps)
    if A.kind[a] == ASSET_PEGGED:
        to = A.peg_to[a]
        if A.venue_count[a] > 0:
            to_units = venue_sell_quote(V, B, A.venue_start[a], q, eps)
        else:
            to_units = q * A.peg_ratio[a]
        if A.kind[to] == ASSET_MARKET:
            return venue_sell_quote(V, B, A.venue_start[to], to_units, eps)
        return to_units * A.price[to]
    return q * A.price[a]


# ---------------------------------------------------------------------------------------------
# Lending (MODEL.md §3 lending, §4 liquidators)
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _value_position(L, Pr, X, i, p):
    """(debt value, largest debt leg, collateral value, LT-weighted collateral, largest
    collateral leg) of position ``i`` at protocol ``p``'s oracle. Legs are -1 when absent.
    The liquidation thresholds are those of this round (dynamic risk may move them)."""
    debt_value = 0.0
    j_star = -1
    j_val = -1.0
    for k in range(L.debt_start[i], L.debt_start[i + 1]):
        if L.debt_units[k] <= 0.0:
            continue
        val = L.debt_units[k] * X.oracle[p, L.debt_asset[k]]
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
        val = L.col_units[k] * X.oracle[p, a]
        col_value += val
        col_adj += val * (Pr.lt[p, a] * (1.0 - X.adj[p, a]))
        if val > i_val:
            i_val = val
            i_star = k
    return debt_value, j_star, col_value, col_adj, i_star


@njit(cache=True, error_model="numpy")
def lending_shortfall(L, Pr, X):
    """Per protocol: sum over open positions of max(0, debt value - collateral value)."""
    for i in range(L.protocol.shape[0]):
        if L.status[i] != POS_OPEN:
            continue
        p = L.protocol[i]
        debt_value, j_star, col_value, _, _ = _value_position(L, Pr, X, i, p)
        if j_star >= 0 and debt_value > col_value:
            X.shortfall[p] += debt_value - col_value


@njit(cache=True, error_model="numpy")
def _liquidate(L, X, O_, trace_row, i, p, j_star, i_star, repay_units, seize, repay_usd):
    """Apply one liquidation: repay, seize, order the sale; close the position with bad debt
    when it has debt and no collateral left."""
    a_col = L.col_asset[i_star]
    a_debt = L.debt_asset[j_star]
    L.debt_units[j_star] -= repay_units
    L.col_units[i_star] -= seize
    O_.liquidations[p] += 1
    O_.repaid_usd[p] += repay_usd
    O_.liquidated_usd[p] += repay_usd
    O_.seized_usd[p] += seize * X.oracle[p, a_col]
    O_.seized_units[p, a_col] += seize
    O_.repaid_units[p, a_debt] += repay_units
    _add(X.sell, X.sell_c, a_col, seize)
    X.orders[p, a_col] += seize
    X.acted[p] = 1
    if trace_row >= 0:
        O_.trace_liquidations[trace_row, p] += 1
        O_.trace_repaid_usd[trace_row, p] += repay_usd
    # --- round: settle: debt with no collateral left is bad debt ---
    for k in range(L.col_start[i], L.col_start[i + 1]):
        if L.col_units[k] > 0.0:
            return
    written = 0.0
    for k in range(L.debt_start[i], L.debt_start[i + 1]):
        if L.debt_units[k] > 0.0:
            a = L.debt_asset[k]
            written += L.debt_units[k] * X.oracle[p, a]
            O_.written_off_units[p, a] += L.debt_units[k]
            L.debt_units[k] = 0.0
    O_.bad_debt_usd[p] += written
    O_.closed_positions[p] += 1
    L.status[i] = POS_CLOSED


@njit(cache=True, error_model="numpy")
def lending_round(L, Pr, A, V, B, PS, X, O_, trace_row, eps):
    """One lending round over every open position.

    Measures each protocol's shortfall at the round-start oracle and liquidates every eligible
    position once (Jacobi: decisions use round-start state only; each position is touched
    once, so updating it in place is equivalent). Liquidators decline unprofitable
    liquidations; with limited capital the most profitable go first (second pass).
    """
    X.cand_count[0] = 0
    for i in range(L.protocol.shape[0]):
        if L.status[i] != POS_OPEN:
            continue
        p = L.protocol[i]
        # --- round: value the position at the protocol's oracle ---
        debt_value, j_star, col_value, col_adj, i_star = _value_position(L, Pr, X, i, p)
        if j_star < 0:
            continue  # no debt: a pure supplier is never liquidated
        if debt_value > col_value:
            X.shortfall[p] += debt_value - col_value
        # --- round: find eligible positions (HF < 1) ---
        hf = col_adj / debt_value
        if hf >= 1.0 or i_star < 0:
            continue
        if PS.paused[p] == 1:  # circuit breaker: the liquidation waits
            X.deferred_n[p] += 1
            X.deferred_usd[p] += debt_value
            continue
        # --- round: liquidate: largest debt j*, largest collateral i*, close factor ---
        a_col = L.col_asset[i_star]
        p_col = X.oracle[p, a_col]
        p_debt = X.oracle[p, L.debt_asset[j_star]]
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
        # --- round: liquidators: profitable at the current market, within their capital ---
        profit = 0.0
        if Pr.min_profit[p] > -np.inf:
            profit = asset_sell_quote(A, V, B, a_col, seize, eps) - repay_usd
            if profit < Pr.min_profit[p]:
                O_.skipped_unprofitable[p] += 1
                continue
        if Pr.capital[p] < np.inf:
            c = X.cand_count[0]
            X.cand_pos[c] = i
            X.cand_j[c] = j_star
            X.cand_k[c] = i_star
            X.cand_repay_units[c] = repay_units
            X.cand_seize[c] = seize
            X.cand_repay_usd[c] = repay_usd
            X.cand_profit[c] = profit
            X.cand_count[0] = c + 1
            continue
        _liquidate(L, X, O_, trace_row, i, p, j_star, i_star, repay_units, seize, repay_usd)
    if X.cand_count[0] > 0:
        _liquidate_within_capital(L, Pr, X, O_, trace_row)


@njit(cache=True, error_model="numpy")
def _liquidate_within_capital(L, Pr, X, O_, trace_row):
    """Liquidators with limited capital take the most profitable liquidations first (ties:
    account name), the last one partly; the rest are skipped this round."""
    n = X.cand_count[0]
    rank = np.empty(n, dtype=np.int64)
    neg_profit = np.empty(n)
    proto = np.empty(n, dtype=np.int64)
    for c in range(n):
        rank[c] = L.rank[X.cand_pos[c]]
        neg_profit[c] = -X.cand_profit[c]
        proto[c] = L.protocol[X.cand_pos[c]]
    order = np.argsort(rank, kind="mergesort")
    order = order[np.argsort(neg_profit[order], kind="mergesort")]
    order = order[np.argsort(proto[order], kind="mergesort")]
    budget = np.empty(Pr.capital.shape[0])
    for p in range(budget.shape[0]):
        budget[p] = Pr.capital[p]
    for c in order:
        i = X.cand_pos[c]
        p = L.protocol[i]
        repay = X.cand_repay_usd[c]
        if budget[p] <= 0.0:
            O_.skipped_capital[p] += 1
            continue
        scale = 1.0 if repay <= budget[p] else budget[p] / repay
        budget[p] -= repay * scale
        _liquidate(
            L,
            X,
            O_,
            trace_row,
            i,
            p,
            X.cand_j[c],
            X.cand_k[c],
            X.cand_repay_units[c] * scale,
            X.cand_seize[c] * scale,
            repay * scale,
        )


# ---------------------------------------------------------------------------------------------
# CDP vaults (MODEL.md §3 cdp): whole-vault auctions, zero-bid auctions under stress
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _vault_value(C, X, i, p):
    """(collateral value, the largest dynamic-risk adjustment over its legs; 0 without legs)."""
    col = 0.0
    adj = 0.0
    first = True
    for k in range(C.col_start[i], C.col_start[i + 1]):
        if C.col_units[k] > 0.0:
            a = C.col_asset[k]
            col += C.col_units[k] * X.oracle[p, a]
            adj = X.adj[p, a] if first else max(adj, X.adj[p, a])
            first = False
    return col, adj


@njit(cache=True, error_model="numpy")
def cdp_shortfall(C, X):
    for i in range(C.protocol.shape[0]):
        if C.status[i] == POS_CLOSED or C.debt[i] <= 0.0:
            continue
        p = C.protocol[i]
        debt_value = C.debt[i] * X.par[p]
        col, _ = _vault_value(C, X, i, p)
        if debt_value > col:
            X.shortfall[p] += debt_value - col


@njit(cache=True, error_model="numpy")
def cdp_round(C, Pr, A, V, B, PS, X, O_, trace_row, eps):
    """Start auctions of vaults below the liquidation ratio; send this round's lots to market
    (or, when the market is too stressed for bidders, to keepers at a discount)."""
    n = C.protocol.shape[0]
    if n == 0:
        return
    X.lot[:, :] = 0.0
    X.stressed[:, :] = 0
    any_auction = False
    # --- round: value vaults; start auctions below the liquidation ratio ---
    for i in range(n):
        if C.status[i] == POS_CLOSED:
            continue
        p = C.protocol[i]
        s_price = X.par[p]
        debt_value = C.debt[i] * s_price
        col, adj = _vault_value(C, X, i, p)
        if debt_value > col:
            X.shortfall[p] += debt_value - col
        if C.status[i] == POS_OPEN:
            if C.debt[i] <= 0.0 or col >= Pr.liq_ratio[p] * (1.0 + adj) * debt_value:
                continue
            if PS.paused[p] == 1:  # circuit breaker: no new auction this step
                X.deferred_n[p] += 1
                X.deferred_usd[p] += debt_value
                continue
            C.status[i] = POS_AUCTION
            C.tab[i] = C.debt[i] * (1.0 + Pr.penalty[p])
            C.tab0[i] = C.tab[i]
            X.acted[p] = 1
            O_.auctions[p] += 1
            O_.liquidations[p] += 1
            if trace_row >= 0:
                O_.trace_liquidations[trace_row, p] += 1
        # --- round: the lot: collateral worth the remaining tab at the oracle, pro rata ---
        if col <= 0.0:
            continue
        frac = min(1.0, C.tab[i] * s_price / col)
        for k in range(C.col_start[i], C.col_start[i + 1]):
            if C.col_units[k] > 0.0:
                X.lot[p, C.col_asset[k]] += frac * C.col_units[k]
        any_auction = True
    if not any_auction:
        return
    # --- round: auction stress: bidders vanish when the lot would move the market too much ---
    for p in range(X.lot.shape[0]):
        for a in range(X.lot.shape[1]):
            lot = X.lot[p, a]
            if lot <= 0.0:
                continue  # an asset without a market quotes at its price: never stressed
            quote = asset_sell_quote(A, V, B, a, lot, eps)
            if 1.0 - quote / (lot * A.price[a]) > Pr.auction_max_slippage[p]:
                X.stressed[p, a] = 1
    # --- round: auction the lots ---
    for i in range(n):
        if C.status[i] != POS_AUCTION:
            continue
        p = C.protocol[i]
        col, _ = _vault_value(C, X, i, p)
        if col <= 0.0:
            continue
        frac = min(1.0, C.tab[i] * X.par[p] / col)
        zero_bid = False
        for k in range(C.col_start[i], C.col_start[i + 1]):
            c = C.col_units[k]
            if c <= 0.0:
                continue
            a = C.col_asset[k]
            if X.stressed[p, a] == 1:
                # keepers win the lot for (1 - discount) of its value: 12 March 2020
                disc = Pr.auction_discount[p]
                units = c if disc >= 1.0 else min(1.0, frac / (1.0 - disc)) * c
                C.raised[i] += units * X.oracle[p, a] * (1.0 - disc)
                C.col_units[k] -= units
                O_.seized_units[p, a] += units
                O_.seized_usd[p] += units * X.oracle[p, a]
                O_.zero_bid_usd[p] += units * X.oracle[p, a]
                zero_bid = True
            else:
                units = frac * c
                C.col_pending[k] = units
                _add(X.sell, X.sell_c, a, units)
                X.orders[p, a] += units
        if zero_bid:
            O_.zero_bid_auctions[p] += 1
            X.acted[p] = 1
        # a lot sent to market counts as action once something of it fills (cdp_settle): an
        # exhausted market must not keep the round loop going


@njit(cache=True, error_model="numpy")
def cdp_settle(C, Pr, X, O_, trace_row):
    """Credit what the auctions raised: debt first, then the penalty (income); close vaults
    whose tab is raised (the rest of the collateral goes back to the owner) or whose
    collateral is gone (the unraised debt is bad debt)."""
    for i in range(C.protocol.shape[0]):
        if C.status[i] != POS_AUCTION:
            continue
        p = C.protocol[i]
        s = Pr.stablecoin[p]
        s_price = X.par[p]
        for k in range(C.col_start[i], C.col_start[i + 1]):
            q = C.col_pending[k]
            if q > 0.0:
                a = C.col_asset[k]
                filled = q * X.sell_fill[a]
                if filled > 0.0:
                    X.acted[p] = 1
                C.raised[i] += filled * X.sell_avg[a]
                C.col_units[k] -= filled
                O_.seized_units[p, a] += filled
                O_.seized_usd[p] += filled * X.oracle[p, a]
                O_.proceeds_usd[p] += filled * X.sell_avg[a]
                C.col_pending[k] = 0.0
        O_.auction_raised_usd[p] += C.raised[i]
        raised_units = C.raised[i] / s_price
        C.raised[i] = 0.0
        used = min(raised_units, C.tab[i])
        repay = min(used, C.debt[i])
        C.debt[i] -= repay
        C.tab[i] -= used
        O_.returned_usd[p] += (raised_units - used) * s_price
        O_.repaid_units[p, s] += repay
        O_.repaid_usd[p] += repay * s_price
        O_.liquidated_usd[p] += repay * s_price
        O_.income_usd[p] += (used - repay) * s_price
        if trace_row >= 0:
            O_.trace_repaid_usd[trace_row, p] += repay * s_price
        if C.tab[i] <= AUCTION_DUST * C.tab0[i]:  # raised, but for dust (waived)
            C.tab[i] = 0.0
            if C.debt[i] > 0.0:  # rounding: the debt is covered when the tab is
                O_.repaid_units[p, s] += C.debt[i]
                C.debt[i] = 0.0
            C.status[i] = POS_CLOSED
            continue
        empty = True
        for k in range(C.col_start[i], C.col_start[i + 1]):
            if C.col_units[k] > 0.0:
                empty = False
                break
        if empty:
            O_.bad_debt_usd[p] += C.debt[i] * s_price
            O_.written_off_units[p, s] += C.debt[i]
            O_.closed_positions[p] += 1
            C.debt[i] = 0.0
            C.tab[i] = 0.0
            C.status[i] = POS_CLOSED


# ---------------------------------------------------------------------------------------------
# Perpetual futures (MODEL.md §3 perp): close at market, insurance fund, auto-deleveraging
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def perp_shortfall(Pp, X):
    for i in range(Pp.protocol.shape[0]):
        if Pp.status[i] != POS_OPEN:
            continue
        p = Pp.protocol[i]
        equity = Pp.margin[i] + Pp.size[i] * (X.oracle[p, Pp.asset[i]] - Pp.entry[i])
        if equity < 0.0:
            X.shortfall[p] -= equity


@njit(cache=True, error_model="numpy")
def perp_round(Pp, Pr, PS, X, O_, trace_row):
    """Close every position whose equity is below maintenance margin: longs sell, shorts buy."""
    for i in range(Pp.protocol.shape[0]):
        if Pp.status[i] != POS_OPEN:
            continue
        p = Pp.protocol[i]
        a = Pp.asset[i]
        o = X.oracle[p, a]
        size = Pp.size[i]
        equity = Pp.margin[i] + size * (o - Pp.entry[i])
        if equity < 0.0:
            X.shortfall[p] -= equity
        if equity >= Pr.maintenance[p] * (1.0 + X.adj[p, a]) * abs(size) * o:
            continue
        if PS.paused[p] == 1:  # circuit breaker: the close waits
            X.deferred_n[p] += 1
            X.deferred_usd[p] += abs(size) * o
            continue
        # --- round: close at market: longs sell, shorts buy ---
        Pp.pending[i] = size
        Pp.status[i] = POS_CLOSED
        if size > 0.0:
            _add(X.sell, X.sell_c, a, size)
        else:
            _add(X.buy, X.buy_c, a, -size)
        X.orders[p, a] += size
        X.acted[p] = 1
        O_.liquidations[p] += 1
        if trace_row >= 0:
            O_.trace_liquidations[trace_row, p] += 1


@njit(cache=True, error_model="numpy")
def perp_settle(Pp, Pr, X, O_):
    """Realise closed positions at the batch price; fees to the fund; deficits pooled by
    [protocol, asset, side] (side 0: a bankrupt long, 1: a bankrupt short)."""
    X.deficit[:, :, :] = 0.0
    any_deficit = False
    for i in range(Pp.protocol.shape[0]):
        size = Pp.pending[i]
        if size == 0.0:
            continue
        p = Pp.protocol[i]
        a = Pp.asset[i]
        o = X.oracle[p, a]
        if size > 0.0:
            px = X.sell_avg[a] if X.sell_fill[a] > 0.0 else o
        else:
            px = X.buy_avg[a] if X.buy_fill[a] > 0.0 else o
        equity = Pp.margin[i] + size * (px - Pp.entry[i])
        fee = min(Pr.liq_fee[p] * abs(size) * o, max(0.0, equity))
        O_.income_usd[p] += fee
        rest = equity - fee
        Pp.realized[i] = max(0.0, rest)
        if rest < 0.0:
            X.deficit[p, a, 0 if size > 0.0 else 1] -= rest
            O_.deficit_usd[p] -= rest
            any_deficit = True
        O_.liquidated_usd[p] += abs(size) * px
        Pp.pending[i] = 0.0
    if any_deficit:
        perp_cover_deficits(Pp, Pr, X, O_)


@njit(cache=True, error_model="numpy")
def perp_cover_deficits(Pp, Pr, X, O_):
    """Deficits are paid by the insurance fund (reserve + fees - losses so far); what the fund
    cannot pay is auto-deleveraged pro rata from the unrealised profit of open opposite
    positions; what they cannot cover either is bad debt. Nothing is dropped."""
    deficit = X.deficit
    n_p, n_a = deficit.shape[0], deficit.shape[1]
    need = np.zeros((n_p, n_a, 2))
    any_need = False
    for p in range(n_p):
        total = 0.0
        for a in range(n_a):
            total += deficit[p, a, 0] + deficit[p, a, 1]
        if total <= 0.0:
            continue
        fund = max(0.0, Pr.reserve[p] + O_.income_usd[p] - O_.bad_debt_usd[p])
        cover = min(total, fund)
        O_.bad_debt_usd[p] += cover
        rest = total - cover
        if rest <= 0.0:
            continue
        for a in range(n_a):
            for side in range(2):
                need[p, a, side] = rest * deficit[p, a, side] / total
                if need[p, a, side] > 0.0:
                    any_need = True
    if not any_need:
        return
    # --- round: auto-deleveraging: winners' unrealised PnL per pool ---
    pnl = np.zeros((n_p, n_a, 2))  # indexed by the side of the bankrupt they cover
    for i in range(Pp.protocol.shape[0]):
        if Pp.status[i] != POS_OPEN:
            continue
        p = Pp.protocol[i]
        a = Pp.asset[i]
        u = Pp.size[i] * (X.oracle[p, a] - Pp.entry[i])
        if u > 0.0:
            pnl[p, a, 1 if Pp.size[i] > 0.0 else 0] += u
    ratio = np.zeros((n_p, n_a, 2))
    for p in range(n_p):
        for a in range(n_a):
            for side in range(2):
                if need[p, a, side] <= 0.0:
                    continue
                cut = min(need[p, a, side], pnl[p, a, side])
                if cut > 0.0:
                    ratio[p, a, side] = cut / pnl[p, a, side]
                    O_.adl_usd[p] += cut
                O_.bad_debt_usd[p] += need[p, a, side] - cut
    for i in range(Pp.protocol.shape[0]):
        if Pp.status[i] != POS_OPEN:
            continue
        p = Pp.protocol[i]
        a = Pp.asset[i]
        u = Pp.size[i] * (X.oracle[p, a] - Pp.entry[i])
        if u > 0.0:
            r = ratio[p, a, 1 if Pp.size[i] > 0.0 else 0]
            if r > 0.0:
                # the cut is taken from the unrealised profit: the entry moves toward the mark
                Pp.entry[i] += u * r / Pp.size[i]
                Pp.adl_cut[i] += u * r


# ---------------------------------------------------------------------------------------------
# Leveraged vaults (MODEL.md §3 leveraged): deleverage to target, wind down at equity <= 0
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _holdings_value(Lv, X, i, p):
    h = 0.0
    for k in range(Lv.hold_start[i], Lv.hold_start[i + 1]):
        if Lv.hold_units[k] > 0.0:
            h += Lv.hold_units[k] * X.oracle[p, Lv.hold_asset[k]]
    return h


@njit(cache=True, error_model="numpy")
def lev_shortfall(Lv, X):
    for i in range(Lv.protocol.shape[0]):
        if Lv.status[i] != POS_OPEN:
            continue
        p = Lv.protocol[i]
        h = _holdings_value(Lv, X, i, p)
        if Lv.debt[i] > h:
            X.shortfall[p] += Lv.debt[i] - h


@njit(cache=True, error_model="numpy")
def _lev_write_off(Lv, Pr, X, O_, i, p):
    """Close vault ``i`` with its debt unpaid: bad debt, and its lender's credit loss."""
    d = Lv.debt[i]
    O_.bad_debt_usd[p] += d
    O_.closed_positions[p] += 1
    lender = Pr.lender[p]
    if lender >= 0 and d > 0.0:
        O_.credit_losses_usd[lender] += d
        X.credit_now[p] = 1
    Lv.debt[i] = 0.0
    Lv.status[i] = POS_CLOSED


@njit(cache=True, error_model="numpy")
def lev_round(Lv, Pr, X, O_, trace_row):
    """Sell holdings pro rata back to the target leverage when above the maximum; sell
    everything when equity <= 0."""
    for i in range(Lv.protocol.shape[0]):
        if Lv.status[i] != POS_OPEN:
            continue
        p = Lv.protocol[i]
        h = _holdings_value(Lv, X, i, p)
        d = Lv.debt[i]
        if d > h:
            X.shortfall[p] += d - h
        if d <= 0.0:
            continue  # unlevered: nothing to do
        e = h - d
        if e > 0.0 and h <= Pr.max_leverage[p] * e:
            continue
        if h <= 0.0:  # nothing left to sell: the debt is lost
            _lev_write_off(Lv, Pr, X, O_, i, p)
            X.acted[p] = 1
            continue
        # --- round: deleverage: sell X = H - target x E pro rata (everything when E <= 0) ---
        frac = 1.0 if e <= 0.0 else min(1.0, max(0.0, (h - Pr.target_leverage[p] * e) / h))
        for k in range(Lv.hold_start[i], Lv.hold_start[i + 1]):
            units = frac * Lv.hold_units[k]
            if units > 0.0:
                a = Lv.hold_asset[k]
                Lv.hold_pending[k] = units
                _add(X.sell, X.sell_c, a, units)
                X.orders[p, a] += units
        O_.liquidations[p] += 1
        if trace_row >= 0:
            O_.trace_liquidations[trace_row, p] += 1


@njit(cache=True, error_model="numpy")
def lev_settle(Lv, Pr, X, O_, trace_row):
    """Repay debt with the sale proceeds; a vault with debt and no holdings left is closed and
    its unpaid debt is a loss (bad debt; a credit loss of its lender when that is a protocol
    of the scenario)."""
    for i in range(Lv.protocol.shape[0]):
        if Lv.status[i] != POS_OPEN:
            continue
        p = Lv.protocol[i]
        proceeds = 0.0
        sold = False
        for k in range(Lv.hold_start[i], Lv.hold_start[i + 1]):
            q = Lv.hold_pending[k]
            if q > 0.0:
                a = Lv.hold_asset[k]
                filled = q * X.sell_fill[a]
                if filled > 0.0:
                    X.acted[p] = 1
                proceeds += filled * X.sell_avg[a]
                Lv.hold_units[k] -= filled
                O_.seized_units[p, a] += filled
                O_.seized_usd[p] += filled * X.oracle[p, a]
                Lv.hold_pending[k] = 0.0
                sold = True
        if not sold:
            continue
        repay = min(proceeds, Lv.debt[i])
        Lv.debt[i] -= repay
        O_.repaid_usd[p] += repay
        O_.liquidated_usd[p] += proceeds
        O_.sales_usd[p] += proceeds
        O_.proceeds_usd[p] += proceeds
        if trace_row >= 0:
            O_.trace_repaid_usd[trace_row, p] += repay
        if Lv.debt[i] > 0.0 and _holdings_value(Lv, X, i, p) <= 0.0:
            _lev_write_off(Lv, Pr, X, O_, i, p)


# ---------------------------------------------------------------------------------------------
# Options vaults (MODEL.md §3 options): delta hedging with Black–Scholes deltas
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def opt_round(Op, Pr, PS, X, trade):
    """Mark the written book to market (its loss is the vault's shortfall) and, when ``trade``,
    re-hedge every (vault, underlying) whose hedge is off target beyond the rebalance band."""
    n = Op.protocol.shape[0]
    if n == 0:
        return
    X.opt_target[:, :] = 0.0
    X.opt_units[:, :] = 0.0
    X.opt_value[:] = 0.0
    for i in range(n):
        p = Op.protocol[i]
        a = Op.asset[i]
        delta, value = bs_delta_value(
            Op.kind[i], X.oracle[p, a], Op.strike[i], Op.tau[i], Op.vol[i], Pr.rate[p]
        )
        # the vault is short the option: hedging it means holding +delta units
        X.opt_target[p, a] += Op.units[i] * delta
        X.opt_units[p, a] += Op.units[i]
        X.opt_value[p] += Op.units[i] * value
    for p in range(X.opt_target.shape[0]):
        if Pr.kind[p] != PROTO_OPTIONS:
            continue
        # --- round: mark to market: hedge P&L minus the change of the written book's value ---
        equity = PS.hedge_cash[p] - X.opt_value[p] + PS.liability0[p]
        for a in range(X.opt_target.shape[1]):
            equity += PS.hedge[p, a] * X.oracle[p, a]
        if equity < 0.0:
            X.shortfall[p] -= equity
        if not trade:
            continue
        # --- round: re-hedge beyond the band ---
        for a in range(X.opt_target.shape[1]):
            if X.opt_units[p, a] <= 0.0:
                continue
            d = X.opt_target[p, a] - PS.hedge[p, a]
            if abs(d) <= Pr.band[p] * X.opt_units[p, a]:
                continue
            X.hedge_pending[p, a] = d
            if d > 0.0:
                _add(X.buy, X.buy_c, a, d)
            else:
                _add(X.sell, X.sell_c, a, -d)
            X.orders[p, a] -= d


@njit(cache=True, error_model="numpy")
def opt_settle(PS, X, O_):
    for p in range(X.hedge_pending.shape[0]):
        for a in range(X.hedge_pending.shape[1]):
            d = X.hedge_pending[p, a]
            if d == 0.0:
                continue
            if d > 0.0:
                filled = d * X.buy_fill[a]
                PS.hedge[p, a] += filled
                PS.hedge_cash[p] -= filled * X.buy_avg[a]
            else:
                filled = -d * X.sell_fill[a]
                PS.hedge[p, a] -= filled
                PS.hedge_cash[p] += filled * X.sell_avg[a]
            O_.hedge_units[p] += filled
            if filled > 0.0:
                X.acted[p] = 1  # an order the market cannot take is not a hedge
            X.hedge_pending[p, a] = 0.0


# ---------------------------------------------------------------------------------------------
# Batch execution (MODEL.md §1): one order per asset; pegged assets through their ratio
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _ratio(A, V, a):
    """A pegged asset's ratio: its ratio market's price, or the fixed ratio."""
    if A.venue_count[a] > 0:
        return V.price[A.venue_start[a]]
    return A.peg_ratio[a]


@njit(cache=True, error_model="numpy")
def _execute(A, V, B, X, O_, trace_row, eps):
    """Execute the round's orders. Sells and buys of an asset cross at the round-start price;
    only the net goes to the market. A pegged asset's net goes through its ratio market (or
    converts at its ratio), and the units of its peg target it yields (or costs) join that
    asset's batch. Fills per side: ``X.sell_fill`` (share of units ordered) and ``X.sell_avg``
    (USD per filled unit); the same for buys."""
    n_a = A.price.shape[0]
    n_p = X.flow.shape[0]
    X.moved_now[:, :] = 0
    for a in range(n_a):
        X.price_before[a] = A.price[a]
        X.sell_fill[a] = 0.0
        X.buy_fill[a] = 0.0
        X.sell_avg[a] = 0.0
        X.buy_avg[a] = 0.0
        X.routed[a] = 0.0
        for p in range(n_p):
            X.flow[p, a] = X.orders[p, a]
    # --- execution: pegged assets first (their net becomes flow in the peg target) ---
    for a in range(n_a):
        if A.kind[a] != ASSET_PEGGED:
            continue
        s_units = X.sell[a] + X.sell_c[a]
        b_units = X.buy[a] + X.buy_c[a]
        if s_units <= 0.0 and b_units <= 0.0:
            continue
        to = A.peg_to[a]
        r0 = _ratio(A, V, a)
        crossed = min(s_units, b_units)
        net = s_units - b_units
        X.crossed[a] = crossed
        X.filled_s[a] = crossed
        X.filled_b[a] = crossed
        has_market = A.venue_count[a] > 0
        v = A.venue_start[a]
        if net > 0.0:
            if has_market:
                got, filled = venue_sell(V, B, v, net, eps)
                O_.slippage_usd[a] += (filled * r0 - got) * A.price[to]
                O_.unfilled_units[a] += net - filled
            else:
                got, filled = net * r0, net
            X.filled_s[a] += filled
            X.routed[a] = got
            if A.peg_route[a] == 1:
                _add(X.sell, X.sell_c, to, got)
                for p in range(n_p):
                    if X.orders[p, a] > 0.0:
                        X.flow[p, to] += got * X.orders[p, a] / s_units
        elif net < 0.0:
            if has_market:
                cost, filled = venue_buy(V, B, v, -net, eps)
                O_.slippage_usd[a] += (cost - filled * r0) * A.price[to]
                O_.unfilled_units[a] += -net - filled
            else:
                cost, filled = -net * r0, -net
            X.filled_b[a] += filled
            X.routed[a] = -cost
            if A.peg_route[a] == 1:
                _add(X.buy, X.buy_c, to, cost)
                for p in range(n_p):
                    if X.orders[p, a] < 0.0:
                        X.flow[p, to] -= cost * (-X.orders[p, a]) / b_units
        O_.sold_units[a] += s_units
        O_.bought_units[a] += b_units
        O_.traded_notional_usd[a] += (s_units + b_units) * A.price[a]
        if has_market and V.price[v] != r0 and net != 0.0:
            for p in range(n_p):
                if X.orders[p, a] * net > 0.0:
                    X.moved_now[p, a] = 1
        if trace_row >= 0:
            O_.trace_net_units[trace_row, a] = net
    # --- execution: every asset that is not pegged ---
    for a in range(n_a):
        if A.kind[a] == ASSET_PEGGED:
            continue
        s_units = X.sell[a] + X.sell_c[a]
        b_units = X.buy[a] + X.buy_c[a]
        if s_units <= 0.0 and b_units <= 0.0:
            continue
        p0 = A.price[a]
        crossed = min(s_units, b_units)
        net = s_units - b_units
        s_filled = crossed
        b_filled = crossed
        proceeds = crossed * p0
        cost = crossed * p0
        if A.kind[a] == ASSET_MARKET:
            v = A.venue_start[a]
            if net > 0.0:
                got, filled = venue_sell(V, B, v, net, eps)
                proceeds += got
                s_filled += filled
                O_.slippage_usd[a] += filled * p0 - got
                O_.unfilled_units[a] += net - filled
            elif net < 0.0:
                paid, filled = venue_buy(V, B, v, -net, eps)
                cost += paid
                b_filled += filled
                O_.slippage_usd[a] += paid - filled * p0
                O_.unfilled_units[a] += -net - filled
            A.price[a] = V.price[v]  # one venue per asset: its price is the asset's
        else:
            # no market: the counterparty is the numeraire itself, at the price
            proceeds += max(net, 0.0) * p0
            cost += max(-net, 0.0) * p0
            s_filled = s_units
            b_filled = b_units
        if s_units > 0.0:
            X.sell_fill[a] = s_filled / s_units
            X.sell_avg[a] = proceeds / s_filled if s_filled > 0.0 else p0
        if b_units > 0.0:
            X.buy_fill[a] = b_filled / b_units
            X.buy_avg[a] = cost / b_filled if b_filled > 0.0 else p0
        O_.sold_units[a] += s_units
        O_.bought_units[a] += b_units
        O_.sale_proceeds_usd[a] += proceeds
        O_.purchase_cost_usd[a] += cost
        O_.traded_notional_usd[a] += (s_units + b_units) * p0
        if A.price[a] != p0 and net != 0.0:
            for p in range(n_p):
                if X.flow[p, a] * net > 0.0:
                    X.moved_now[p, a] = 1
        if trace_row >= 0:
            O_.trace_net_units[trace_row, a] = net
    # --- execution: what a pegged asset's sellers got, buyers paid, in USD ---
    for a in range(n_a):
        if A.kind[a] != ASSET_PEGGED:
            continue
        s_units = X.sell[a] + X.sell_c[a]
        b_units = X.buy[a] + X.buy_c[a]
        if s_units <= 0.0 and b_units <= 0.0:
            continue
        to = A.peg_to[a]
        p0 = X.price_before[a]
        usd_s = X.crossed[a] * p0
        usd_b = X.crossed[a] * p0
        if A.peg_route[a] == 0:  # sellers keep the units of the target: worth its price
            usd_s += max(X.routed[a], 0.0) * X.price_before[to]
            usd_b += max(-X.routed[a], 0.0) * X.price_before[to]
        elif X.routed[a] > 0.0:
            usd_s += X.routed[a] * X.sell_fill[to] * X.sell_avg[to]
        elif X.routed[a] < 0.0:
            usd_b += -X.routed[a] * X.buy_avg[to]
        if s_units > 0.0:
            X.sell_fill[a] = X.filled_s[a] / s_units
            X.sell_avg[a] = usd_s / X.filled_s[a] if X.filled_s[a] > 0.0 else p0
        if b_units > 0.0:
            X.buy_fill[a] = X.filled_b[a] / b_units
            X.buy_avg[a] = usd_b / X.filled_b[a] if X.filled_b[a] > 0.0 else p0
        O_.sale_proceeds_usd[a] += usd_s if s_units > 0.0 else 0.0
        O_.purchase_cost_usd[a] += usd_b if b_units > 0.0 else 0.0
    _update_pegged(A, V)


@njit(cache=True, error_model="numpy")
def _update_pegged(A, V):
    """Pegged assets: ratio x the price of the asset they are pegged to."""
    for a in range(A.price.shape[0]):
        if A.kind[a] == ASSET_PEGGED:
            A.price[a] = _ratio(A, V, a) * A.price[A.peg_to[a]]


@njit(cache=True, error_model="numpy")
def _update_issued(A, PS, eps):
    """Issued tokens: backing price x (1 - the issuer's haircut)."""
    for a in range(A.price.shape[0]):
        if A.kind[a] != ASSET_ISSUED:
            continue
        base = 1.0 if A.backing[a] < 0 else A.price[A.backing[a]]
        A.price[a] = max(base * (1.0 - PS.haircut[A.issuer[a]]), base * eps)


@njit(cache=True, error_model="numpy")
def _update_haircuts(Pr, PS, bad, credit, income, shortfall, changed):
    """Haircut = uncovered loss / liabilities; the uncovered loss is bad debt + credit losses +
    shortfall - reserve - income."""
    for p in range(Pr.kind.shape[0]):
        uncovered = bad[p] + credit[p] + shortfall[p] - Pr.reserve[p] - income[p]
        if uncovered <= 0.0:
            h = 0.0
        elif Pr.liabilities[p] <= 0.0:
            h = 1.0
        else:
            h = min(1.0, uncovered / Pr.liabilities[p])
        changed[p] = 0
        if h != PS.haircut[p]:
            PS.haircut[p] = h
            changed[p] = 1


# ---------------------------------------------------------------------------------------------
# Steps: recovery, shocks; oracles, circuit breakers, dynamic risk
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def _apply_recovery(A, V, B, X, f):
    """Between steps: a fraction ``f`` of each market's endogenous impact reverts."""
    for a in range(A.price.shape[0]):
        if A.venue_count[a] == 0:
            continue
        v = A.venue_start[a]
        if A.kind[a] == ASSET_PEGGED:
            target = V.price[v] + f * (X.shocked_ratio[a] - V.price[v])
        else:
            target = A.price[a] + f * (X.shocked[a] - A.price[a])
            A.price[a] = target
        venue_recenter(V, B, v, target, 1.0)


@njit(cache=True, error_model="numpy")
def _apply_shock(A, V, B, PS, X, path, t, eps):
    """Start of step ``t``: apply the exogenous returns and liquidity multipliers. A return on
    a pegged asset moves its ratio (a depeg); derived prices follow their parents."""
    for a in range(A.price.shape[0]):
        kind = A.kind[a]
        if kind == ASSET_ISSUED:
            continue
        r = path.returns[t, a]
        m = path.liquidity[t, a]
        if kind == ASSET_PEGGED:
            X.shocked_ratio[a] *= 1.0 + r
            if A.venue_count[a] > 0:
                v = A.venue_start[a]
                venue_recenter(V, B, v, V.price[v] * (1.0 + r), m)
            else:
                A.peg_ratio[a] *= 1.0 + r
            continue
        X.shocked[a] *= 1.0 + r
        new_price = A.price[a] * (1.0 + r)
        if kind == ASSET_MARKET:
            v = A.venue_start[a]
            venue_recenter(V, B, v, new_price, m)
            new_price = V.price[v]
        A.price[a] = new_price
    for a in range(A.price.shape[0]):
        if A.kind[a] == ASSET_PEGGED:
            X.shocked[a] = X.shocked_ratio[a] * X.shocked[A.peg_to[a]]
    for a in range(A.price.shape[0]):
        if A.kind[a] == ASSET_ISSUED:
            X.shocked[a] = 1.0 if A.backing[a] < 0 else X.shocked[A.backing[a]]
    _update_pegged(A, V)
    _update_issued(A, PS, eps)


@njit(cache=True, error_model="numpy")
def _push_history(A, X):
    """Record the round-start prices (lagged and twap oracles read them)."""
    h = X.hist.shape[0]
    c = X.hist_count[0]
    for a in range(A.price.shape[0]):
        X.hist[c % h, a] = A.price[a]
    X.hist_count[0] = c + 1


@njit(cache=True, error_model="numpy")
def _set_oracles(A, Pr, X, t, out, market):
    """Every protocol's oracle prices into ``out`` [P, A]: spot, lagged by rounds or steps,
    a twap over rounds, or the exogenous path only; then the feed's floor. With ``market``
    every protocol reads the market price itself (marking to market)."""
    h = X.hist.shape[0]
    c = X.hist_count[0]
    for p in range(out.shape[0]):
        if market:
            for a in range(out.shape[1]):
                out[p, a] = A.price[a]
            continue
        kind = Pr.oracle_kind[p]
        n = Pr.oracle_n[p]
        for a in range(out.shape[1]):
            if kind == ORACLE_SPOT:
                o = A.price[a]
            elif kind == ORACLE_LAG_ROUNDS:
                o = X.hist[max(0, c - 1 - n) % h, a]
            elif kind == ORACLE_LAG_STEPS:
                o = X.step_end[max(0, t - n + 1), a]
            elif kind == ORACLE_TWAP:
                m = min(n, c)
                total = 0.0
                for j in range(m):
                    total += X.hist[(c - 1 - j) % h, a]
                o = total / m if m > 0 else A.price[a]
            else:  # ORACLE_EXTERNAL
                o = X.shocked[a]
            if Pr.oracle_floor[p, a] > 0.0:
                o = max(o, Pr.oracle_floor[p, a])
            out[p, a] = o


@njit(cache=True, error_model="numpy")
def _oracles_moving(A, Pr, X, tol):
    """Will a round-based oracle (lagged by rounds, twap) still change if prices stay where
    they are? It will while its window holds a price other than today's: then a round without
    action is not the fixed point yet - the feed has to catch up first."""
    h = X.hist.shape[0]
    c = X.hist_count[0]
    for p in range(Pr.kind.shape[0]):
        kind = Pr.oracle_kind[p]
        if kind != ORACLE_LAG_ROUNDS and kind != ORACLE_TWAP:
            continue
        # the entries a lag of n will still read, or a twap window of n still averages
        first = (
            max(0, c - 1 - Pr.oracle_n[p])
            if kind == ORACLE_LAG_ROUNDS
            else max(0, c - Pr.oracle_n[p])
        )
        for a in range(A.price.shape[0]):
            if Pr.uses[p, a] == 0:
                continue
            now = max(A.price[a], Pr.oracle_floor[p, a])
            for k in range(first, c):
                seen = max(X.hist[k % h, a], Pr.oracle_floor[p, a])
                if abs(seen - now) > tol * now:
                    return True
    return False


@njit(cache=True, error_model="numpy")
def _check_breakers(Pr, PS, X, O_):
    """Trip a protocol's circuit breaker once an oracle price it uses fell more than `drop`
    below its value before the step's shock; it stays tripped for the rest of the step."""
    for p in range(Pr.kind.shape[0]):
        drop = Pr.breaker_drop[p]
        if drop <= 0.0:
            continue
        if PS.paused[p] == 0:
            for a in range(X.oracle.shape[1]):
                if Pr.uses[p, a] == 1 and X.oracle[p, a] < X.ref_oracle[p, a] * (1.0 - drop):
                    PS.paused[p] = 1
                    break
        if PS.paused[p] == 1:
            O_.paused_rounds[p] += 1


@njit(cache=True, error_model="numpy")
def _dynamic_risk(A, Pr, X):
    """Realised volatility of the step so far (sqrt of the summed squared log returns of
    round-start prices, the shock included) moves risk thresholds:
    adj = clamp(k x (vol - reference_vol), -max_change, +max_change)."""
    for a in range(A.price.shape[0]):
        if X.last_price[a] > 0.0 and A.price[a] > 0.0:
            r = math.log(A.price[a] / X.last_price[a])
            X.vol2[a] += r * r
        X.last_price[a] = A.price[a]
    for p in range(Pr.kind.shape[0]):
        k = Pr.risk_k[p]
        for a in range(A.price.shape[0]):
            if k == 0.0:
                X.adj[p, a] = 0.0
                continue
            adj = k * (math.sqrt(X.vol2[a]) - Pr.risk_ref_vol[p])
            X.adj[p, a] = min(max(adj, -Pr.risk_max[p]), Pr.risk_max[p])


@njit(cache=True, error_model="numpy")
def _set_par(A, Pr, X):
    """A cdp values its own stablecoin at par (the backing's price; Maker's `par` = 1 USD),
    never at its depegged price: the peg is what its liquidation ratio and deficit measure."""
    for p in range(Pr.kind.shape[0]):
        a = Pr.stablecoin[p]
        if a < 0:
            continue
        if A.kind[a] == ASSET_ISSUED:
            X.par[p] = 1.0 if A.backing[a] < 0 else X.oracle[p, A.backing[a]]
        else:
            X.par[p] = X.oracle[p, a]


@njit(cache=True, error_model="numpy")
def _measure_shortfall(A, L, C, Pp, Lv, Op, Pr, PS, X, t, out, market):
    """Every protocol's shortfall at its oracle (or, with ``market``, at market prices) now,
    without acting (into ``out``)."""
    _set_oracles(A, Pr, X, t, X.oracle, market)
    _set_par(A, Pr, X)
    X.shortfall[:] = 0.0
    lending_shortfall(L, Pr, X)
    cdp_shortfall(C, X)
    perp_shortfall(Pp, X)
    lev_shortfall(Lv, X)
    opt_round(Op, Pr, PS, X, False)
    for p in range(out.shape[0]):
        out[p] = X.shortfall[p]


@njit(cache=True, error_model="numpy")
def _new_scratch(n_p, n_a, n_lend, n_t, n_hist):
    """Working arrays of a run (shapes in ``layout.Scratch``)."""
    return Scratch(
        oracle=np.zeros((n_p, n_a)),
        ref_oracle=np.zeros((n_p, n_a)),
        par=np.zeros(n_p),
        adj=np.zeros((n_p, n_a)),
        vol2=np.zeros(n_a),
        last_price=np.zeros(n_a),
        shortfall=np.zeros(n_p),
        acted=np.zeros(n_p, dtype=np.int64),
        sell=np.zeros(n_a),
        sell_c=np.zeros(n_a),
        buy=np.zeros(n_a),
        buy_c=np.zeros(n_a),
        sell_fill=np.zeros(n_a),
        sell_avg=np.zeros(n_a),
        buy_fill=np.zeros(n_a),
        buy_avg=np.zeros(n_a),
        orders=np.zeros((n_p, n_a)),
        flow=np.zeros((n_p, n_a)),
        routed=np.zeros(n_a),
        crossed=np.zeros(n_a),
        filled_s=np.zeros(n_a),
        filled_b=np.zeros(n_a),
        price_before=np.zeros(n_a),
        moved_now=np.zeros((n_p, n_a), dtype=np.int64),
        moved_prev=np.zeros((n_p, n_a), dtype=np.int64),
        credit_now=np.zeros(n_p, dtype=np.int64),
        credit_prev=np.zeros(n_p, dtype=np.int64),
        lot=np.zeros((n_p, n_a)),
        stressed=np.zeros((n_p, n_a), dtype=np.int64),
        deficit=np.zeros((n_p, n_a, 2)),
        hedge_pending=np.zeros((n_p, n_a)),
        opt_target=np.zeros((n_p, n_a)),
        opt_units=np.zeros((n_p, n_a)),
        opt_value=np.zeros(n_p),
        deferred_n=np.zeros(n_p, dtype=np.int64),
        deferred_usd=np.zeros(n_p),
        cand_pos=np.zeros(n_lend, dtype=np.int64),
        cand_j=np.zeros(n_lend, dtype=np.int64),
        cand_k=np.zeros(n_lend, dtype=np.int64),
        cand_repay_units=np.zeros(n_lend),
        cand_seize=np.zeros(n_lend),
        cand_repay_usd=np.zeros(n_lend),
        cand_profit=np.zeros(n_lend),
        cand_count=np.zeros(1, dtype=np.int64),
        hist=np.zeros((n_hist, n_a)),
        hist_count=np.zeros(1, dtype=np.int64),
        step_end=np.zeros((n_t + 1, n_a)),
        shocked=np.zeros(n_a),
        shocked_ratio=np.zeros(n_a),
    )


# ---------------------------------------------------------------------------------------------
# The step loop: exogenous shock, then rounds to the fixed point.
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def run_cascade(A, V, B, L, C, Pp, Lv, Op, Pr, PS, path, prm, O_):
    """Run the whole shock path; returns a STATUS_* code.

    Parameters
    ----------
    A, V, B, L, C, Pp, Lv, Op, Pr, PS, path, prm, O_ : layout named tuples
        Assets, venues, order books, lending, cdp, perp, leveraged and options positions,
        protocol parameters and state, shock path, parameters, preallocated outputs (see
        ``layout.py``). State is mutated in place.

    Notes
    -----
    MODEL.md §1: per step, apply the shock, then repeat Jacobi rounds (oracles, decisions of
    every protocol from round-start state, batch execution per asset with sells and buys
    crossed at the round-start price, settlement, token prices) until no protocol acts and no
    price is left to update, or ``max_rounds`` is reached. Depth and edges follow §5.
    """
    n_a = A.price.shape[0]
    n_p = Pr.kind.shape[0]
    n_t = path.returns.shape[0]
    eps = prm.min_price_fraction
    tol = prm.tol
    n_positions = (
        L.protocol.shape[0]
        + C.protocol.shape[0]
        + Pp.protocol.shape[0]
        + Lv.protocol.shape[0]
        + Op.protocol.shape[0]
    )
    n_hist = 1
    for p in range(n_p):
        if Pr.oracle_kind[p] == ORACLE_LAG_ROUNDS or Pr.oracle_kind[p] == ORACLE_TWAP:
            n_hist = max(n_hist, Pr.oracle_n[p] + 1)
    X = _new_scratch(n_p, n_a, L.protocol.shape[0], n_t, n_hist)
    stress_prev = np.zeros(n_p)  # shortfall + credit losses, at the previous round's start
    bad_start = np.zeros(n_p)
    credit_start = np.zeros(n_p)
    income_start = np.zeros(n_p)
    haircut_changed = np.zeros(n_p, dtype=np.int64)
    for a in range(n_a):
        X.shocked[a] = A.start_price[a]
        X.step_end[0, a] = A.price[a]
        if A.kind[a] == ASSET_PEGGED:
            X.shocked_ratio[a] = _ratio(A, V, a)
    _push_history(A, X)  # "round 0": the start

    # S_0: shortfall before any shock
    _measure_shortfall(A, L, C, Pp, Lv, Op, Pr, PS, X, 0, stress_prev, False)

    status = STATUS_CONVERGED
    global_round = 0
    work = 0  # positions visited, against prm.work_budget
    for t in range(n_t):
        # the breakers' reference: each protocol's oracle before this step's shock
        _set_oracles(A, Pr, X, t, X.ref_oracle, False)
        for a in range(n_a):
            X.last_price[a] = A.price[a]
            X.vol2[a] = 0.0
        for p in range(n_p):
            PS.paused[p] = 0
        if t > 0 and prm.recovery > 0.0:
            _apply_recovery(A, V, B, X, prm.recovery)
        _apply_shock(A, V, B, PS, X, path, t, eps)
        X.moved_prev[:, :] = 0
        X.credit_prev[:] = 0
        converged = False
        for _ in range(prm.max_rounds):
            global_round += 1
            n_trace = O_.counters[1]
            trace_row = n_trace if n_trace < prm.trace_cap else -1
            # --- round: oracle prices, circuit breakers, dynamic risk ---
            _push_history(A, X)
            _set_oracles(A, Pr, X, t, X.oracle, False)
            _set_par(A, Pr, X)
            _check_breakers(Pr, PS, X, O_)
            _dynamic_risk(A, Pr, X)
            # --- round: decisions of every protocol from round-start state ---
            X.acted[:] = 0
            X.sell[:] = 0.0
            X.sell_c[:] = 0.0
            X.buy[:] = 0.0
            X.buy_c[:] = 0.0
            X.orders[:, :] = 0.0
            X.shortfall[:] = 0.0
            X.deferred_n[:] = 0
            X.deferred_usd[:] = 0.0
            X.credit_now[:] = 0
            for p in range(n_p):
                bad_start[p] = O_.bad_debt_usd[p]
                credit_start[p] = O_.credit_losses_usd[p]
                income_start[p] = O_.income_usd[p]
            lending_round(L, Pr, A, V, B, PS, X, O_, trace_row, eps)
            cdp_round(C, Pr, A, V, B, PS, X, O_, trace_row, eps)
            perp_round(Pp, Pr, PS, X, O_, trace_row)
            lev_round(Lv, Pr, X, O_, trace_row)
            opt_round(Op, Pr, PS, X, True)
            work += n_positions
            if prm.work_budget > 0 and work > prm.work_budget:
                return STATUS_OVER_BUDGET
            # --- round: batch execution per asset (cross at round-start price, net to market) ---
            _execute(A, V, B, X, O_, trace_row, eps)
            # --- round: settle ---
            for p in range(n_p):
                if Pr.kind[p] != PROTO_LENDING:
                    continue
                for a in range(n_a):
                    if X.orders[p, a] > 0.0:  # lending liquidators keep what the sale raised
                        O_.proceeds_usd[p] += X.orders[p, a] * X.sell_fill[a] * X.sell_avg[a]
            cdp_settle(C, Pr, X, O_, trace_row)
            perp_settle(Pp, Pr, X, O_)
            lev_settle(Lv, Pr, X, O_, trace_row)
            opt_settle(PS, X, O_)
            # --- round: issued tokens follow their issuer's haircut (round-start snapshot) ---
            _update_haircuts(
                Pr, PS, bad_start, credit_start, income_start, X.shortfall, haircut_changed
            )
            _update_issued(A, PS, eps)
            repriced = False  # an issued token's price moved: the fixed point is not reached
            for a in range(n_a):
                before = X.price_before[a]
                if A.kind[a] == ASSET_ISSUED and abs(A.price[a] - before) > tol * before:
                    repriced = True
                    if haircut_changed[A.issuer[a]] == 1:
                        X.moved_now[A.issuer[a], a] = 1
            # --- round: distress, propagation depth and contagion edges ---
            any_acted = False
            for p in range(n_p):
                if X.acted[p] == 1:
                    any_acted = True
            for q in range(n_p):
                stress = X.shortfall[q] + credit_start[q]
                grew = stress > stress_prev[q] + tol * max(1.0, stress_prev[q])
                stress_prev[q] = stress
                if O_.depth[q] >= 0 or not (X.acted[q] == 1 or grew):
                    continue
                best = -1
                for p in range(n_p):
                    if p == q:
                        continue
                    for a in range(n_a + 1):
                        if a < n_a:
                            hit = Pr.uses[q, a] == 1 and X.moved_prev[p, a] == 1
                        else:  # the credit channel: p defaulted on its loan from q
                            hit = Pr.lender[p] == q and X.credit_prev[p] == 1
                        if not hit:
                            continue
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
                X.credit_prev[p] = X.credit_now[p]
                for a in range(n_a):
                    X.moved_prev[p, a] = X.moved_now[p, a]
            if trace_row >= 0:
                O_.trace_step[trace_row] = t
                O_.trace_round[trace_row] = global_round
                for a in range(n_a):
                    O_.trace_price[trace_row, a] = A.price[a]
                for p in range(n_p):
                    total = 0.0
                    for a in range(n_a):
                        total += X.orders[p, a]
                    O_.trace_flow_units[trace_row, p] = total
                O_.counters[1] = n_trace + 1
            if not any_acted and not repriced and not _oracles_moving(A, Pr, X, tol):
                converged = True
                break
            if any_acted:
                O_.step_rounds[t] += 1
                O_.counters[3] += 1
        O_.step_converged[t] = 1 if converged else 0
        if not converged:
            status = STATUS_NOT_CONVERGED
        for p in range(n_p):  # what a tripped breaker was still holding back
            O_.deferred_liquidations[p] += X.deferred_n[p]
            O_.deferred_debt_usd[p] += X.deferred_usd[p]
        for a in range(n_a):
            X.step_end[t + 1, a] = A.price[a]
    O_.counters[2] = global_round
    for a in range(n_a):
        O_.shocked_price[a] = X.shocked[a]
        O_.final_price[a] = A.price[a]
    for p in range(n_p):
        O_.haircut[p] = PS.haircut[p]
    # final shortfall at the final prices
    _measure_shortfall(A, L, C, Pp, Lv, Op, Pr, PS, X, n_t, O_.shortfall_usd, False)
    # the same at market prices: what a stale, lagged or floored oracle hides
    _measure_shortfall(A, L, C, Pp, Lv, Op, Pr, PS, X, n_t, O_.market_shortfall_usd, True)
    return status
