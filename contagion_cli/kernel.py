"""The cascade kernel: Jacobi liquidation rounds to a fixed point (MODEL.md §1–§3, §5).

Array code only (numba ``@njit(cache=True, error_model="numpy")``: IEEE arithmetic, no
exceptions): it mutates the state arrays it is given, fills preallocated outputs, returns a
status code, never raises, never prints. Every jitted helper lives in this one file, and the
cache folder is keyed on this file and ``compile/layout.py`` (:mod:`.jit_cache`): numba's own
cache does not notice edits in *other* files that a cached function calls.

Section banners (``# --- markets ...``, lending, cdp, perp, leveraged, options) and comments
(``# --- round: ... ---``) mirror those of the plain-Python reference in ``tests/reference.py``
so that one can be read against the other (tests/kernel/test_banners.py checks the banners).

Speed (docs/performance.md): loops that run per position or per liquidation bind arrays to
locals, never pass named tuples, and run without reference counting (``HOT``), so they do
not allocate.
"""

from __future__ import annotations

import math

import numpy as np

try:  # the engine runs a second copy of this file as plain Python, with `njit` the identity
    njit = _TWIN_NJIT  # type: ignore[name-defined]
except NameError:
    from .jit_cache import njit  # numba's, caching in a folder keyed on this file and layout

try:  # the plain-Python copy: numba is not imported, and nothing is inlined
    _SMALL_INLINE = _TWIN_SMALL_INLINE  # type: ignore[name-defined]
except NameError:  # numba's: this module's helpers compiled for linking only, where it can
    from .jit_link import small_helper_inlining

    _SMALL_INLINE = small_helper_inlining(__name__)

from .compile.layout import (
    ASSET_ISSUED,
    ASSET_MARKET,
    ASSET_PEGGED,
    AUCTION_DUST,
    FEATURE_BOOKS,
    FEATURE_CAPITAL,
    FEATURE_CDP,
    FEATURE_FEEDS,
    FEATURE_LEVERAGED,
    FEATURE_OPTIONS,
    FEATURE_PEGS,
    FEATURE_PERP,
    FEATURE_VENUES,
    FEATURES_ALL,
    INDEX_BUCKETS,
    LIQ_ANY_LOSS,
    LIQ_ATOMIC,
    LIQ_RATIONAL,
    OPT_CALL,
    ORACLE_EXTERNAL,
    ORACLE_LAG_ROUNDS,
    ORACLE_LAG_STEPS,
    ORACLE_MEDIAN,
    ORACLE_SPOT,
    ORACLE_TWAP,
    ORACLE_VWAP,
    PA_ADJ,
    PA_BUYS,
    PA_FLOW,
    PA_HEDGE_PENDING,
    PA_LOT,
    PA_OPT_TARGET,
    PA_OPT_UNITS,
    PA_ORACLE,
    PA_ORDERS,
    PA_REF_ORACLE,
    PA_REPAY,
    PA_SELLS,
    PAI_MOVED_NOW,
    PAI_STRESSED,
    POS_AUCTION,
    POS_CLOSED,
    POS_OPEN,
    PROTO_CDP,
    PROTO_LENDING,
    PROTO_LEVERAGED,
    PROTO_OPTIONS,
    PROTO_PERP,
    STATUS_CONVERGED,
    STATUS_NOT_CONVERGED,
    STATUS_OVER_BUDGET,
    STATUS_UNSUPPORTED,
    TG_B0,
    TG_C,
    TG_CUR,
    TG_D,
    TG_LO,
    TG_NB,
    TG_P,
    TG_SHIFT,
    TGM_ALWAYS,
    TGM_BUCKETS,
    TGM_BUILT,
    TGM_GROUPS,
    TGM_HOT,
    TRIGGER_BUCKET,
    VENUE_CPMM,
    VENUE_EXPONENTIAL,
    VENUE_LINEAR,
    VENUE_ORDERBOOK,
)

try:  # a specialised copy (engine.kernels): only what these features need is compiled
    _FEATURES = _TWIN_FEATURES  # type: ignore[name-defined]
except NameError:
    _FEATURES = FEATURES_ALL
# Module constants: numba prunes `if HAS_CDP:` before typing, so a copy without cdp never
# compiles (nor caches, nor loads) the cdp code.
HAS_CDP = bool(_FEATURES & FEATURE_CDP)
HAS_PERP = bool(_FEATURES & FEATURE_PERP)
HAS_LEVERAGED = bool(_FEATURES & FEATURE_LEVERAGED)
HAS_OPTIONS = bool(_FEATURES & FEATURE_OPTIONS)
HAS_VENUES = bool(_FEATURES & FEATURE_VENUES)
HAS_CAPITAL = bool(_FEATURES & FEATURE_CAPITAL)
HAS_PEGS = bool(_FEATURES & FEATURE_PEGS)
HAS_BOOKS = bool(_FEATURES & FEATURE_BOOKS)
HAS_FEEDS = bool(_FEATURES & FEATURE_FEEDS)
HAS_HEALTH_INDEX = HAS_CDP or HAS_PERP or HAS_LEVERAGED

#: Every helper: IEEE arithmetic, and no CPython or C wrapper. Helpers are only called from
#: the kernel, and numba would otherwise generate, for each, code that unboxes every argument
#: from Python objects (a third of the cold compile). Nor are they cached: their code is
#: linked into the entry points', which are (``run_cascade``, ``build_triggers``).
#: Without numba's reference counting, as ``HOT`` below: a helper that allocates nothing needs
#: none, and its increments and decrements of every array it touches were much of the code
#: numba generated (and LLVM then optimised) for the kernel. ``_nrt`` is explicit because numba
#: hands a caller's flag down to the functions it calls unless the callee sets its own.
HELPER = {
    "error_model": "numpy",
    "no_cpython_wrapper": True,
    "no_cfunc_wrapper": True,
    "_nrt": False,
}
#: The few helpers that allocate (a compile error says which: numba refuses an allocation
#: without reference counting).
ALLOC = {**HELPER, "_nrt": True}
#: Helpers whose loops run once per position or liquidation, and that allocate nothing: without
#: numba's reference counting. With it, every array a loop hands to an inlined helper is an
#: atomic increment and decrement per iteration; on 10^6 positions they were two thirds of the
#: kernel's time (perf: NRT_incref / NRT_decref), which locals alone do not remove.
HOT = {**HELPER, "_nrt": False}
#: Small helpers (a price curve, a bucket of the trigger index, a sum). Compiled for linking
#: only (:mod:`.jit_link`), they reach the entry point's module unoptimised and LLVM inlines them
#: there. numba's own inlining (``inline="always"``) runs a helper's untyped pipeline again at
#: every call site: about 3 s of the lending kernel's cold compile. It is kept for when jit_link
#: is off: numba then optimises and emits each helper before its callers link it, LLVM no longer
#: inlines what it links, and the cascade ran 2.2x slower.
SMALL = {**HELPER, "inline": _SMALL_INLINE}
#: Entry points, and the few helpers the tests call from Python (no C wrapper either: nothing
#: calls them as C functions).
ENTRY = {"cache": True, "error_model": "numpy", "no_cfunc_wrapper": True}
#: Helpers the tests call from Python: entry points in the kernel itself, plain helpers in a
#: specialised copy (nothing calls those from Python; a wrapper is a compile for nothing).
TESTED = ENTRY if _FEATURES == FEATURES_ALL else HELPER

# --- markets (MODEL.md §2) -------------------------------------------------------------------
# Selling and buying q units on one venue. Each returns (USD proceeds or cost, units
# filled) and updates the venue's reserves and price.
# ---------------------------------------------------------------------------------------------


@njit(**SMALL)
def _linear_sell(p0, lam, lo, q):
    """(proceeds, price after) of selling ``q`` units on a linear curve from ``p0`` down to the
    floor ``lo``: the area under the price actually traversed - the trapezoid down to the floor,
    then every further unit at the floor."""
    p1 = p0 * (1.0 - lam * q * p0)
    if p1 >= lo:
        return q * 0.5 * (p0 + p1), p1
    u = min(q, max(0.0, (1.0 - lo / p0) / (lam * p0)))  # units that reach the floor
    return u * 0.5 * (p0 + lo) + (q - u) * lo, lo


@njit(**SMALL)
def _exponential_sell(p0, a, lo, q):
    """(proceeds, price after) of selling ``q`` units on p0 e^(-a u) floored at ``lo``: the
    integral down to the floor, then every further unit at the floor."""
    p1 = p0 * math.exp(-a * q)
    if p1 >= lo:
        return -p0 * math.expm1(-a * q) / a, p1  # expm1: exact for small sales
    u = min(q, max(0.0, math.log(p0 / lo) / a))
    return (p0 - lo) / a + (q - u) * lo, lo


@njit(**TESTED)
def venue_sell(V, B, v, q, eps):
    """Sell ``q`` units on venue ``v``; returns (proceeds_usd, units_filled).

    No price leaves the venue's band [lo, hi] (its shocked price x eps and / eps,
    :func:`_set_bands`): there a pool is exhausted (units unfilled) and the linear and
    exponential curves stop, filling every further unit at the floor.
    """
    kind = V[v].kind
    p0 = V[v].price
    if q <= 0.0:
        return 0.0, 0.0
    if kind == VENUE_CPMM:
        x = V[v].x
        y = V[v].y
        filled = min(q, max(0.0, math.sqrt(x * y / V[v].lo) - x))
        q_in = filled * (1.0 - V[v].fee)
        out = y * q_in / (x + q_in)
        V[v].x = x + filled
        V[v].y = y - out
        V[v].price = V[v].y / V[v].x
        return out, filled
    if kind == VENUE_LINEAR:
        got, V[v].price = _linear_sell(p0, V[v].lam, V[v].lo, q)
        return got, q
    if kind == VENUE_EXPONENTIAL:
        got, V[v].price = _exponential_sell(p0, V[v].alpha, V[v].lo, q)
        return got, q
    if not HAS_BOOKS:
        return 0.0, 0.0  # a copy built without order books has none
    # VENUE_ORDERBOOK: walk the bids, best first. A float residual of the order (0.1 + 0.2 of
    # two levels is 0.30000000000000004) is not a reason to walk into the next level.
    left = q
    dust = q * 1e-12
    proceeds = 0.0
    start = V[v].bid_start
    n = V[v].bid_count
    last_price = p0
    for k in range(start, start + n):
        if left <= dust:
            break
        level_price = V[v].anchor * (1.0 + B.offset[k])
        if B.remaining[k] <= 0.0:
            last_price = level_price
            continue
        take = min(B.remaining[k], left)
        B.remaining[k] -= take
        if B.remaining[k] <= B.depth[k] * 1e-12:  # a level taken but for rounding is taken
            B.remaining[k] = 0.0
        proceeds += take * level_price
        left -= take
        last_price = level_price
        if left <= 0.0:
            break
    if left <= dust:
        left = 0.0  # the rounding of a split that took these levels exactly: every unit filled
    elif n > 0:  # exhausted: the price floor is the last level
        last_price = V[v].anchor * (1.0 + B.offset[start + n - 1])
    V[v].price = max(min(p0, last_price), V[v].lo)
    return proceeds, q - left


@njit(**TESTED)
def venue_buy(V, B, v, q, eps):
    """Buy ``q`` units on venue ``v``; returns (cost_usd, units_filled)."""
    kind = V[v].kind
    p0 = V[v].price
    if q <= 0.0:
        return 0.0, 0.0
    if kind == VENUE_CPMM:
        x = V[v].x
        y = V[v].y
        # a pool cannot deliver all its base units: it stops where the price reaches `hi`
        filled = min(q, max(0.0, x - math.sqrt(x * y / V[v].hi)))
        cost = y * filled / ((x - filled) * (1.0 - V[v].fee))
        V[v].x = x - filled
        V[v].y = y + cost
        V[v].price = V[v].y / V[v].x
        return cost, filled
    cap = V[v].hi
    if kind == VENUE_LINEAR:
        p1 = p0 * (1.0 + V[v].lam * q * p0)
        if p1 > cap:
            # beyond the cap the rest fills at the cap price
            q_lin = max(0.0, (cap / p0 - 1.0) / (V[v].lam * p0))
            V[v].price = cap
            return q_lin * 0.5 * (p0 + cap) + (q - q_lin) * cap, q
        V[v].price = p1
        return q * 0.5 * (p0 + p1), q
    if kind == VENUE_EXPONENTIAL:
        a = V[v].alpha
        limit = math.log(max(cap / p0, 1.0))
        if a * q > limit:
            q_exp = limit / a
            V[v].price = max(cap, p0)
            return p0 * math.expm1(limit) / a + (q - q_exp) * max(cap, p0), q
        V[v].price = p0 * math.exp(a * q)
        return p0 * math.expm1(a * q) / a, q
    if not HAS_BOOKS:
        return 0.0, 0.0
    # VENUE_ORDERBOOK: walk the asks (the same dust rule)
    left = q
    dust = q * 1e-12
    cost = 0.0
    start = V[v].ask_start
    n = V[v].ask_count
    last_price = p0
    for k in range(start, start + n):
        if left <= dust:
            break
        level_price = V[v].anchor * (1.0 + B.offset[k])
        if B.remaining[k] <= 0.0:
            last_price = level_price
            continue
        take = min(B.remaining[k], left)
        B.remaining[k] -= take
        if B.remaining[k] <= B.depth[k] * 1e-12:  # a level taken but for rounding is taken
            B.remaining[k] = 0.0
        cost += take * level_price
        left -= take
        last_price = level_price
        if left <= 0.0:
            break
    if left <= dust:
        left = 0.0
    elif n > 0:
        last_price = V[v].anchor * (1.0 + B.offset[start + n - 1])
    V[v].price = min(max(p0, last_price), V[v].hi)
    return cost, q - left


@njit(**TESTED)
def venue_recenter(V, B, v, new_price, multiplier):
    """Move venue ``v`` to ``new_price`` by arbitrage and scale its liquidity by ``multiplier``.

    cpmm: reserves scale by the multiplier, then the pool is re-centred with k = x·y unchanged.
    linear / exponential: impact per unit is divided by the multiplier. Order book: makers
    requote around the new price with the (scaled) depth of every level restored.
    """
    kind = V[v].kind
    # no clamp: an exogenous move always applies (the band limits what trades do)
    if kind == VENUE_CPMM:
        x = V[v].x * multiplier
        y = V[v].y * multiplier
        k = x * y
        V[v].x = math.sqrt(k / new_price)
        V[v].y = math.sqrt(k * new_price)
    elif kind == VENUE_LINEAR:
        V[v].lam = V[v].lam / multiplier
    elif kind == VENUE_EXPONENTIAL:
        V[v].alpha = V[v].alpha / multiplier
    elif HAS_BOOKS and kind == VENUE_ORDERBOOK:
        V[v].anchor = new_price
        for k in range(V[v].bid_start, V[v].bid_start + V[v].bid_count):
            B.depth[k] *= multiplier
            B.remaining[k] = B.depth[k]
        for k in range(V[v].ask_start, V[v].ask_start + V[v].ask_count):
            B.depth[k] *= multiplier
            B.remaining[k] = B.depth[k]
    V[v].price = new_price


@njit(**SMALL)
def _add(total, comp, i, value):
    """Neumaier-compensated ``total[i] += value``: batch sums that do not depend on order."""
    t = total[i] + value
    if abs(total[i]) >= abs(value):
        comp[i] += (total[i] - t) + value
    else:
        comp[i] += (value - t) + total[i]
    total[i] = t


@njit(**SMALL)
def _order(X, p, a, units):
    """Protocol ``p`` puts ``units`` of asset ``a`` in this round's batch (+ sell, - buy)."""
    _order_to(X.sell, X.sell_c, X.buy, X.buy_c, X.pa, p, a, units)


@njit(**TESTED)
def venue_sell_quote(V, B, v, q, eps):
    """What selling ``q`` units on venue ``v`` would raise now, without trading (USD)."""
    kind = V[v].kind
    p0 = V[v].price
    if q <= 0.0:
        return 0.0
    if kind == VENUE_CPMM:
        x = V[v].x
        filled = min(q, max(0.0, math.sqrt(x * V[v].y / V[v].lo) - x))
        q_in = filled * (1.0 - V[v].fee)
        return V[v].y * q_in / (x + q_in)
    if kind == VENUE_LINEAR:
        return _linear_sell(p0, V[v].lam, V[v].lo, q)[0]
    if kind == VENUE_EXPONENTIAL:
        return _exponential_sell(p0, V[v].alpha, V[v].lo, q)[0]
    if not HAS_BOOKS:
        return 0.0
    left = q
    proceeds = 0.0
    for k in range(V[v].bid_start, V[v].bid_start + V[v].bid_count):
        take = min(B.remaining[k], left)
        if take > 0.0:
            proceeds += take * V[v].anchor * (1.0 + B.offset[k])
            left -= take
        if left <= 0.0:
            break
    return proceeds


# ---------------------------------------------------------------------------------------------
# Several venues per asset (docs/model.md 3j): the optimal split of an order, arbitrage
# ---------------------------------------------------------------------------------------------

#: Bisection steps of the router and of arbitrage (log space): far below float precision, and a
#: fixed count keeps the result independent of the data's scale.
BISECT_STEPS = 100


@njit(**TESTED)
def venue_take(V, B, v, m, side, cap_q, eps):
    """Units venue ``v`` takes before its marginal price reaches ``m``: for sells (side +1) the
    marginal proceeds fall to m, for buys (-1) the marginal cost rises to m. At most ``cap_q``."""
    kind = V[v].kind
    p0 = V[v].price
    q = 0.0
    if side > 0:
        if kind == VENUE_CPMM:
            x = V[v].x
            y = V[v].y
            g = 1.0 - V[v].fee
            capacity = max(0.0, math.sqrt(x * y / V[v].lo) - x)
            q = min((math.sqrt(y * g * x / m) - x) / g, capacity)
        elif kind == VENUE_LINEAR:
            if m <= V[v].lo:  # at the floor it fills every unit
                return cap_q
            q = (1.0 - m / p0) / (V[v].lam * p0)
        elif kind == VENUE_EXPONENTIAL:
            if m <= V[v].lo:
                return cap_q
            q = math.log(p0 / m) / V[v].alpha
        elif HAS_BOOKS:
            for k in range(V[v].bid_start, V[v].bid_start + V[v].bid_count):
                if V[v].anchor * (1.0 + B.offset[k]) >= m:
                    q += B.remaining[k]
    else:
        cap = V[v].hi
        if kind == VENUE_CPMM:
            x = V[v].x
            y = V[v].y
            g = 1.0 - V[v].fee
            capacity = max(0.0, x - math.sqrt(x * y / V[v].hi))
            q = min(x - math.sqrt(y * x / (g * m)), capacity)
        elif kind == VENUE_LINEAR:
            if m >= cap:
                return cap_q
            q = (m / p0 - 1.0) / (V[v].lam * p0)
        elif kind == VENUE_EXPONENTIAL:
            if m >= cap:
                return cap_q
            q = math.log(m / p0) / V[v].alpha
        elif HAS_BOOKS:
            for k in range(V[v].ask_start, V[v].ask_start + V[v].ask_count):
                if V[v].anchor * (1.0 + B.offset[k]) <= m:
                    q += B.remaining[k]
    return min(max(q, 0.0), cap_q)


@njit(**TESTED)
def route_split(V, B, first, count, q, side, eps, out):
    """The split of ``q`` units across venues ``first .. first+count-1`` that equalises their
    marginal prices (into ``out[first:first+count]``); returns the units placed (< q only when
    every venue together cannot take q)."""
    lo_m = np.inf
    hi_m = 0.0
    for v in range(first, first + count):
        out[v] = 0.0
        if side > 0:
            lo_m = min(lo_m, V[v].lo * 1e-3)
            hi_m = max(hi_m, V[v].price * 2.0)
        else:
            lo_m = min(lo_m, V[v].price * 0.5)
            hi_m = max(hi_m, V[v].hi * 1e3)
    if q <= 0.0:
        return 0.0
    a = math.log(lo_m)
    b = math.log(hi_m)
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (a + b)
        total = 0.0
        m = math.exp(mid)
        for v in range(first, first + count):
            total += venue_take(V, B, v, m, side, q, eps)
        # sells: the take falls as m rises; buys: it rises with m
        if (total >= q) == (side > 0):
            a = mid
        else:
            b = mid
    m_a = math.exp(a)
    m_b = math.exp(b)
    s_a = 0.0
    s_b = 0.0
    for v in range(first, first + count):
        s_a += venue_take(V, B, v, m_a, side, q, eps)
        s_b += venue_take(V, B, v, m_b, side, q, eps)
    # (s_full, m_full): the end of the bracket that takes at least q; the other end, less
    if side > 0:
        m_full, m_short, s_full, s_short = m_a, m_b, s_a, s_b
    else:
        m_full, m_short, s_full, s_short = m_b, m_a, s_b, s_a
    if s_full < q:  # every venue together cannot take q: each takes what it can
        for v in range(first, first + count):
            out[v] = venue_take(V, B, v, m_full, side, q, eps)
        return s_full
    gap = q - s_short
    for v in range(first, first + count):
        short = venue_take(V, B, v, m_short, side, q, eps)
        full = venue_take(V, B, v, m_full, side, q, eps)
        out[v] = short + (gap * (full - short) / (s_full - s_short) if s_full > s_short else 0.0)
    return q


@njit(**HELPER)
def route_quote(V, B, first, count, q, eps, out):
    """What selling ``q`` units across the venues, split optimally, would raise now (USD)."""
    route_split(V, B, first, count, q, np.int64(1), eps, out)  # int64: see _route_marginal
    total = 0.0
    for v in range(first, first + count):
        total += venue_sell_quote(V, B, v, out[v], eps)
    return total


@njit(**HELPER)
def venue_units_to(V, B, v, t, side):
    """Units to sell (side +1) on venue ``v`` to bring its price down to ``t``, or to buy (-1)
    to lift it to ``t``; 0 when it is already there."""
    kind = V[v].kind
    p0 = V[v].price
    if (side > 0 and p0 <= t) or (side < 0 and p0 >= t):
        return 0.0
    if kind == VENUE_CPMM:
        x = V[v].x
        y = V[v].y
        g = 1.0 - V[v].fee
        if side > 0:  # price after selling q: y x / ((x + q)(x + g q)) = t
            disc = x * x * (1.0 + g) ** 2 - 4.0 * g * (x * x - x * y / t)
            return max(0.0, (-x * (1.0 + g) + math.sqrt(disc)) / (2.0 * g))
        # price after buying q, u = x - q: y (g u + x - u) / (g u^2) = t
        u = (y * (g - 1.0) + math.sqrt(y * y * (g - 1.0) ** 2 + 4.0 * t * g * y * x)) / (
            2.0 * t * g
        )
        return max(0.0, x - u)
    if kind == VENUE_LINEAR:
        return abs(1.0 - t / p0) / (V[v].lam * p0)
    if kind == VENUE_EXPONENTIAL:
        return abs(math.log(p0 / t)) / V[v].alpha
    q = 0.0
    if not HAS_BOOKS:
        return q
    if side > 0:
        for k in range(V[v].bid_start, V[v].bid_start + V[v].bid_count):
            if V[v].anchor * (1.0 + B.offset[k]) > t:
                q += B.remaining[k]
    else:
        for k in range(V[v].ask_start, V[v].ask_start + V[v].ask_count):
            if V[v].anchor * (1.0 + B.offset[k]) < t:
                q += B.remaining[k]
    return q


@njit(**HELPER)
def _arb_net(V, B, first, count, p, c):
    """Units arbitrageurs would sell on the venues above p(1 + c) minus those they would buy
    on the venues below p (falls as p rises)."""
    net = 0.0
    for v in range(first, first + count):
        if V[v].price > p * (1.0 + c):
            net += venue_units_to(V, B, v, p * (1.0 + c), np.int64(1))
        elif V[v].price < p:
            net -= venue_units_to(V, B, v, p, np.int64(-1))
    return net


@njit(**HELPER)
def _arb_side(V, B, v, t_sell, t_buy):
    """Whether arbitrageurs sell (+1) or buy (-1) on venue ``v`` and how many units: a venue
    at the clearing price itself (a book at its partly taken level) serves the side it has
    depth for."""
    sell = venue_units_to(V, B, v, t_sell, np.int64(1)) if V[v].price > t_sell else 0.0
    buy = venue_units_to(V, B, v, t_buy, np.int64(-1)) if V[v].price < t_buy else 0.0
    if sell > 0.0 and (buy <= 0.0 or V[v].price > t_buy):
        return 1, sell
    if buy > 0.0:
        return -1, buy
    return 0, 0.0


@njit(**HELPER)
def _venue_quotes(V, B, v):
    """(bid, ask) of venue ``v`` as an arbitrageur sees it: an order book's best bid and best
    ask with depth left (0 and inf once a side is taken), any other venue its price both ways.
    A book's price is its last level traded, which need not be a level it can still trade at."""
    if V[v].kind != VENUE_ORDERBOOK:
        return V[v].price, V[v].price
    bid = 0.0
    for k in range(V[v].bid_start, V[v].bid_start + V[v].bid_count):
        if B.remaining[k] > 0.0:
            bid = max(bid, V[v].anchor * (1.0 + B.offset[k]))
    ask = np.inf
    for k in range(V[v].ask_start, V[v].ask_start + V[v].ask_count):
        if B.remaining[k] > 0.0:
            ask = min(ask, V[v].anchor * (1.0 + B.offset[k]))
    return bid, ask


@njit(**TESTED)
def arbitrage(A, V, B, O_, a, eps, tol):
    """Arbitrage between the venues of asset ``a`` (docs/model.md 3j); True when a venue price
    moved by more than ``tol``."""
    first = A[a].venue_start
    count = A[a].venue_count
    c = A[a].arb_cost
    p_min = np.inf
    p_max = 0.0
    best_bid = 0.0
    best_ask = np.inf
    for v in range(first, first + count):
        p_min = min(p_min, V[v].price)
        p_max = max(p_max, V[v].price)
        bid, ask = _venue_quotes(V, B, v)
        best_bid = max(best_bid, bid)
        best_ask = min(best_ask, ask)
    # nothing to do unless some venue pays more than another asks, by more than the cost and
    # the tolerance: a gap of rounding (a pool left 1e-12 below a book's ask level by the last
    # arbitrage) must not buy a crumb of that level and move the book's price a whole level
    if best_bid <= best_ask * (1.0 + c) * (1.0 + tol):
        return False
    lo = math.log(p_min / (1.0 + c))
    hi = math.log(p_max)
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        if _arb_net(V, B, first, count, math.exp(mid), c) > 0.0:
            lo = mid
        else:
            hi = mid
    # An order book's depth comes in steps, so the two ends of the final bracket can differ by
    # a whole level: sell as at the lower end (sells >= buys there), buy as at the upper end
    # (buys >= sells), and trade the smaller total on both sides - units are conserved exactly
    # and a level hit at the clearing price is taken in part.
    # the bracket closes to adjacent floats; widen it by 1e-12 so that a level sitting exactly
    # at the clearing price (a book priced at its partly taken level) is on the side it serves
    t_sell = math.exp(lo) * (1.0 + c) * (1.0 - 1e-12)
    t_buy = math.exp(hi) * (1.0 + 1e-12)
    sells = 0.0
    buys = 0.0
    for v in range(first, first + count):
        side, units = _arb_side(V, B, v, t_sell, t_buy)
        if side > 0:
            sells += units
        elif side < 0:
            buys += units
    trade = min(sells, buys) * A[a].arb_speed
    if trade <= 0.0:
        return False
    profit = 0.0
    moved = False
    for v in range(first, first + count):
        before = V[v].price
        side, units = _arb_side(V, B, v, t_sell, t_buy)
        if side > 0:
            got, filled = venue_sell(V, B, v, units * (trade / sells), eps)
            profit += got
            O_.v[v].arb_sold_units += filled
        elif side < 0:
            paid, filled = venue_buy(V, B, v, units * (trade / buys), eps)
            profit -= paid
            O_.v[v].arb_bought_units += filled
        if abs(V[v].price - before) > tol * before:
            moved = True
    O_.a[a].arbitrage_profit_usd += profit
    A[a].price = V[first].price
    return moved


# ---------------------------------------------------------------------------------------------
# Black–Scholes (options vaults, MODEL.md §3 options)
# ---------------------------------------------------------------------------------------------


@njit(**SMALL)
def _norm_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@njit(**SMALL)
def bs_delta_value(kind, s, k, tau, vol, r):
    """(delta, value) of one option on one unit of the underlying."""
    sq = vol * math.sqrt(tau)
    d1 = (math.log(s / k) + (r + 0.5 * vol * vol) * tau) / sq
    d2 = d1 - sq
    disc = k * math.exp(-r * tau)
    if kind == OPT_CALL:
        return _norm_cdf(d1), s * _norm_cdf(d1) - disc * _norm_cdf(d2)
    return _norm_cdf(d1) - 1.0, disc * _norm_cdf(-d2) - s * _norm_cdf(-d1)


@njit(**SMALL)
def _market_quote(A, V, B, route_on, route, vq, p, a, q, eps):
    """What selling ``q`` units of a traded asset on its venue(s) would raise now for protocol
    ``p``: through its fixed route, or split optimally across several venues."""
    first = A[a].venue_start
    if HAS_VENUES:
        count = A[a].venue_count
        if count > 1:
            if route_on[p, a] == 1:
                total = 0.0
                for v in range(first, first + count):
                    total += venue_sell_quote(V, B, v, q * route[p, v], eps)
                return total
            return route_quote(V, B, first, count, q, eps, vq[1])
    return venue_sell_quote(V, B, first, q, eps)


@njit(**SMALL)
def _traded(A, a):
    """An asset whose units are sold on its own venue(s): a market asset, or an issued token
    with a market of its own."""
    return A[a].kind == ASSET_MARKET or (A[a].kind == ASSET_ISSUED and A[a].venue_count > 0)


@njit(**SMALL)
def asset_sell_quote(A, V, B, route_on, route, vq, p, a, q, eps):
    """USD that selling ``q`` units of asset ``a`` would raise now, without trading.

    A pegged asset is quoted through its ratio market (or converted at the ratio) and then the
    market of the asset it is pegged to, unless its sellers keep the target's units
    (``sell_target: false``), which are then worth the target's round-start price, as in the
    settlement; an asset without a market at its price. (Protocol ``p``'s fixed routes
    ``route_on``, ``route``; ``vq``: the router's working rows.)
    """
    if _traded(A, a):
        return _market_quote(A, V, B, route_on, route, vq, p, a, q, eps)
    if HAS_PEGS and A[a].kind == ASSET_PEGGED:
        to = A[a].peg_to
        if A[a].venue_count > 0:
            to_units = venue_sell_quote(V, B, A[a].venue_start, q, eps)
        else:
            to_units = q * A[a].peg_ratio
        if A[a].peg_route == 0:
            return to_units * A[to].price
        if A[to].kind == ASSET_MARKET:
            return _market_quote(A, V, B, route_on, route, vq, p, to, to_units, eps)
        return to_units * A[to].price
    return q * A[a].price


@njit(**HELPER)
def venue_marginal(V, B, v, q):
    """Marginal proceeds of venue ``v`` after selling ``q`` units (what the last of them paid;
    the best bid for q = 0), without trading; 0 beyond what it can take."""
    kind = V[v].kind
    p0 = V[v].price
    if kind == VENUE_CPMM:
        x = V[v].x
        g = 1.0 - V[v].fee
        if q > max(0.0, math.sqrt(x * V[v].y / V[v].lo) - x):
            return 0.0  # beyond the band: nothing fills
        return V[v].y * g * x / ((x + g * q) * (x + g * q))
    if kind == VENUE_LINEAR:
        return max(p0 * (1.0 - V[v].lam * q * p0), V[v].lo)  # at the floor every unit fills
    if kind == VENUE_EXPONENTIAL:
        return max(p0 * math.exp(-V[v].alpha * q), V[v].lo)
    if not HAS_BOOKS:
        return 0.0
    depth = 0.0
    for k in range(V[v].bid_start, V[v].bid_start + V[v].bid_count):
        if B.remaining[k] <= 0.0:
            continue
        depth += B.remaining[k]
        if depth >= q:
            return V[v].anchor * (1.0 + B.offset[k])
    return 0.0


@njit(**HELPER)
def _route_marginal(V, B, first, count, q, eps):
    """Marginal proceeds of the q-th unit of an optimal split across the venues: the m at which
    they together take q units (0 when they cannot)."""
    if q <= 0.0:
        best = 0.0
        for v in range(first, first + count):
            best = max(best, venue_marginal(V, B, v, 0.0))
        return best
    lo_m = np.inf
    hi_m = 0.0
    for v in range(first, first + count):
        lo_m = min(lo_m, V[v].lo * 1e-3)
        hi_m = max(hi_m, V[v].price * 2.0)
    sell = np.int64(1)  # a variable, not the literal 1: one compiled venue_take (see HELPER)
    total = 0.0
    for v in range(first, first + count):
        total += venue_take(V, B, v, lo_m, sell, q, eps)
    if total < q:
        return 0.0
    a = math.log(lo_m)
    b = math.log(hi_m)
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (a + b)
        total = 0.0
        m = math.exp(mid)
        for v in range(first, first + count):
            total += venue_take(V, B, v, m, sell, q, eps)
        if total >= q:
            a = mid
        else:
            b = mid
    return math.exp(a)


@njit(**SMALL)
def _market_marginal(A, V, B, route_on, route, p, a, q, eps):
    """Marginal USD proceeds of the q-th unit of a traded asset sold by protocol ``p``: on its
    venue, through its fixed route, or split optimally (always for p < 0)."""
    first = A[a].venue_start
    if HAS_VENUES:
        count = A[a].venue_count
        if count > 1:
            if p >= 0 and route_on[p, a] == 1:
                total = 0.0
                for v in range(first, first + count):
                    total += route[p, v] * venue_marginal(V, B, v, q * route[p, v])
                return total
            return _route_marginal(V, B, first, count, q, eps)
    return venue_marginal(V, B, first, q)


@njit(**SMALL)
def asset_sell_marginal(A, V, B, route_on, route, p, a, q, eps):
    """Marginal USD proceeds of selling one more unit of asset ``a`` after ``q`` units, now,
    without trading (the price the q-th unit fetches), for protocol ``p``'s liquidators; as
    :func:`asset_sell_quote` is the total."""
    if _traded(A, a):
        return _market_marginal(A, V, B, route_on, route, p, a, q, eps)
    if HAS_PEGS and A[a].kind == ASSET_PEGGED:
        to = A[a].peg_to
        if A[a].venue_count > 0:
            v = A[a].venue_start
            ratio = venue_marginal(V, B, v, q)
            to_units = venue_sell_quote(V, B, v, q, eps)
        else:
            ratio = A[a].peg_ratio
            to_units = q * A[a].peg_ratio
        if A[a].peg_route == 1 and A[to].kind == ASSET_MARKET:
            return ratio * _market_marginal(A, V, B, route_on, route, p, to, to_units, eps)
        return ratio * A[to].price
    return A[a].price


#: Inlined by numba whatever the compile: LLVM would not inline it (too large once its quotes are
#: in), and it runs once per rational liquidation, with ten arguments.
@njit(inline="always", **HELPER)
def units_above(A, V, B, route_on, route, p, a, m, cap, eps):
    """Units of asset ``a`` the market takes now (from the round's start) before the marginal
    proceeds of the next one fall below ``m``, at most ``cap``; -1 when not even the first unit
    fetches m. Sold by protocol ``p`` (its fixed route), or split optimally for p < 0."""
    if asset_sell_marginal(A, V, B, route_on, route, p, a, 0.0, eps) < m:
        return -1.0
    if _traded(A, a) and A[a].venue_count == 1:  # in closed form
        return min(cap, venue_take(V, B, A[a].venue_start, m, np.int64(1), cap, eps))
    return _units_above_bisect(A, V, B, route_on, route, p, a, m, cap, eps)


#: Not ``inline="always"``, unlike :func:`units_above`, whose closed form runs once per rational
#: liquidation (a call there cost the rational cascade of 10^6 positions 15 %): numba inlines a
#: function by running its untyped pipeline again at every call site, its own inlined calls
#: included, and the two marginal quotes here, each inlined with its market's quote, were
#: compiled over again for both callers of ``units_above`` (the lending round and the rational
#: allocation). The bisection is for several venues or a peg: a call is nothing beside it.
@njit(**HOT)
def _units_above_bisect(A, V, B, route_on, route, p, a, m, cap, eps):
    """:func:`units_above` beyond its closed form (after its first test): by bisection."""
    if asset_sell_marginal(A, V, B, route_on, route, p, a, cap, eps) >= m:
        return cap
    lo = 0.0
    hi = cap
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        if asset_sell_marginal(A, V, B, route_on, route, p, a, mid, eps) >= m:
            lo = mid
        else:
            hi = mid
    return lo


@njit(**SMALL)
def _same_route(A, route_on, route, p, q, a):
    """Whether protocols ``p`` and ``q`` sell asset ``a`` the same way (the same fixed route,
    or both split optimally); p < 0 never."""
    if p < 0:
        return False
    if route_on[p, a] != route_on[q, a]:
        return False
    if route_on[p, a] == 0:
        return True
    for v in range(A[a].venue_start, A[a].venue_start + A[a].venue_count):
        if route[p, v] != route[q, v]:
            return False
    return True


@njit(**SMALL)
def _before(k1, f, k2, a, b):
    """Whether item ``a`` sorts before ``b`` by (k1, f, k2); a NaN of ``f`` sorts last, as in
    numpy's sorts."""
    if k1[a] != k1[b]:
        return k1[a] < k1[b]
    fa = f[a]
    fb = f[b]
    if fa < fb:
        return True
    if fb < fa:
        return False
    if (fa != fa) != (fb != fb):  # one NaN: the other goes first
        return fb != fb
    return k2[a] < k2[b]


@njit(**ALLOC)
def _sorted_order(k1, f, k2):
    """The indices 0..n-1 ordered by (k1, f, k2): a bottom-up merge sort, stable, so the order
    is that of numpy's stable argsorts by k2, then f, then k1. (numpy's mergesort costs the
    cold compile several seconds for two rarely used levers: this is a screenful.)"""
    n = f.shape[0]
    order = np.empty(n, np.int64)
    tmp = np.empty(n, np.int64)
    return tmp if _merge_sort(k1, f, k2, order, tmp) else order


@njit(**HOT)
def _merge_sort(k1, f, k2, order, tmp):
    """:func:`_sorted_order` in the buffers ``order`` and ``tmp`` (as long as ``f``); True when
    the result ended in ``tmp``. An input already in order (the common case: one cost for
    every liquidation of a round) is one pass."""
    n = f.shape[0]
    for i in range(n):
        order[i] = i
    in_order = True
    for i in range(n - 1):
        if _before(k1, f, k2, i + 1, i):
            in_order = False
            break
    if in_order:
        return False
    src = order
    dst = tmp
    in_tmp = False
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i = lo
            j = mid
            k = lo
            while i < mid and j < hi:
                if _before(k1, f, k2, src[j], src[i]):  # ties keep the left one first
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < hi:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        in_tmp = not in_tmp
        width *= 2
    return in_tmp


@njit(**ALLOC)
def _allocate_rational(
    A, V, B, route_on, route, rat, rat_count, sell, sell_c, buy, buy_c, pa, held, eps
):
    """The sales of the round's rational liquidations (docs/model.md 3i), asset by asset, as a
    call auction from the round-start market: every other order of the round goes first (it
    sells or buys whatever the price); then the liquidations in ascending order of their cost
    per unit, each group of equal cost sharing pro rata what the market still takes before its
    marginal price falls below that cost. What a liquidator does not sell it holds."""
    n = rat_count[0]
    if n == 0:
        return
    int_buffers = np.empty((5, n), np.int64)  # allocated here: the loops below do without
    _allocate_rational_in(
        A,
        V,
        B,
        route_on,
        route,
        rat,
        n,
        sell,
        sell_c,
        buy,
        buy_c,
        pa,
        held,
        eps,
        np.empty(n),
        int_buffers,
    )
    rat_count[0] = 0


@njit(**HOT)
def _allocate_rational_in(
    A,
    V,
    B,
    route_on,
    route,
    rat,
    n,
    sell,
    sell_c,
    buy,
    buy_c,
    pa,
    held,
    eps,
    costs_buf,
    int_buffers,
):
    """:func:`_allocate_rational` in preallocated buffers (``costs_buf`` f8[n], ``int_buffers``
    i8[5, n])."""
    idx = int_buffers[0]
    for a in range(A.shape[0]):
        m = 0
        total = 0.0
        for e in range(n):
            if rat[e].asset == a:
                idx[m] = e
                m += 1
                total += rat[e].seize
        if m == 0:
            continue
        costs = costs_buf[:m]
        rows = int_buffers[1, :m]
        same = int_buffers[2, :m]
        for j in range(m):
            costs[j] = rat[idx[j]].cost
            rows[j] = j
            same[j] = 0
        # ascending cost; equal costs in the order of the liquidations (rows)
        order = int_buffers[3, :m]
        tmp = int_buffers[4, :m]
        if _merge_sort(same, costs, rows, order, tmp):
            order = tmp
        sold = sell[a] + sell_c[a]  # the round's other sells, and the buys they cross
        bought = buy[a] + buy_c[a]
        j = 0
        while j < m:
            c = costs[order[j]]
            g = j
            group = 0.0
            # the group's route: that of its protocols when they all route the same way (a
            # fixed route decides which venue their sales hit), else split optimally
            via = rat[idx[order[j]]].protocol
            while g < m and costs[order[g]] == c:
                group += rat[idx[order[g]]].seize
                if not _same_route(A, route_on, route, via, rat[idx[order[g]]].protocol, a):
                    via = -1
                g += 1
            # the market units above c, and the buys that cross at the round-start price
            # when that price pays c
            take = max(0.0, units_above(A, V, B, route_on, route, via, a, c, sold + total, eps))
            cross = bought if A[a].price >= c else 0.0
            give = min(group, max(0.0, take + cross - sold))
            for h in range(j, g):
                e = idx[order[h]]
                q = rat[e].seize * (give / group) if group > 0.0 else 0.0
                if q > 0.0:
                    p = rat[e].protocol
                    _order_to(sell, sell_c, buy, buy_c, pa, p, a, q)
                    held[p, a] -= q
            sold += give
            j = g


# --- lending (MODEL.md §3 lending, §4 liquidators) -------------------------------------------
# Liquidations of lending positions.
#
# Written in "locals style": every array a loop reads is bound to a local at the top of the
# function, and what a per-position helper receives is arrays and scalars, never a named tuple.
# numba passes a named tuple by value, one reference per array, and inside a loop it increfs
# and decrefs every array of every tuple handed to a helper, every iteration: building the
# trigger index of 10^6 positions took 75 ms written with tuples, 11 ms with locals; a named
# tuple of 30 more (unused) arrays made it 210 ms (docs/performance.md).
# ---------------------------------------------------------------------------------------------


@njit(**SMALL)
def _debt_bought(A, a_debt, a_col):
    """Whether liquidators buy the debt they repay on a market: an asset that trades (its own
    venues, a peg, an issued token with a market), unless the seized collateral is pegged to it
    and its sellers keep the target - then the sale yields what they repay (a loop's
    liquidation: stETH swapped to ETH repays the ETH debt)."""
    kind = A[a_debt].kind
    traded = kind in (ASSET_MARKET, ASSET_PEGGED)
    if kind == ASSET_ISSUED and A[a_debt].venue_count > 0:
        traded = True
    if not traded:
        return False
    collateral = A[a_col]
    return not (
        collateral.kind == ASSET_PEGGED
        and collateral.peg_route == 0
        and collateral.peg_to == a_debt
    )


@njit(**SMALL)
def _value_legs(
    col_start,
    col_asset,
    col_units,
    debt_start,
    debt_asset,
    debt_units,
    lt_cut,
    lt,
    oracle,
    adj,
    i,
    p,
):
    """(debt value, largest debt leg, collateral value, LT-weighted collateral, largest
    collateral leg) of position ``i`` at protocol ``p``'s oracle. Legs are -1 when absent.
    The liquidation thresholds are those of this round (dynamic risk may move them)."""
    debt_value = 0.0
    j_star = np.int64(-1)  # np.int64, not -1: a literal would be typed (and compiled) apart
    j_val = -1.0
    for k in range(debt_start[i], debt_start[i + 1]):
        if debt_units[k] <= 0.0:
            continue
        val = debt_units[k] * oracle[p, debt_asset[k]]
        debt_value += val
        if val > j_val:  # strict: ties go to the asset declared first (legs are sorted)
            j_val = val
            j_star = k
    cut = lt_cut[i] if lt_cut.shape[0] > 0 else 0.0  # no coordination: an empty array
    col_value = 0.0
    col_adj = 0.0
    i_star = np.int64(-1)
    i_val = -1.0
    for k in range(col_start[i], col_start[i + 1]):
        if col_units[k] <= 0.0:
            continue
        a = col_asset[k]
        val = col_units[k] * oracle[p, a]
        col_value += val
        # coordination lowers the threshold first (lt_cut), dynamic risk then scales it
        # a relaxing adjustment never lifts a threshold above 1 (debt beyond the collateral)
        col_adj += val * min(1.0, max(0.0, lt[p, a] - cut) * (1.0 - adj[p, a]))
        if val > i_val:
            i_val = val
            i_star = k
    return debt_value, j_star, col_value, col_adj, i_star


@njit(**HOT)
def lending_shortfall(L, Pr, xp, pa, visit, n):
    """Per protocol: sum over open positions of max(0, debt value - collateral value), over
    the positions ``visit[:n]`` (ascending; every position that can have one)."""
    status = L.status
    protocol = L.protocol
    col_start = L.col_start
    col_asset = L.col_asset
    col_units = L.col_units
    debt_start = L.debt_start
    debt_asset = L.debt_asset
    debt_units = L.debt_units
    lt_cut = L.lt_cut
    lt = Pr.lt
    oracle = pa[PA_ORACLE]
    adj = pa[PA_ADJ]
    for jj in range(n):
        i = visit[jj]
        if status[i] != POS_OPEN:
            continue
        p = protocol[i]
        debt_value, j_star, col_value, _, _ = _value_legs(
            col_start,
            col_asset,
            col_units,
            debt_start,
            debt_asset,
            debt_units,
            lt_cut,
            lt,
            oracle,
            adj,
            i,
            p,
        )
        if j_star >= 0 and debt_value > col_value:
            xp[p].shortfall += debt_value - col_value


@njit(**SMALL)
def _order_to(sell, sell_c, buy, buy_c, pa, p, a, units):
    """Protocol ``p`` puts ``units`` of asset ``a`` in this round's batch (+ sell, - buy)."""
    if units > 0.0:
        _add(sell, sell_c, a, units)
        pa[PA_SELLS, p, a] += units
    elif units < 0.0:
        _add(buy, buy_c, a, -units)
        pa[PA_BUYS, p, a] -= units
    pa[PA_ORDERS, p, a] += units


@njit(**SMALL)
def _add_to(total, comp, value):
    """:func:`_add` on a sum held in a register: ``(total + value, compensation)``."""
    t = total + value
    if abs(total) >= abs(value):
        comp += (total - t) + value
    else:
        comp += (value - t) + total
    return t, comp


@njit(**SMALL)
def _write_run(
    op,
    seized_units,
    repaid_units,
    pa,
    held,
    sell_total,
    sell_c,
    buy_total,
    buy_c,
    p,
    c,
    d,
    n,
    repaid_usd,
    liquidated_usd,
    seized_usd,
    seized,
    repaid,
    pa_repay,
    held_c,
    sell,
    sell_comp,
    pa_sells,
    orders_c,
    buy,
    buy_comp,
    pa_buys,
    orders_d,
):
    """Write back the sums of a run of liquidations in one group (protocol ``p``, collateral
    ``c``, debt ``d``) that :func:`lending_round` kept in registers. Each was loaded when the
    run began, so the additions are those of one store per liquidation, in the same order:
    the same bits."""
    op[p].liquidations = n
    op[p].repaid_usd = repaid_usd
    op[p].liquidated_usd = liquidated_usd
    op[p].seized_usd = seized_usd
    seized_units[p, c] = seized
    repaid_units[p, d] = repaid
    pa[PA_REPAY, p, d] = pa_repay
    held[p, c] = held_c
    sell_total[c] = sell
    sell_c[c] = sell_comp
    pa[PA_SELLS, p, c] = pa_sells
    pa[PA_ORDERS, p, c] = orders_c
    buy_total[d] = buy
    buy_c[d] = buy_comp
    pa[PA_BUYS, p, d] = pa_buys
    pa[PA_ORDERS, p, d] = orders_d


@njit(**SMALL)
def _liquidate(
    col_units,
    debt_units,
    pa,
    xp,
    sell_total,
    sell_c,
    buy_total,
    buy_c,
    rat,
    rat_count,
    op,
    seized_units,
    repaid_units,
    held,
    tr_liq,
    tr_rep,
    trace_row,
    p,
    a_col,
    a_debt,
    j_star,
    i_star,
    repay_units,
    seize,
    repay_usd,
    sell,
    buy,
):
    """Apply one liquidation: repay, seize, order the sale of ``sell`` of the seized units (the
    liquidators hold the rest); with ``sell`` < 0 the liquidators are rational and their sale
    is decided with the round's other rational sales (:func:`_allocate_rational`; ``-sell`` is
    their cost per unit). The liquidators buy ``buy`` units of the debt asset in the round's
    batch (what they repay, unless they repay with what the sale yields). Inlined where it is
    called, with the arrays it writes as arguments (see the section's note; fewer than 31 of
    them: Python passes more as one tuple, which numba cannot inline)."""
    debt_units[j_star] -= repay_units
    col_units[i_star] -= seize
    op[p].liquidations += 1
    op[p].repaid_usd += repay_usd
    op[p].liquidated_usd += repay_usd
    op[p].seized_usd += seize * pa[PA_ORACLE, p, a_col]
    seized_units[p, a_col] += seize
    repaid_units[p, a_debt] += repay_units
    pa[PA_REPAY, p, a_debt] += repay_units
    if buy > 0.0:
        _order_to(sell_total, sell_c, buy_total, buy_c, pa, p, a_debt, -buy)
    if sell < 0.0:  # held until the round's rational sales are allocated
        r = rat_count[0]
        rat[r].protocol = p
        rat[r].asset = a_col
        rat[r].seize = seize
        rat[r].cost = -sell
        rat_count[0] = r + 1
        held[p, a_col] += seize
    else:
        _order_to(sell_total, sell_c, buy_total, buy_c, pa, p, a_col, sell)
        held[p, a_col] += seize - sell
    xp[p].acted = 1
    if trace_row >= 0:
        tr_liq[trace_row, p] += 1
        tr_rep[trace_row, p] += repay_usd


@njit(**SMALL)
def _close_if_empty(
    status, col_start, col_units, debt_start, debt_asset, debt_units, oracle, written_off, op, i, p
):
    """After a liquidation: close the position with bad debt when it has debt and no
    collateral left."""
    # --- round: settle: debt with no collateral left is bad debt ---
    for k in range(col_start[i], col_start[i + 1]):
        if col_units[k] > 0.0:
            return
    written = 0.0
    for k in range(debt_start[i], debt_start[i + 1]):
        if debt_units[k] > 0.0:
            a = debt_asset[k]
            written += debt_units[k] * oracle[p, a]
            written_off[p, a] += debt_units[k]
            debt_units[k] = 0.0
    op[p].bad_debt_usd += written
    op[p].closed_positions += 1
    status[i] = POS_CLOSED


@njit(**HOT)
def lending_round(L, Pr, A, V, B, PS, X, O_, visit, n, trace_row, eps, tol):
    """One lending round over the open positions ``visit[:n]``.

    ``visit`` is the index's answer to "which positions can a price move have made eligible"
    (ascending, as a full scan visits them), or every position. Measures each protocol's
    shortfall at the round-start oracle and liquidates every eligible position once (Jacobi:
    decisions use round-start state only; each position is touched once, so updating it in
    place is equivalent). Liquidators decline unprofitable liquidations; with limited capital
    the most profitable go first (second pass). A health factor within the relative tolerance
    ``tol`` of a threshold is at it (docs/model.md 3).
    """
    status = L.status
    protocol = L.protocol
    col_start = L.col_start
    col_asset = L.col_asset
    col_units = L.col_units
    debt_start = L.debt_start
    debt_asset = L.debt_asset
    debt_units = L.debt_units
    lt_cut = L.lt_cut
    lt = Pr.lt
    bonus = Pr.bonus
    rec = Pr.rec
    route_on = Pr.route_on
    route = Pr.route
    pa = X.pa
    oracle = pa[PA_ORACLE]
    adj = pa[PA_ADJ]
    xp = X.p
    vq = X.vq
    sell_total = X.sell
    sell_c = X.sell_c
    buy_total = X.buy
    buy_c = X.buy_c
    rat = X.rat
    rat_count = X.rat_count
    cand = X.cand
    paused = PS.paused
    op = O_.p
    seized_units = O_.seized_units
    repaid_units = O_.repaid_units
    written_off = O_.written_off_units
    held = O_.held_units
    tr_liq = O_.trace_liquidations
    tr_rep = O_.trace_repaid_usd
    n_cand = 0
    # A run of liquidations in one group (protocol, collateral, debt: the book is sorted so,
    # and a round visits a group's positions one after another) keeps its sums in registers
    # and writes them back when the group changes (_write_run). A load, an add and a store
    # per sum and liquidation cost about a tenth of the round at 10^5 positions: LLVM cannot
    # tell the sums' arrays from the positions' ones, so it reloaded around every store.
    run_p = np.int64(-1)
    run_c = np.int64(-1)
    run_d = np.int64(-1)
    r_n = np.int64(0)
    r_repaid_usd = 0.0
    r_liquidated_usd = 0.0
    r_seized_usd = 0.0
    r_seized = 0.0
    r_repaid = 0.0
    r_pa_repay = 0.0
    r_held = 0.0
    r_sell = 0.0
    r_sell_c = 0.0
    r_pa_sells = 0.0
    r_orders_c = 0.0
    r_buy = 0.0
    r_buy_c = 0.0
    r_pa_buys = 0.0
    r_orders_d = 0.0
    for jj in range(n):
        i = visit[jj]
        if status[i] != POS_OPEN:
            continue
        # int64 (the book stores int32): the helpers below are compiled for one signature
        p = np.int64(protocol[i])
        # --- round: value the position at the protocol's oracle ---
        debt_value, j_star, col_value, col_adj, i_star = _value_legs(
            col_start,
            col_asset,
            col_units,
            debt_start,
            debt_asset,
            debt_units,
            lt_cut,
            lt,
            oracle,
            adj,
            i,
            p,
        )
        if j_star < 0:
            continue  # no debt: a pure supplier is never liquidated
        if debt_value > col_value:
            xp[p].shortfall += debt_value - col_value
        # --- round: find eligible positions (HF < 1, beyond the tolerance) ---
        hf = col_adj / debt_value
        if hf >= 1.0 - tol or i_star < 0:
            continue  # a decimal HF of 1 that rounds to 0.9999999999999999 is not below 1
        if paused[p] == 1:  # circuit breaker: the liquidation waits
            xp[p].deferred_n += 1
            xp[p].deferred_usd += debt_value
            continue
        # --- round: liquidate: largest debt j*, largest collateral i*, close factor ---
        a_col = np.int64(col_asset[i_star])
        p_col = oracle[p, a_col]
        a_debt = np.int64(debt_asset[j_star])
        p_debt = oracle[p, a_debt]
        b = bonus[p, a_col]
        # at or below the full-close threshold (Aave v3: HF <= 0.95), within the tolerance
        cf = 1.0 if hf <= rec[p].full_close_hf * (1.0 + tol) else rec[p].close_factor
        by_debt = cf * debt_units[j_star] * p_debt
        by_col = col_units[i_star] * p_col / (1.0 + b)
        if by_debt <= by_col:
            repay_usd = by_debt
            repay_units = cf * debt_units[j_star]
            seize = min(repay_usd * (1.0 + b) / p_col, col_units[i_star])
        else:
            repay_usd = by_col
            repay_units = min(repay_usd / p_debt, debt_units[j_star])
            seize = col_units[i_star]
        # --- round: the debt the liquidators repay: bought on its market (docs/model.md 3) ---
        p_mkt = A[a_debt].price  # they pay the market, not the oracle
        cost = repay_units * p_mkt
        buy = repay_units if _debt_bought(A, a_debt, a_col) else 0.0
        # --- round: liquidators: profitable at the current market, within their capital ---
        sell = seize
        profit = 0.0
        mode = rec[p].liq_mode
        capital = rec[p].capital
        if mode == LIQ_RATIONAL:
            # alone at the round-start market it would sell every unit that fetches at least
            # its cost and hold the rest (valued at cost); what it sells with the round's other
            # liquidators is decided after every decision (_allocate_rational)
            # a seized unit costs p_col / (1 + b) x what a unit of debt costs over its oracle
            # price (cost / seize, written so that equal costs are equal to the bit: they rank
            # and share the market as ties)
            per_unit = p_col / (1.0 + b) * (p_mkt / p_debt)
            c = per_unit * (1.0 - tol)
            alone = units_above(A, V, B, route_on, route, p, a_col, c, seize, eps)
            if alone < 0.0:
                op[p].skipped_unprofitable += 1
                continue
            # the gain on the units sold; the units held count at their cost
            quote = asset_sell_quote(A, V, B, route_on, route, vq, p, a_col, alone, eps)
            profit = quote - alone * per_unit
            sell = -c
        elif mode == LIQ_ATOMIC or capital < np.inf:
            profit = asset_sell_quote(A, V, B, route_on, route, vq, p, a_col, seize, eps) - cost
        # a liquidation that breaks even (within the tolerance) is not a loss
        if mode != LIQ_ANY_LOSS and profit < rec[p].min_profit - tol * cost:
            op[p].skipped_unprofitable += 1
            continue
        if HAS_CAPITAL:  # noqa: SIM102 (numba prunes `if CONST:` alone, before typing)
            if capital < np.inf:
                cand[n_cand].pos = i
                cand[n_cand].j = j_star
                cand[n_cand].k = i_star
                cand[n_cand].repay_units = repay_units
                cand[n_cand].seize = seize
                cand[n_cand].repay_usd = repay_usd
                cand[n_cand].profit = profit
                cand[n_cand].sell = sell
                cand[n_cand].buy = buy
                n_cand += 1
                continue
        if p != run_p or a_col != run_c or a_debt != run_d:
            if run_p >= 0:  # the last group's run ends
                _write_run(
                    op,
                    seized_units,
                    repaid_units,
                    pa,
                    held,
                    sell_total,
                    sell_c,
                    buy_total,
                    buy_c,
                    run_p,
                    run_c,
                    run_d,
                    r_n,
                    r_repaid_usd,
                    r_liquidated_usd,
                    r_seized_usd,
                    r_seized,
                    r_repaid,
                    r_pa_repay,
                    r_held,
                    r_sell,
                    r_sell_c,
                    r_pa_sells,
                    r_orders_c,
                    r_buy,
                    r_buy_c,
                    r_pa_buys,
                    r_orders_d,
                )
                run_p = np.int64(-1)
            if a_col != a_debt:  # else one sum (PA_ORDERS) for two: left in memory
                run_p = p
                run_c = a_col
                run_d = a_debt
                r_n = op[p].liquidations
                r_repaid_usd = op[p].repaid_usd
                r_liquidated_usd = op[p].liquidated_usd
                r_seized_usd = op[p].seized_usd
                r_seized = seized_units[p, a_col]
                r_repaid = repaid_units[p, a_debt]
                r_pa_repay = pa[PA_REPAY, p, a_debt]
                r_held = held[p, a_col]
                r_sell = sell_total[a_col]
                r_sell_c = sell_c[a_col]
                r_pa_sells = pa[PA_SELLS, p, a_col]
                r_orders_c = pa[PA_ORDERS, p, a_col]
                r_buy = buy_total[a_debt]
                r_buy_c = buy_c[a_debt]
                r_pa_buys = pa[PA_BUYS, p, a_debt]
                r_orders_d = pa[PA_ORDERS, p, a_debt]
        if run_p < 0:
            _liquidate(
                col_units,
                debt_units,
                pa,
                xp,
                sell_total,
                sell_c,
                buy_total,
                buy_c,
                rat,
                rat_count,
                op,
                seized_units,
                repaid_units,
                held,
                tr_liq,
                tr_rep,
                trace_row,
                p,
                a_col,
                a_debt,
                j_star,
                i_star,
                repay_units,
                seize,
                repay_usd,
                sell,
                buy,
            )
        else:  # what _liquidate does, on the run's sums
            debt_units[j_star] -= repay_units
            col_units[i_star] -= seize
            r_n += 1
            r_repaid_usd += repay_usd
            r_liquidated_usd += repay_usd
            r_seized_usd += seize * oracle[p, a_col]
            r_seized += seize
            r_repaid += repay_units
            r_pa_repay += repay_units
            if buy > 0.0:  # _order_to(..., a_debt, -buy)
                r_buy, r_buy_c = _add_to(r_buy, r_buy_c, buy)
                r_pa_buys -= -buy
                r_orders_d += -buy
            if sell < 0.0:  # held until the round's rational sales are allocated
                r = rat_count[0]
                rat[r].protocol = p
                rat[r].asset = a_col
                rat[r].seize = seize
                rat[r].cost = -sell
                rat_count[0] = r + 1
                r_held += seize
            else:  # _order_to(..., a_col, sell)
                if sell > 0.0:
                    r_sell, r_sell_c = _add_to(r_sell, r_sell_c, sell)
                    r_pa_sells += sell
                r_orders_c += sell
                r_held += seize - sell
            xp[p].acted = 1
            if trace_row >= 0:
                tr_liq[trace_row, p] += 1
                tr_rep[trace_row, p] += repay_usd
        _close_if_empty(
            status,
            col_start,
            col_units,
            debt_start,
            debt_asset,
            debt_units,
            oracle,
            written_off,
            op,
            i,
            p,
        )
    if run_p >= 0:
        _write_run(
            op,
            seized_units,
            repaid_units,
            pa,
            held,
            sell_total,
            sell_c,
            buy_total,
            buy_c,
            run_p,
            run_c,
            run_d,
            r_n,
            r_repaid_usd,
            r_liquidated_usd,
            r_seized_usd,
            r_seized,
            r_repaid,
            r_pa_repay,
            r_held,
            r_sell,
            r_sell_c,
            r_pa_sells,
            r_orders_c,
            r_buy,
            r_buy_c,
            r_pa_buys,
            r_orders_d,
        )
    # liquidators with limited capital act on X.cand next (_liquidate_within_capital, called
    # by run_cascade: it allocates, which a function without reference counting cannot call)
    X.cand_count[0] = n_cand


@njit(**ALLOC)
def _liquidate_within_capital(L, Pr, X, O_, trace_row):
    """Liquidators with limited capital take the most profitable liquidations first (ties:
    account name), the last one partly; the rest are skipped this round."""
    status = L.status
    protocol = L.protocol
    cand = X.cand
    pa = X.pa
    op = O_.p
    n = X.cand_count[0]
    rank = np.empty(n, dtype=np.int64)
    neg_profit = np.empty(n)
    proto = np.empty(n, dtype=np.int64)
    for c in range(n):
        rank[c] = L.rank[cand[c].pos]
        neg_profit[c] = -cand[c].profit
        proto[c] = protocol[cand[c].pos]
    # by protocol, then the most profitable, then account name (rank is unique)
    order = _sorted_order(proto, neg_profit, rank)
    budget = np.empty(Pr.rec.shape[0])
    for p in range(budget.shape[0]):
        budget[p] = Pr.rec[p].capital
    for c in order:
        i = cand[c].pos
        p = protocol[i]
        repay = cand[c].repay_usd
        if budget[p] <= 0.0:
            op[p].skipped_capital += 1
            continue
        scale = 1.0 if repay <= budget[p] else budget[p] / repay
        # the marginal liquidation spends what is left: a rounding crumb of the subtraction
        # must not let one more position through
        budget[p] = budget[p] - repay if scale == 1.0 else 0.0
        j = cand[c].j
        k = cand[c].k
        _liquidate(
            L.col_units,
            L.debt_units,
            pa,
            X.p,
            X.sell,
            X.sell_c,
            X.buy,
            X.buy_c,
            X.rat,
            X.rat_count,
            op,
            O_.seized_units,
            O_.repaid_units,
            O_.held_units,
            O_.trace_liquidations,
            O_.trace_repaid_usd,
            trace_row,
            p,
            L.col_asset[k],
            L.debt_asset[j],
            j,
            k,
            cand[c].repay_units * scale,
            cand[c].seize * scale,
            repay * scale,
            # a rational sale is allocated later (its cost per unit does not scale)
            cand[c].sell * scale if cand[c].sell >= 0.0 else cand[c].sell,
            cand[c].buy * scale,
        )
        _close_if_empty(
            status,
            L.col_start,
            L.col_units,
            L.debt_start,
            L.debt_asset,
            L.debt_units,
            pa[PA_ORACLE],
            O_.written_off_units,
            op,
            i,
            p,
        )


# --- cdp (MODEL.md §3 cdp) -------------------------------------------------------------------
# CDP vaults: whole-vault auctions, zero-bid auctions under stress.
# ---------------------------------------------------------------------------------------------


@njit(**SMALL)
def _vault_value(C, pa, i, p):
    """(collateral value, the largest dynamic-risk adjustment over its legs; 0 without legs)."""
    col = 0.0
    adj = 0.0
    first = True
    for k in range(C.col_start[i], C.col_start[i + 1]):
        if C.col_units[k] > 0.0:
            a = C.col_asset[k]
            col += C.col_units[k] * pa[PA_ORACLE, p, a]
            adj = pa[PA_ADJ, p, a] if first else max(adj, pa[PA_ADJ, p, a])
            first = False
    return col, adj


@njit(**HELPER)
def cdp_shortfall(C, xp, pa):
    for i in range(C.protocol.shape[0]):
        if C.status[i] == POS_CLOSED or C.debt[i] <= 0.0:
            continue
        p = C.protocol[i]
        debt_value = C.debt[i] * xp[p].par
        col, _ = _vault_value(C, pa, i, p)
        if debt_value > col:
            xp[p].shortfall += debt_value - col


@njit(**HELPER)
def cdp_round(C, Pr, A, V, B, PS, X, O_, trace_row, eps, tol, lo, hi):
    """Start auctions of vaults below the liquidation ratio; send this round's lots to market
    (or, when the market is too stressed for bidders, to keepers at a discount)."""
    if hi <= lo:
        return
    off = X.ix_offsets[1]
    X.pa[PA_LOT, :, :] = 0.0
    X.pai[PAI_STRESSED, :, :] = 0
    any_auction = False
    # --- round: value vaults; start auctions below the liquidation ratio ---
    for j in range(lo, hi):
        i = X.active[j] - off
        if C.status[i] == POS_CLOSED:
            continue
        p = C.protocol[i]
        s_price = X.p[p].par
        debt_value = C.debt[i] * s_price
        col, adj = _vault_value(C, X.pa, i, p)
        if debt_value > col:
            X.p[p].shortfall += debt_value - col
        if C.status[i] == POS_OPEN:
            ratio = (Pr.rec[p].liq_ratio + C.ratio_add[i]) * (1.0 + adj)
            if C.debt[i] <= 0.0 or col >= ratio * debt_value * (1.0 - tol):
                continue  # at the ratio (within the tolerance) is not below it
            if PS.paused[p] == 1:  # circuit breaker: no new auction this step
                X.p[p].deferred_n += 1
                X.p[p].deferred_usd += debt_value
                continue
            C.status[i] = POS_AUCTION
            C.tab[i] = C.debt[i] * (1.0 + Pr.rec[p].penalty)
            C.tab0[i] = C.tab[i]
            X.p[p].acted = 1
            O_.p[p].auctions += 1
            O_.p[p].liquidations += 1
            if trace_row >= 0:
                O_.trace_liquidations[trace_row, p] += 1
        # --- round: the lot: collateral worth the remaining tab at the oracle, pro rata ---
        if col <= 0.0:
            continue
        frac = min(1.0, C.tab[i] * s_price / col)
        for k in range(C.col_start[i], C.col_start[i + 1]):
            if C.col_units[k] > 0.0:
                X.pa[PA_LOT, p, C.col_asset[k]] += frac * C.col_units[k]
        any_auction = True
    if not any_auction:
        return
    # --- round: auction stress: bidders vanish when the lot would move the market too much ---
    for p in range(X.pa.shape[1]):
        for a in range(X.pa.shape[2]):
            lot = X.pa[PA_LOT, p, a]
            if lot <= 0.0:
                continue  # an asset without a market quotes at its price: never stressed
            quote = asset_sell_quote(A, V, B, Pr.route_on, Pr.route, X.vq, p, a, lot, eps)
            if 1.0 - quote / (lot * A[a].price) > Pr.rec[p].auction_max_slippage:
                X.pai[PAI_STRESSED, p, a] = 1
    # --- round: auction the lots ---
    for j in range(lo, hi):
        i = X.active[j] - off
        if C.status[i] != POS_AUCTION:
            continue
        p = C.protocol[i]
        col, _ = _vault_value(C, X.pa, i, p)
        if col <= 0.0:
            continue
        frac = min(1.0, C.tab[i] * X.p[p].par / col)
        zero_bid = False
        for k in range(C.col_start[i], C.col_start[i + 1]):
            c = C.col_units[k]
            if c <= 0.0:
                continue
            a = C.col_asset[k]
            if X.pai[PAI_STRESSED, p, a] == 1:
                # keepers win the lot for (1 - discount) of its value: 12 March 2020
                disc = Pr.rec[p].auction_discount
                units = c if disc >= 1.0 else min(1.0, frac / (1.0 - disc)) * c
                C.raised[i] += units * X.pa[PA_ORACLE, p, a] * (1.0 - disc)
                O_.p[p].keeper_paid_usd += units * X.pa[PA_ORACLE, p, a] * (1.0 - disc)
                O_.held_units[p, a] += units  # keepers hold what they won, off market
                C.col_units[k] -= units
                O_.seized_units[p, a] += units
                O_.p[p].seized_usd += units * X.pa[PA_ORACLE, p, a]
                O_.p[p].zero_bid_usd += units * X.pa[PA_ORACLE, p, a]
                zero_bid = True
            else:
                units = frac * c
                C.col_pending[k] = units
                _order(X, p, a, units)
        if zero_bid:
            O_.p[p].zero_bid_auctions += 1
            X.p[p].acted = 1
        # a lot sent to market counts as action once something of it fills (cdp_settle): an
        # exhausted market must not keep the round loop going


@njit(**HELPER)
def cdp_settle(C, Pr, X, O_, trace_row, lo, hi):
    """Credit what the auctions raised: debt first, then the penalty (income); close vaults
    whose tab is raised (the rest of the collateral goes back to the owner) or whose
    collateral is gone (the unraised debt is bad debt)."""
    off = X.ix_offsets[1]
    for j in range(lo, hi):
        i = X.active[j] - off
        if C.status[i] != POS_AUCTION:
            continue
        p = C.protocol[i]
        s = Pr.rec[p].stablecoin
        s_price = X.p[p].par
        for k in range(C.col_start[i], C.col_start[i + 1]):
            q = C.col_pending[k]
            if q > 0.0:
                a = C.col_asset[k]
                filled = q * X.a[a].sell_fill
                if filled > 0.0:
                    X.p[p].acted = 1
                C.raised[i] += filled * X.a[a].sell_avg
                C.col_units[k] -= filled
                O_.seized_units[p, a] += filled
                O_.p[p].seized_usd += filled * X.pa[PA_ORACLE, p, a]
                O_.p[p].proceeds_usd += filled * X.a[a].sell_avg
                C.col_pending[k] = 0.0
        O_.p[p].auction_raised_usd += C.raised[i]
        raised_units = C.raised[i] / s_price
        C.raised[i] = 0.0
        used = min(raised_units, C.tab[i])
        repay = min(used, C.debt[i])
        C.debt[i] -= repay
        C.tab[i] -= used
        O_.p[p].returned_usd += (raised_units - used) * s_price
        O_.repaid_units[p, s] += repay
        O_.p[p].repaid_usd += repay * s_price
        O_.p[p].liquidated_usd += repay * s_price
        O_.p[p].income_usd += (used - repay) * s_price
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
            O_.p[p].bad_debt_usd += C.debt[i] * s_price
            O_.written_off_units[p, s] += C.debt[i]
            if C.debt[i] > 0.0:  # the penalty alone unraised is lost income, not bad debt
                O_.p[p].closed_positions += 1
            C.debt[i] = 0.0
            C.tab[i] = 0.0
            C.status[i] = POS_CLOSED


# --- perp (MODEL.md §3 perp) -----------------------------------------------------------------
# Perpetual futures: close at market, insurance fund, auto-deleveraging.
# ---------------------------------------------------------------------------------------------


@njit(**HELPER)
def perp_shortfall(Pp, xp, pa):
    for i in range(Pp.protocol.shape[0]):
        if Pp.status[i] != POS_OPEN:
            continue
        p = Pp.protocol[i]
        equity = Pp.margin[i] + Pp.size[i] * (pa[PA_ORACLE, p, Pp.asset[i]] - Pp.entry[i])
        if equity < 0.0:
            xp[p].shortfall -= equity


@njit(**HELPER)
def perp_round(Pp, Pr, PS, X, O_, trace_row, tol, lo, hi):
    """Close every position whose equity is below maintenance margin: longs sell, shorts buy."""
    off = X.ix_offsets[2]
    for j in range(lo, hi):
        i = X.active[j] - off
        if Pp.status[i] != POS_OPEN:
            continue
        p = Pp.protocol[i]
        a = Pp.asset[i]
        o = X.pa[PA_ORACLE, p, a]
        size = Pp.size[i]
        equity = Pp.margin[i] + size * (o - Pp.entry[i])
        if equity < 0.0:
            X.p[p].shortfall -= equity
        mm = (Pr.rec[p].maintenance + Pp.mm_add[i]) * (1.0 + X.pa[PA_ADJ, p, a])
        if equity >= mm * abs(size) * o * (1.0 - tol):
            continue  # at the maintenance margin (within the tolerance) is not below it
        if PS.paused[p] == 1:  # circuit breaker: the close waits
            X.p[p].deferred_n += 1
            X.p[p].deferred_usd += abs(size) * o
            continue
        # --- round: close at market: longs sell, shorts buy ---
        Pp.pending[i] = size
        Pp.status[i] = POS_CLOSED
        _order(X, p, a, size)
        X.p[p].acted = 1
        O_.p[p].liquidations += 1
        if trace_row >= 0:
            O_.trace_liquidations[trace_row, p] += 1


@njit(**HELPER)
def perp_settle(Pp, Pr, X, O_, lo, hi):
    """Realise closed positions at the batch price; fees to the fund; deficits pooled by
    [protocol, asset, side] (side 0: a bankrupt long, 1: a bankrupt short)."""
    X.deficit[:, :, :] = 0.0
    any_deficit = False
    off = X.ix_offsets[2]
    for j in range(lo, hi):
        i = X.active[j] - off
        size = Pp.pending[i]
        if size == 0.0:
            continue
        p = Pp.protocol[i]
        a = Pp.asset[i]
        o = X.pa[PA_ORACLE, p, a]
        if size > 0.0:
            px = X.a[a].sell_avg if X.a[a].sell_fill > 0.0 else o
        else:
            px = X.a[a].buy_avg if X.a[a].buy_fill > 0.0 else o
        equity = Pp.margin[i] + size * (px - Pp.entry[i])
        fee = min(Pr.rec[p].liq_fee * abs(size) * o, max(0.0, equity))
        O_.p[p].income_usd += fee
        rest = equity - fee
        Pp.realized[i] = max(0.0, rest)
        if rest < 0.0:
            side = 0 if size > 0.0 else 1
            X.deficit[p, a, side] -= rest
            X.deficit[p, a, 2 + side] += abs(size) * px
            O_.p[p].deficit_usd -= rest
            any_deficit = True
        O_.p[p].liquidated_usd += abs(size) * px
        Pp.pending[i] = 0.0
    if any_deficit:
        perp_cover_deficits(Pp, Pr, X, O_)


@njit(**ALLOC)
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
        fund = max(0.0, Pr.rec[p].reserve + O_.p[p].income_usd - O_.p[p].bad_debt_usd)
        cover = min(total, fund)
        O_.p[p].bad_debt_usd += cover
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
        u = Pp.size[i] * (X.pa[PA_ORACLE, p, a] - Pp.entry[i])
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
                    O_.p[p].adl_usd += cut
                    # the bankrupt notional in the share of the pool's deficit the cuts paid
                    O_.p[p].adl_notional_usd += deficit[p, a, 2 + side] * cut / deficit[p, a, side]
                O_.p[p].bad_debt_usd += need[p, a, side] - cut
    for i in range(Pp.protocol.shape[0]):
        if Pp.status[i] != POS_OPEN:
            continue
        p = Pp.protocol[i]
        a = Pp.asset[i]
        u = Pp.size[i] * (X.pa[PA_ORACLE, p, a] - Pp.entry[i])
        if u > 0.0:
            r = ratio[p, a, 1 if Pp.size[i] > 0.0 else 0]
            if r > 0.0:
                # the cut is taken from the unrealised profit: the entry moves toward the mark
                Pp.entry[i] += u * r / Pp.size[i]
                Pp.adl_cut[i] += u * r
                X.ix_meta[2] = 1  # their health changed: the index is rebuilt next round


# --- leveraged (MODEL.md §3 leveraged) -------------------------------------------------------
# Leveraged vaults: deleverage to target, wind down at equity <= 0.
# ---------------------------------------------------------------------------------------------


@njit(**SMALL)
def _holdings_value(Lv, pa, i, p):
    h = 0.0
    for k in range(Lv.hold_start[i], Lv.hold_start[i + 1]):
        if Lv.hold_units[k] > 0.0:
            h += Lv.hold_units[k] * pa[PA_ORACLE, p, Lv.hold_asset[k]]
    return h


@njit(**HELPER)
def lev_shortfall(Lv, xp, pa):
    for i in range(Lv.protocol.shape[0]):
        if Lv.status[i] != POS_OPEN:
            continue
        p = Lv.protocol[i]
        h = _holdings_value(Lv, pa, i, p)
        if Lv.debt[i] > h:
            xp[p].shortfall += Lv.debt[i] - h


@njit(**HELPER)
def _lev_write_off(Lv, Pr, X, O_, i, p):
    """Close vault ``i`` with its debt unpaid: bad debt, and its lender's credit loss."""
    d = Lv.debt[i]
    O_.p[p].bad_debt_usd += d
    O_.p[p].closed_positions += 1
    lender = Pr.rec[p].lender
    if lender >= 0 and d > 0.0:
        O_.p[lender].credit_losses_usd += d
        X.p[p].credit_now = 1
    Lv.debt[i] = 0.0
    Lv.status[i] = POS_CLOSED


@njit(**HELPER)
def lev_round(Lv, Pr, X, O_, trace_row, tol, lo, hi):
    """Sell holdings pro rata back to the target leverage when above the maximum; sell
    everything when equity <= 0."""
    off = X.ix_offsets[3]
    for j in range(lo, hi):
        i = X.active[j] - off
        if Lv.status[i] != POS_OPEN:
            continue
        p = Lv.protocol[i]
        h = _holdings_value(Lv, X.pa, i, p)
        d = Lv.debt[i]
        if d > h:
            X.p[p].shortfall += d - h
        if d <= 0.0:
            continue  # unlevered: nothing to do
        e = h - d
        if e > 0.0 and h <= Pr.rec[p].max_leverage * e * (1.0 + tol):
            continue  # at the maximum leverage (within the tolerance) is not above it
        if h <= 0.0:  # nothing left to sell: the debt is lost
            _lev_write_off(Lv, Pr, X, O_, i, p)
            X.p[p].acted = 1
            continue
        # --- round: deleverage: sell X = H - target x E pro rata (everything when E <= 0) ---
        frac = 1.0 if e <= 0.0 else min(1.0, max(0.0, (h - Pr.rec[p].target_leverage * e) / h))
        for k in range(Lv.hold_start[i], Lv.hold_start[i + 1]):
            units = frac * Lv.hold_units[k]
            if units > 0.0:
                a = Lv.hold_asset[k]
                Lv.hold_pending[k] = units
                _order(X, p, a, units)
        # a deleveraging counts as a liquidation once some of its sale fills (lev_settle):
        # offering holdings to a market that takes none of them is not one


@njit(**HELPER)
def lev_settle(Lv, Pr, X, O_, trace_row, lo, hi):
    """Repay debt with the sale proceeds; a vault with debt and no holdings left is closed and
    its unpaid debt is a loss (bad debt; a credit loss of its lender when that is a protocol
    of the scenario). Proceeds beyond the debt (a sale filled above a stale oracle, or a
    vault selling everything at equity <= 0 that the market then valued higher) stay with the
    owner as cash: USD raised = USD repaid + USD returned (MODEL.md §6)."""
    off = X.ix_offsets[3]
    for j in range(lo, hi):
        i = X.active[j] - off
        if Lv.status[i] != POS_OPEN:
            continue
        p = Lv.protocol[i]
        proceeds = 0.0
        sold = False
        any_filled = False
        for k in range(Lv.hold_start[i], Lv.hold_start[i + 1]):
            q = Lv.hold_pending[k]
            if q > 0.0:
                a = Lv.hold_asset[k]
                filled = q * X.a[a].sell_fill
                if filled > 0.0:
                    X.p[p].acted = 1
                    any_filled = True
                proceeds += filled * X.a[a].sell_avg
                Lv.hold_units[k] -= filled
                O_.seized_units[p, a] += filled
                O_.p[p].seized_usd += filled * X.pa[PA_ORACLE, p, a]
                Lv.hold_pending[k] = 0.0
                sold = True
        if not sold:
            continue
        if any_filled:
            O_.p[p].liquidations += 1
            if trace_row >= 0:
                O_.trace_liquidations[trace_row, p] += 1
        repay = min(proceeds, Lv.debt[i])
        Lv.debt[i] -= repay
        Lv.cash[i] += proceeds - repay
        O_.p[p].returned_usd += proceeds - repay
        O_.p[p].repaid_usd += repay
        O_.p[p].liquidated_usd += proceeds
        O_.p[p].sales_usd += proceeds
        O_.p[p].proceeds_usd += proceeds
        if trace_row >= 0:
            O_.trace_repaid_usd[trace_row, p] += repay
        if Lv.debt[i] > 0.0 and _holdings_value(Lv, X.pa, i, p) <= 0.0:
            _lev_write_off(Lv, Pr, X, O_, i, p)


# --- options (MODEL.md §3 options) -----------------------------------------------------------
# Options vaults: delta hedging with Black–Scholes deltas.
# ---------------------------------------------------------------------------------------------


@njit(**HELPER)
def opt_mark(Op, Pr, PS, xp, pa):
    """Mark the written book to market: its loss is the vault's shortfall; the hedge targets
    (``PA_OPT_TARGET``, ``PA_OPT_UNITS``) at today's oracle."""
    n = Op.protocol.shape[0]
    if n == 0:
        return
    pa[PA_OPT_TARGET, :, :] = 0.0
    pa[PA_OPT_UNITS, :, :] = 0.0
    for _i in range(xp.shape[0]):
        xp[_i].opt_value = 0.0
    for i in range(n):
        p = Op.protocol[i]
        a = Op.asset[i]
        delta, value = bs_delta_value(
            Op.kind[i], pa[PA_ORACLE, p, a], Op.strike[i], Op.tau[i], Op.vol[i], Pr.rec[p].rate
        )
        # the vault is short the option: hedging it means holding +delta units
        pa[PA_OPT_TARGET, p, a] += Op.units[i] * delta
        pa[PA_OPT_UNITS, p, a] += Op.units[i]
        xp[p].opt_value += Op.units[i] * value
    for p in range(pa.shape[1]):
        if Pr.rec[p].kind != PROTO_OPTIONS:
            continue
        # --- round: mark to market: hedge P&L minus the change of the written book's value ---
        equity = PS.hedge_cash[p] - xp[p].opt_value + PS.liability0[p]
        for a in range(pa.shape[2]):
            equity += PS.hedge[p, a] * pa[PA_ORACLE, p, a]
        if equity < 0.0:
            xp[p].shortfall -= equity


@njit(**HELPER)
def opt_round(Op, Pr, PS, X):
    """Mark the written book to market (:func:`opt_mark`) and re-hedge every (vault,
    underlying) whose hedge is off target beyond the rebalance band."""
    if Op.protocol.shape[0] == 0:
        return
    opt_mark(Op, Pr, PS, X.p, X.pa)
    for p in range(X.pa.shape[1]):
        if Pr.rec[p].kind != PROTO_OPTIONS:
            continue
        # --- round: re-hedge beyond the band ---
        for a in range(X.pa.shape[2]):
            if X.pa[PA_OPT_UNITS, p, a] <= 0.0:
                continue
            d = X.pa[PA_OPT_TARGET, p, a] - PS.hedge[p, a]
            if abs(d) <= Pr.rec[p].band * X.pa[PA_OPT_UNITS, p, a]:
                continue
            X.pa[PA_HEDGE_PENDING, p, a] = d
            _order(X, p, a, -d)


@njit(**HELPER)
def opt_settle(PS, X, O_):
    for p in range(X.pa.shape[1]):
        for a in range(X.pa.shape[2]):
            d = X.pa[PA_HEDGE_PENDING, p, a]
            if d == 0.0:
                continue
            if d > 0.0:
                filled = d * X.a[a].buy_fill
                PS.hedge[p, a] += filled
                PS.hedge_cash[p] -= filled * X.a[a].buy_avg
            else:
                filled = -d * X.a[a].sell_fill
                PS.hedge[p, a] -= filled
                PS.hedge_cash[p] += filled * X.a[a].sell_avg
            O_.p[p].hedge_units += filled
            if filled > 0.0:
                X.p[p].acted = 1  # an order the market cannot take is not a hedge
            X.pa[PA_HEDGE_PENDING, p, a] = 0.0


# ---------------------------------------------------------------------------------------------
# Batch execution (MODEL.md §1): one order per asset; pegged assets through their ratio
# ---------------------------------------------------------------------------------------------


@njit(**SMALL)
def _ratio(A, V, a):
    """A pegged asset's ratio: its ratio market's price, or the fixed ratio."""
    if A[a].venue_count > 0:
        return V[A[a].venue_start].price
    return A[a].peg_ratio


@njit(**HELPER)
def _venue_trade(V, B, O_, v, q, side, eps):
    """One trade of ``q`` units on venue ``v``; returns (USD, units filled, slippage)."""
    before = V[v].price
    if side > 0:
        got, filled = venue_sell(V, B, v, q, eps)
        O_.v[v].sold_units += filled
        O_.v[v].proceeds_usd += got
        slip = filled * before - got
    else:
        got, filled = venue_buy(V, B, v, q, eps)
        O_.v[v].bought_units += filled
        O_.v[v].cost_usd += got
        slip = got - filled * before
    O_.v[v].slippage_usd += slip
    return got, filled, slip, filled * before


@njit(**HELPER)
def _side_units(A, X, p, a, side):
    """Units of asset ``a`` protocol ``p`` put on one side of the round's batch (side +1 sells,
    -1 buys), gross: its own orders, and its part of the units of ``a`` that its sales
    (purchases) of an asset pegged to ``a`` yielded (cost), in proportion to its gross units of
    that asset. A protocol that both sells and buys counts its units on each side."""
    layer = PA_SELLS if side > 0 else PA_BUYS
    units = X.pa[layer, p, a]
    for b in range(A.shape[0]):
        if A[b].kind != ASSET_PEGGED or A[b].peg_to != a or A[b].peg_route != 1:
            continue
        routed = side * X.a[b].routed  # units of a the pegged batch yielded (cost)
        total = X.sell[b] + X.sell_c[b] if side > 0 else X.buy[b] + X.buy_c[b]
        if routed > 0.0 and total > 0.0:
            units += routed * X.pa[layer, p, b] / total
    return units


@njit(**HELPER)
def _execute_venues(A, V, B, Pr, X, O_, a, q, side, eps):
    """A round's net order of ``q`` units (side +1 sells, -1 buys) on an asset with several
    venues: the shares of protocols with a fixed route first, then the rest split optimally.
    A protocol's share is its units on the net's side over all units on that side (gross: a
    protocol that also ordered the other side keeps its full weight, docs/model.md 3j).
    Returns (USD, units filled, slippage, filled units x each venue's price before its trade)."""
    first = A[a].venue_start
    count = A[a].venue_count
    side_total = 0.0
    unrouted = 0.0
    for v in range(first, first + count):
        X.vq[0, v] = 0.0
    for p in range(X.pa.shape[1]):
        f = _side_units(A, X, p, a, side)
        if f <= 0.0:
            continue
        side_total += f
        if Pr.route_on[p, a] == 0:
            unrouted += f
    if side_total > 0.0 and unrouted < side_total:
        for p in range(X.pa.shape[1]):
            if Pr.route_on[p, a] == 0:
                continue
            f = _side_units(A, X, p, a, side)
            if f > 0.0:
                share = q * f / side_total
                for v in range(first, first + count):
                    X.vq[0, v] += share * Pr.route[p, v]
    usd = 0.0
    unfilled = 0.0  # the split adds up to q exactly: only what a venue could not take is left
    slip = 0.0
    notional = 0.0
    for v in range(first, first + count):
        if X.vq[0, v] > 0.0:
            g, f, sl, nv = _venue_trade(V, B, O_, v, X.vq[0, v], side, eps)
            usd += g
            unfilled += X.vq[0, v] - f
            slip += sl
            notional += nv
    # the rest: the units of protocols without a route, exactly 0 when every one has a route
    # (q minus the fixed amounts would leave a float residual, and a residual on an order book
    # moves its price to the level it touches)
    rest = q if side_total <= 0.0 else q * (unrouted / side_total)
    if rest > 0.0:
        placed = route_split(V, B, first, count, rest, side, eps, X.vq[1])
        unfilled += rest - placed
        for v in range(first, first + count):
            if X.vq[1, v] > 0.0:
                g, f, sl, nv = _venue_trade(V, B, O_, v, X.vq[1, v], side, eps)
                usd += g
                unfilled += X.vq[1, v] - f
                slip += sl
                notional += nv
    filled = q - unfilled
    return usd, filled, slip, notional


@njit(**HELPER)
def _execute(A, V, B, Pr, X, O_, trace_row, eps, tol):
    """Execute the round's orders. Sells and buys of an asset cross at the round-start price;
    only the net goes to the market. A pegged asset's net goes through its ratio market (or
    converts at its ratio), and the units of its peg target it yields (or costs) join that
    asset's batch. Fills per side: ``X.sell_fill`` (share of units ordered) and ``X.sell_avg``
    (USD per filled unit); the same for buys."""
    n_a = A.shape[0]
    n_p = X.pa.shape[1]
    for p in range(n_p):
        for a in range(n_a):
            X.pai[PAI_MOVED_NOW, p, a] = 0
    for a in range(n_a):
        X.a[a].price_before = A[a].price
        X.a[a].sell_fill = 0.0
        X.a[a].buy_fill = 0.0
        X.a[a].sell_avg = 0.0
        X.a[a].buy_avg = 0.0
        X.a[a].routed = 0.0
        for p in range(n_p):
            X.pa[PA_FLOW, p, a] = X.pa[PA_ORDERS, p, a]
    # --- execution: pegged assets first (their net becomes flow in the peg target) ---
    for a in range(n_a):
        if not HAS_PEGS or A[a].kind != ASSET_PEGGED:
            continue
        s_units = X.sell[a] + X.sell_c[a]
        b_units = X.buy[a] + X.buy_c[a]
        if s_units <= 0.0 and b_units <= 0.0:
            continue
        to = A[a].peg_to
        r0 = _ratio(A, V, a)
        crossed = min(s_units, b_units)
        net = s_units - b_units
        X.a[a].crossed = crossed
        X.a[a].filled_s = crossed
        X.a[a].filled_b = crossed
        has_market = A[a].venue_count > 0
        v = A[a].venue_start
        if net > 0.0:
            if has_market:
                got, filled = venue_sell(V, B, v, net, eps)
                O_.a[a].slippage_usd += (filled * r0 - got) * A[to].price
            else:
                got, filled = net * r0, net
            X.a[a].filled_s += filled
            X.a[a].routed = got
            if A[a].peg_route == 1:
                _add(X.sell, X.sell_c, to, got)
                for p in range(n_p):
                    if X.pa[PA_ORDERS, p, a] > 0.0:
                        X.pa[PA_FLOW, p, to] += got * X.pa[PA_ORDERS, p, a] / s_units
        elif net < 0.0:
            if has_market:
                cost, filled = venue_buy(V, B, v, -net, eps)
                O_.a[a].slippage_usd += (cost - filled * r0) * A[to].price
            else:
                cost, filled = -net * r0, -net
            X.a[a].filled_b += filled
            X.a[a].routed = -cost
            if A[a].peg_route == 1:
                _add(X.buy, X.buy_c, to, cost)
                for p in range(n_p):
                    if X.pa[PA_ORDERS, p, a] < 0.0:
                        X.pa[PA_FLOW, p, to] -= cost * (-X.pa[PA_ORDERS, p, a]) / b_units
        # units that changed hands, each once: crossed and filled (an unfilled unit that is
        # offered again in a later round counts when it sells)
        O_.a[a].sold_units += X.a[a].filled_s if s_units > 0.0 else 0.0
        O_.a[a].bought_units += X.a[a].filled_b if b_units > 0.0 else 0.0
        O_.a[a].traded_notional_usd += (
            (X.a[a].filled_s if s_units > 0.0 else 0.0)
            + (X.a[a].filled_b if b_units > 0.0 else 0.0)
        ) * A[a].price
        # a move below the tolerance is rounding, not a protocol moving a price (depth, §5)
        if has_market and abs(V[v].price - r0) > tol * r0 and net != 0.0:
            for p in range(n_p):
                if X.pa[PA_ORDERS, p, a] * net > 0.0:
                    X.pai[PAI_MOVED_NOW, p, a] = 1
        if trace_row >= 0:
            O_.trace_net_units[trace_row, a] = net
    # --- execution: every asset that is not pegged ---
    for a in range(n_a):
        if A[a].kind == ASSET_PEGGED:
            continue
        s_units = X.sell[a] + X.sell_c[a]
        b_units = X.buy[a] + X.buy_c[a]
        if s_units <= 0.0 and b_units <= 0.0:
            continue
        p0 = A[a].price
        crossed = min(s_units, b_units)
        net = s_units - b_units
        s_filled = crossed
        b_filled = crossed
        proceeds = crossed * p0
        cost = crossed * p0
        moved = False
        # slippage_bps divides by this: the units traded (crossed on both sides, and the net
        # that filled) at the round-start price, except that a net order split across venues
        # counts at each venue's own price before its trade; an unfilled order trades nothing
        notional = 2.0 * crossed * p0
        if HAS_VENUES and A[a].kind == ASSET_MARKET and A[a].venue_count > 1:
            v = A[a].venue_start
            for w in range(v, v + A[a].venue_count):
                V[w].before = V[w].price
            if net != 0.0:
                # one call with the side as a value: constants would compile it twice
                side = np.int64(1) if net > 0.0 else np.int64(-1)
                usd, filled, slip, nv = _execute_venues(A, V, B, Pr, X, O_, a, abs(net), side, eps)
                notional += nv
                if side > 0:
                    proceeds += usd
                    s_filled += filled
                else:
                    cost += usd
                    b_filled += filled
                O_.a[a].slippage_usd += slip
            for w in range(v, v + A[a].venue_count):
                if abs(V[w].price - V[w].before) > tol * V[w].before:
                    moved = True
            A[a].price = V[v].price  # the primary venue's price is the asset's
        elif _traded(A, a):  # one venue: a market asset, or an issued token's own market
            v = A[a].venue_start
            if net > 0.0:
                got, filled = venue_sell(V, B, v, net, eps)
                proceeds += got
                s_filled += filled
                notional += filled * p0
                O_.a[a].slippage_usd += filled * p0 - got
                O_.v[v].sold_units += filled
                O_.v[v].proceeds_usd += got
                O_.v[v].slippage_usd += filled * p0 - got
            elif net < 0.0:
                paid, filled = venue_buy(V, B, v, -net, eps)
                cost += paid
                b_filled += filled
                notional += filled * p0
                O_.a[a].slippage_usd += paid - filled * p0
                O_.v[v].bought_units += filled
                O_.v[v].cost_usd += paid
                O_.v[v].slippage_usd += paid - filled * p0
            A[a].price = V[v].price  # one venue per asset: its price is the asset's
        else:
            # no market: the counterparty is the numeraire itself, at the price
            proceeds += max(net, 0.0) * p0
            cost += max(-net, 0.0) * p0
            notional += abs(net) * p0
            s_filled = s_units
            b_filled = b_units
        if s_units > 0.0:
            X.a[a].sell_fill = s_filled / s_units
            X.a[a].sell_avg = proceeds / s_filled if s_filled > 0.0 else p0
        if b_units > 0.0:
            X.a[a].buy_fill = b_filled / b_units
            X.a[a].buy_avg = cost / b_filled if b_filled > 0.0 else p0
        O_.a[a].sold_units += s_filled if s_units > 0.0 else 0.0
        O_.a[a].bought_units += b_filled if b_units > 0.0 else 0.0
        O_.a[a].sale_proceeds_usd += proceeds
        O_.a[a].purchase_cost_usd += cost
        O_.a[a].traded_notional_usd += notional
        if (abs(A[a].price - p0) > tol * p0 or moved) and net != 0.0:
            for p in range(n_p):
                if X.pa[PA_FLOW, p, a] * net > 0.0:
                    X.pai[PAI_MOVED_NOW, p, a] = 1
        if trace_row >= 0:
            O_.trace_net_units[trace_row, a] = net
    # --- execution: what a pegged asset's sellers got, buyers paid, in USD ---
    for a in range(n_a):
        if not HAS_PEGS or A[a].kind != ASSET_PEGGED:
            continue
        s_units = X.sell[a] + X.sell_c[a]
        b_units = X.buy[a] + X.buy_c[a]
        if s_units <= 0.0 and b_units <= 0.0:
            continue
        to = A[a].peg_to
        p0 = X.a[a].price_before
        usd_s = X.a[a].crossed * p0
        usd_b = X.a[a].crossed * p0
        if A[a].peg_route == 0:  # sellers keep the units of the target: worth its price
            usd_s += max(X.a[a].routed, 0.0) * X.a[to].price_before
            usd_b += max(-X.a[a].routed, 0.0) * X.a[to].price_before
        elif X.a[a].routed > 0.0:
            usd_s += X.a[a].routed * X.a[to].sell_fill * X.a[to].sell_avg
        elif X.a[a].routed < 0.0:
            usd_b += -X.a[a].routed * X.a[to].buy_avg
        if s_units > 0.0:
            X.a[a].sell_fill = X.a[a].filled_s / s_units
            X.a[a].sell_avg = usd_s / X.a[a].filled_s if X.a[a].filled_s > 0.0 else p0
        if b_units > 0.0:
            X.a[a].buy_fill = X.a[a].filled_b / b_units
            X.a[a].buy_avg = usd_b / X.a[a].filled_b if X.a[a].filled_b > 0.0 else p0
        O_.a[a].sale_proceeds_usd += usd_s if s_units > 0.0 else 0.0
        O_.a[a].purchase_cost_usd += usd_b if b_units > 0.0 else 0.0
        # target units a pegged sale yielded that the target's market did not take stay with
        # the sellers (sell_target: true)
        if A[a].peg_route == 1 and X.a[a].routed > 0.0 and s_units > 0.0:
            left = X.a[a].routed * (1.0 - X.a[to].sell_fill)
            if left > 0.0:
                for p in range(n_p):
                    share = X.pa[PA_SELLS, p, a] / s_units
                    if share > 0.0:
                        _unfilled(Pr, O_, p, to, left * share)
    # --- execution: what no market took, per seller ---
    for a in range(n_a):
        for p in range(n_p):
            if X.pa[PA_SELLS, p, a] > 0.0 and X.a[a].sell_fill < 1.0:
                _unfilled(Pr, O_, p, a, X.pa[PA_SELLS, p, a] * (1.0 - X.a[a].sell_fill))
            if X.pa[PA_BUYS, p, a] > 0.0 and X.a[a].buy_fill < 1.0:
                _unfilled(Pr, O_, p, a, -X.pa[PA_BUYS, p, a] * (1.0 - X.a[a].buy_fill))
    if HAS_PEGS:
        _update_pegged(A, V)


@njit(**SMALL)
def _unfilled(Pr, O_, p, a, units):
    """``units`` of protocol ``p``'s order of asset ``a`` found no counterparty (+ a sale, - a
    purchase). Lending liquidators keep unsold seized units; a perp venue closes the position at
    the batch price anyway: both are reported as unfilled. A cdp lot, a deleveraging sale and a
    hedge stay with their protocol and are offered again next round: not counted (yet)."""
    kind = Pr.rec[p].kind
    if kind in (PROTO_LENDING, PROTO_PERP):
        O_.a[a].unfilled_units += abs(units)
    if kind == PROTO_LENDING and units > 0.0:
        O_.held_units[p, a] += units


@njit(**HELPER)
def _update_pegged(A, V):
    """Pegged assets: ratio x the price of the asset they are pegged to."""
    if not HAS_PEGS:
        return
    for a in range(A.shape[0]):
        if A[a].kind == ASSET_PEGGED:
            A[a].price = _ratio(A, V, a) * A[A[a].peg_to].price


@njit(**HELPER)
def _update_issued(A, V, B, PS, eps):
    """Issued tokens: backing price x (1 - the issuer's haircut). A token with a market of its
    own trades there: a change of that fundamental value (its backing moved, its issuer's
    haircut changed) re-centres the market by the same factor - the deficit depegs it through
    its market - and moves the band's path with it; its own sales and shocks move it too."""
    if not HAS_PEGS:
        return
    for a in range(A.shape[0]):
        if A[a].kind != ASSET_ISSUED:
            continue
        base = 1.0 if A[a].backing < 0 else A[A[a].backing].price
        if A[a].venue_count == 0:
            A[a].price = max(base * (1.0 - PS.haircut[A[a].issuer]), base * eps)
            continue
        v = A[a].venue_start
        fundamental = base * max(1.0 - PS.haircut[A[a].issuer], eps)
        if fundamental != A[a].fundamental:
            ratio = fundamental / A[a].fundamental
            V[v].shocked *= ratio
            venue_recenter(V, B, v, V[v].price * ratio, 1.0)
            A[a].fundamental = fundamental
        A[a].price = V[v].price


@njit(**HELPER)
def _update_haircuts(Pr, PS, xp):
    """Haircut = uncovered loss / liabilities; the uncovered loss is bad debt + credit losses +
    shortfall - reserve - income (at the round's start: ``X.p``)."""
    for p in range(Pr.rec.shape[0]):
        x = xp[p]
        uncovered = x.bad_start + x.credit_start + x.shortfall - Pr.rec[p].reserve - x.income_start
        if uncovered <= 0.0:
            h = 0.0
        elif Pr.rec[p].liabilities <= 0.0:
            h = 1.0
        else:
            h = min(1.0, uncovered / Pr.rec[p].liabilities)
        xp[p].haircut_changed = 0
        if h != PS.haircut[p]:
            PS.haircut[p] = h
            xp[p].haircut_changed = 1


# ---------------------------------------------------------------------------------------------
# Steps: recovery, shocks; oracles, circuit breakers, dynamic risk
# ---------------------------------------------------------------------------------------------


@njit(**HELPER)
def _apply_recovery(A, V, B, xa, f):
    """Between steps: a fraction ``f`` of each market's endogenous impact reverts."""
    for a in range(A.shape[0]):
        # an issued token's market follows its backing (and issuer) through its fundamental
        # value; its own impact does not revert
        if A[a].venue_count == 0 or A[a].kind == ASSET_ISSUED:
            continue
        v = A[a].venue_start
        if A[a].venue_count > 1:  # each venue toward its own exogenous price
            for w in range(v, v + A[a].venue_count):
                venue_recenter(V, B, w, V[w].price + f * (V[w].shocked - V[w].price), 1.0)
            A[a].price = V[v].price
            continue
        if HAS_PEGS and A[a].kind == ASSET_PEGGED:
            target = V[v].price + f * (xa[a].shocked_ratio - V[v].price)
        else:
            target = A[a].price + f * (xa[a].shocked - A[a].price)
            A[a].price = target
        venue_recenter(V, B, v, target, 1.0)


@njit(**HELPER)
def _apply_shock(A, V, B, PS, xa, path, t, eps):
    """Start of step ``t``: apply the exogenous returns and liquidity multipliers. A return on
    a pegged asset moves its ratio (a depeg); derived prices follow their parents."""
    for a in range(A.shape[0]):
        kind = A[a].kind
        r = path.returns[t, a]
        m = path.liquidity[t, a]
        if HAS_PEGS and kind == ASSET_ISSUED:
            if A[a].venue_count > 0:  # a token with its own market can be shocked (a depeg)
                v = A[a].venue_start
                xa[a].shocked_ratio *= 1.0 + r
                V[v].shocked *= 1.0 + r
                venue_recenter(V, B, v, V[v].price * (1.0 + r), m)
                A[a].price = V[v].price
            continue
        if HAS_PEGS and kind == ASSET_PEGGED:
            xa[a].shocked_ratio *= 1.0 + r
            if A[a].venue_count > 0:
                v = A[a].venue_start
                V[v].shocked *= 1.0 + r  # the ratio's exogenous path (its band follows it)
                venue_recenter(V, B, v, V[v].price * (1.0 + r), m)
            else:
                A[a].peg_ratio *= 1.0 + r
            continue
        xa[a].shocked *= 1.0 + r
        new_price = A[a].price * (1.0 + r)
        if HAS_VENUES and kind == ASSET_MARKET and A[a].venue_count > 1:
            # every venue moves with the asset, and by its own `ASSET@VENUE` return on top
            v0 = A[a].venue_start
            for v in range(v0, v0 + A[a].venue_count):
                move = (1.0 + r) * (1.0 + path.venue_returns[t, v])
                V[v].shocked *= move
                venue_recenter(V, B, v, V[v].price * move, m * path.venue_liquidity[t, v])
            new_price = V[v0].price
        elif kind == ASSET_MARKET:
            v = A[a].venue_start
            V[v].shocked *= 1.0 + r
            venue_recenter(V, B, v, new_price, m)
            new_price = V[v].price
        A[a].price = new_price
    if not HAS_PEGS:
        return
    for a in range(A.shape[0]):
        if A[a].kind == ASSET_PEGGED:
            xa[a].shocked = xa[a].shocked_ratio * xa[A[a].peg_to].shocked
    for a in range(A.shape[0]):
        if A[a].kind == ASSET_ISSUED:
            base = 1.0 if A[a].backing < 0 else xa[A[a].backing].shocked
            xa[a].shocked = base * xa[a].shocked_ratio  # its own shocks (1 without a market)
    _update_pegged(A, V)
    _update_issued(A, V, B, PS, eps)


@njit(**TESTED)
def _set_bands(V, eps):
    """The price band (docs/model.md 2, the price floor): no trade takes a venue below eps x
    the price the exogenous path alone gives it (its shocked price) or above that / eps. The
    band moves with every shock, which is never clamped; however many rounds a cascade runs,
    its impact stays within a factor 1/eps of the path."""
    for v in range(V.shape[0]):
        V[v].lo = V[v].shocked * eps
        V[v].hi = V[v].shocked / eps


@njit(**HELPER)
def _push_history(A, hist, hist_count):
    """Record the round-start prices (lagged and twap oracles read them)."""
    h = hist.shape[0]
    c = hist_count[0]
    for a in range(A.shape[0]):
        hist[c % h, a] = A[a].price
    hist_count[0] = c + 1


@njit(**HELPER)
def _venue_oracle(A, V, Pr, vtmp, p, a, kind):
    """A spot (on a listed venue), median or vwap price of asset ``a`` over its venues, as
    protocol ``p`` reads it (its listed venues; all of them when it lists none of the asset's)."""
    first = A[a].venue_start
    count = A[a].venue_count
    if count <= 1 or A[a].kind != ASSET_MARKET:
        return A[a].price
    listed = 0
    for v in range(first, first + count):
        listed += Pr.oracle_venue[p, v]
    n = 0
    weight = 0.0
    total = 0.0
    for v in range(first, first + count):
        if listed > 0 and Pr.oracle_venue[p, v] == 0:
            continue
        if kind == ORACLE_SPOT:
            return V[v].price
        # insertion sort into vtmp[:n] (at most 16 venues)
        k = n
        while k > 0 and vtmp[k - 1] > V[v].price:
            vtmp[k] = vtmp[k - 1]
            k -= 1
        vtmp[k] = V[v].price
        n += 1
        weight += V[v].weight
        total += V[v].weight * V[v].price
    if kind == ORACLE_SPOT:
        return A[a].price
    if kind == ORACLE_VWAP:
        return total / weight
    if n % 2 == 1:
        return vtmp[n // 2]
    return 0.5 * (vtmp[n // 2 - 1] + vtmp[n // 2])


@njit(**HELPER)
def _market_oracles(A, out):
    """Every protocol reads the market price itself (marking to market) into ``out`` [P, A]."""
    for p in range(out.shape[0]):
        for a in range(out.shape[1]):
            out[p, a] = A[a].price


@njit(**HELPER)
def _set_oracles(A, V, Pr, hist, hist_count, step_end, xa, vtmp, t, out):
    """Every protocol's oracle prices into ``out`` [P, A]: spot, lagged by rounds or steps,
    a twap over rounds, the exogenous path only, or aggregated over venues; then the feed's
    floor."""
    h = hist.shape[0]
    c = hist_count[0]
    for p in range(out.shape[0]):
        kind = Pr.rec[p].oracle_kind
        n = Pr.rec[p].oracle_n
        for a in range(out.shape[1]):
            if not HAS_FEEDS or kind in (ORACLE_SPOT, ORACLE_MEDIAN, ORACLE_VWAP):
                o = A[a].price  # one venue (or none): the market price
                if HAS_VENUES and A[a].venue_count > 1:
                    o = _venue_oracle(A, V, Pr, vtmp, p, a, kind)
            elif kind == ORACLE_LAG_ROUNDS:
                o = hist[max(0, c - 1 - n) % h, a]
            elif kind == ORACLE_LAG_STEPS:
                o = step_end[max(0, t - n + 1), a]
            elif kind == ORACLE_TWAP:
                m = min(n, c)
                total = 0.0
                for j in range(m):
                    total += hist[(c - 1 - j) % h, a]
                o = total / m if m > 0 else A[a].price
            else:  # ORACLE_EXTERNAL
                o = xa[a].shocked
            if Pr.oracle_floor[p, a] > 0.0:
                o = max(o, Pr.oracle_floor[p, a])
            out[p, a] = o


@njit(**HELPER)
def _oracles_moving(A, Pr, hist, hist_count, tol):
    """Will a round-based oracle (lagged by rounds, twap) still change if prices stay where
    they are? It will while its window holds a price other than today's: then a round without
    action is not the fixed point yet - the feed has to catch up first."""
    if not HAS_FEEDS:
        return False
    h = hist.shape[0]
    c = hist_count[0]
    for p in range(Pr.rec.shape[0]):
        kind = Pr.rec[p].oracle_kind
        if kind != ORACLE_LAG_ROUNDS and kind != ORACLE_TWAP:
            continue
        # the entries a lag of n will still read, or a twap window of n still averages
        first = (
            max(0, c - 1 - Pr.rec[p].oracle_n)
            if kind == ORACLE_LAG_ROUNDS
            else max(0, c - Pr.rec[p].oracle_n)
        )
        for a in range(A.shape[0]):
            if Pr.uses[p, a] == 0:
                continue
            now = max(A[a].price, Pr.oracle_floor[p, a])
            for k in range(first, c):
                seen = max(hist[k % h, a], Pr.oracle_floor[p, a])
                if abs(seen - now) > tol * now:
                    return True
    return False


@njit(**SMALL)
def _read_rounds(Pr, q, r):
    """The rounds (first, last; empty when first > last) whose price moves protocol ``q``'s
    oracle reads for the first time in round ``r`` (docs/model.md 4): spot and venue feeds the
    round before; a feed lagged n rounds, round r - n - 1 (it reads the start of round r - n);
    a twap over n rounds, rounds r - n to r - 1 (its window gained the start of round r and
    lost that of r - n); a feed lagged by steps or the exogenous path, no round of this step."""
    kind = Pr.rec[q].oracle_kind
    n = Pr.rec[q].oracle_n
    if kind == ORACLE_LAG_ROUNDS:
        return r - n - 1, r - n - 1
    if kind == ORACLE_TWAP:
        return r - n, r - 1
    if kind in (ORACLE_LAG_STEPS, ORACLE_EXTERNAL):
        return 1, 0
    return r - 1, r - 1  # spot, median, vwap: what the market did last round


@njit(**HELPER)
def _check_breakers(Pr, PS, pa, op):
    """Trip a protocol's circuit breaker once an oracle price it uses fell more than `drop`
    below its value before the step's shock; it stays tripped for the rest of the step."""
    for p in range(Pr.rec.shape[0]):
        drop = Pr.rec[p].breaker_drop
        if drop <= 0.0:
            continue
        if PS.paused[p] == 0:
            for a in range(pa.shape[2]):
                below = pa[PA_ORACLE, p, a] < pa[PA_REF_ORACLE, p, a] * (1.0 - drop)
                if Pr.uses[p, a] == 1 and below:
                    PS.paused[p] = 1
                    break
        if PS.paused[p] == 1:
            op[p].paused_rounds += 1


@njit(**HELPER)
def _dynamic_risk(A, Pr, xa, pa):
    """Realised volatility of the step so far (sqrt of the summed squared log returns of
    round-start prices, the shock included) moves risk thresholds:
    adj = clamp(k x (vol - reference_vol), -max_change, +max_change)."""
    for a in range(A.shape[0]):
        if xa[a].last_price > 0.0 and A[a].price > 0.0:
            r = math.log(A[a].price / xa[a].last_price)
            xa[a].vol2 += r * r
        xa[a].last_price = A[a].price
    for p in range(Pr.rec.shape[0]):
        k = Pr.rec[p].risk_k
        for a in range(A.shape[0]):
            if k == 0.0:
                pa[PA_ADJ, p, a] = 0.0
                continue
            adj = k * (math.sqrt(xa[a].vol2) - Pr.rec[p].risk_ref_vol)
            pa[PA_ADJ, p, a] = min(max(adj, -Pr.rec[p].risk_max), Pr.rec[p].risk_max)


@njit(**HELPER)
def _set_par(A, Pr, xp, pa):
    """A cdp values its own stablecoin at par (the backing's price; Maker's `par` = 1 USD),
    never at its depegged price: the peg is what its liquidation ratio and deficit measure."""
    if not HAS_CDP:
        return
    for p in range(Pr.rec.shape[0]):
        a = Pr.rec[p].stablecoin
        if a < 0:
            continue
        if A[a].kind == ASSET_ISSUED:
            xp[p].par = 1.0 if A[a].backing < 0 else pa[PA_ORACLE, p, A[a].backing]
        else:
            xp[p].par = pa[PA_ORACLE, p, a]


@njit(**HELPER)
def _shortfall_now(A, L, C, Pp, Lv, Op, Pr, PS, xp, pa, TG, use_index):
    """Every protocol's shortfall at the prices in ``pa[PA_ORACLE]`` now, without acting
    (into ``xp[p].shortfall``; ``xp``, ``pa``: the scratch's ``X.p`` and ``X.pa``)."""
    if HAS_CDP:
        _set_par(A, Pr, xp, pa)
    for _i in range(xp.shape[0]):
        xp[_i].shortfall = 0.0
    if use_index == 1:
        _tg_shortfall(L, Pr, xp, pa, TG)
    else:
        lending_shortfall(L, Pr, xp, pa, TG.visit, L.protocol.shape[0])
    if HAS_CDP:
        cdp_shortfall(C, xp, pa)
    if HAS_PERP:
        perp_shortfall(Pp, xp, pa)
    if HAS_LEVERAGED:
        lev_shortfall(Lv, xp, pa)
    if HAS_OPTIONS:
        opt_mark(Op, Pr, PS, xp, pa)


# ---------------------------------------------------------------------------------------------
# The position indexes: visit only positions a price move can have made eligible
# (docs/performance.md). Both visit their positions in ascending order, as a full scan does, so
# every sum is accumulated in the same order and the results are the same to the last bit.
# ---------------------------------------------------------------------------------------------

#: Relative margin of the trigger index's candidate test: far above the rounding of a health
#: factor (a few ulps), far below any price move that matters.
TG_DELTA = 1e-12


def _f2i_python(x):
    """The IEEE bits of a float64 as an int64: for x >= 0 they order as the values do."""
    return np.int64(np.float64(x).view(np.int64))


if hasattr(njit(_f2i_python), "py_func"):  # compiled by numba (not the plain-Python twin)
    from llvmlite import ir as _llvm_ir
    from numba.core import types as _nb_types
    from numba.extending import intrinsic as _intrinsic

    @_intrinsic
    def _f2i(typingctx, x):
        """The IEEE bits of a float64 as an int64 (a bit cast: no log to find a bucket)."""
        signature = _nb_types.int64(_nb_types.float64)

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], _llvm_ir.IntType(64))

        return signature, codegen

else:
    _f2i = _f2i_python

#: Counting trailing zeros of one bit (de Bruijn): the index of a marked position in its word.
_DEBRUIJN = np.int64(0x03F79D71B4CB0A89)
_DEBRUIJN_TABLE = np.array(
    [
        *(0, 1, 48, 2, 57, 49, 28, 3, 61, 58, 50, 42, 38, 29, 17, 4),
        *(62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5),
        *(63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11),
        *(46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9, 13, 8, 7, 6),
    ],
    dtype=np.int64,
)


@njit(**SMALL)
def _tg_trigger(col_units, debt_units, lt, lt_cut, a_col, k, j, i, p):
    """(trigger, effective threshold) of a position with one collateral leg ``k`` and one
    debt leg ``j``: it is eligible exactly when O_c / O_d < T = d / (c x LT). 0: no debt (never
    eligible); inf: no collateral or a threshold of 0 (always a candidate)."""
    cut = lt_cut[i] if lt_cut.shape[0] > 0 else 0.0
    lte = min(1.0, max(0.0, lt[p, a_col] - cut))
    d = debt_units[j]
    if d <= 0.0:
        return 0.0, lte
    c = col_units[k]
    if c <= 0.0 or lte <= 0.0:
        return np.inf, lte
    t = d / (c * lte)
    return (t if t > 0.0 else 5e-324), lte  # an underflow is still a debt


@njit(**SMALL)
def _tg_bucket(nb, lo, shift, t):
    """The bucket of trigger ``t`` in a group of ``nb`` buckets from the bits ``lo``."""
    if not t < np.inf:
        return nb - 1
    b = _f2i(t) - lo
    if b < 0:
        return np.int64(0)
    return min(b >> shift, nb - 1)


@njit(**SMALL)
def _tg_mark(bitmap, i):
    bitmap[i >> 6] |= np.int64(1) << (i & 63)


@njit(**HOT)
def _tg_extract(bitmap, visit):
    """The marked positions into ``visit``, ascending; clears the bitmap; returns the count."""
    n = 0
    for w in range(bitmap.shape[0]):
        word = bitmap[w]
        if word == 0:
            continue
        bitmap[w] = 0
        base = w << 6
        while word != 0:
            low = word & -word
            visit[n] = base + _DEBRUIJN_TABLE[((low * _DEBRUIJN) >> 58) & 63]
            n += 1
            word ^= low
    return n


@njit(**ENTRY)
def build_triggers(L, Pr, TG):
    """Build the trigger index of the lending book from its state: one pass to group the
    positions and find each group's range of triggers, buckets of about ``TRIGGER_BUCKET``
    positions over the IEEE bits of the trigger (positive doubles order as their bits), a
    counting sort into the buckets. The engine builds it once per compiled scenario (from the
    start state) and gives every run a copy."""
    _tg_build(L, Pr, TG)


@njit(**HOT)
def _tg_build(L, Pr, TG):
    """:func:`build_triggers` (an entry point, called from Python, keeps numba's reference
    counting; its loops here do without)."""
    status = L.status
    protocol = L.protocol
    col_start = L.col_start
    col_asset = L.col_asset
    col_units = L.col_units
    debt_start = L.debt_start
    debt_asset = L.debt_asset
    debt_units = L.debt_units
    lt_cut = L.lt_cut
    lt = Pr.lt
    rec = Pr.rec
    T = TG.T
    group = TG.group
    gid = TG.gid
    gt = TG.groups
    glte = TG.lte
    always = TG.always
    start = TG.start
    end = TG.end
    head = TG.head
    items = TG.items
    n = status.shape[0]
    for p in range(gid.shape[0]):
        for c in range(gid.shape[1]):
            for d in range(gid.shape[2]):
                gid[p, c, d] = -1
    n_groups = 0
    n_always = 0
    for i in range(n):
        group[i] = -1
        T[i] = 0.0
        if status[i] != POS_OPEN:
            continue
        p = protocol[i]
        k = col_start[i]
        j = debt_start[i]
        # several legs, or thresholds that move with volatility: no single trigger
        if rec[p].risk_k != 0.0 or col_start[i + 1] - k != 1 or debt_start[i + 1] - j != 1:
            always[n_always] = i
            n_always += 1
            group[i] = -2
            continue
        c = col_asset[k]
        d = debt_asset[j]
        g = gid[p, c, d]
        if g < 0:
            g = n_groups
            gid[p, c, d] = g
            gt[g, TG_P] = p
            gt[g, TG_C] = c
            gt[g, TG_D] = d
            gt[g, TG_B0] = 0  # the group's count, for now
            gt[g, TG_LO] = _f2i(np.inf)  # the lowest finite trigger's bits, for now
            gt[g, TG_NB] = 0  # the highest, for now
            glte[g] = 0.0
            n_groups += 1
        t, lte = _tg_trigger(col_units, debt_units, lt, lt_cut, c, k, j, i, p)
        T[i] = t
        if t <= 0.0:
            continue  # no debt: never eligible, never visited
        group[i] = g
        gt[g, TG_B0] += 1
        glte[g] = max(glte[g], lte)
        if t < np.inf:
            bits = _f2i(t)
            gt[g, TG_LO] = min(gt[g, TG_LO], bits)
            gt[g, TG_NB] = max(gt[g, TG_NB], bits)
    # each group's buckets: equal ranges of bits, about TRIGGER_BUCKET positions each
    n_buckets = 0
    for g in range(n_groups):
        count = gt[g, TG_B0]
        lo = gt[g, TG_LO]
        hi = gt[g, TG_NB]
        if hi < lo:  # no finite trigger
            lo = 0
            hi = 0
        want = max(1, count // TRIGGER_BUCKET)
        shift = 0
        while ((hi - lo) >> shift) + 1 > want:
            shift += 1
        nb = ((hi - lo) >> shift) + 1
        gt[g, TG_LO] = lo
        gt[g, TG_SHIFT] = shift
        gt[g, TG_NB] = nb
        gt[g, TG_B0] = n_buckets
        gt[g, TG_CUR] = nb
        n_buckets += nb
    for b in range(n_buckets):
        end[b] = 0
        head[b] = -1
    for i in range(n):
        g = group[i]
        if g >= 0:
            nb = gt[g, TG_NB]
            end[gt[g, TG_B0] + _tg_bucket(nb, gt[g, TG_LO], gt[g, TG_SHIFT], T[i])] += 1
    run = 0
    for b in range(n_buckets):
        size = end[b]
        start[b] = run
        end[b] = run
        run += size
    for i in range(n):
        g = group[i]
        if g >= 0:
            nb = gt[g, TG_NB]
            b = gt[g, TG_B0] + _tg_bucket(nb, gt[g, TG_LO], gt[g, TG_SHIFT], T[i])
            items[end[b]] = i
            end[b] += 1
    meta = TG.meta
    meta[TGM_BUILT] = 1
    meta[TGM_GROUPS] = n_groups
    meta[TGM_HOT] = 0
    meta[TGM_ALWAYS] = n_always
    meta[TGM_BUCKETS] = n_buckets


#: Inlined by numba whatever the compile: its one caller's loop over the groups runs it every
#: round, and LLVM does not inline a function of its size that numba links (``linkonce_odr``).
@njit(inline="always", **HELPER)
def _tg_take(gt, start, end, head, nxt, items, T, bitmap, g, rb):
    """Group ``g``: mark, and take out of their buckets, the positions whose trigger's bits
    are above ``rb``: every member of the buckets above the one ``rb`` falls in (all of them
    are), then that bucket member by member. The group's cursor moves down to it."""
    nb = gt[g, TG_NB]
    lo = gt[g, TG_LO]
    b0 = gt[g, TG_B0]
    q = np.int64(0) if rb < lo else min((rb - lo) >> gt[g, TG_SHIFT], nb - 1)
    cur = gt[g, TG_CUR]
    for k in range(cur - 1, q, -1):
        b = b0 + k
        for t in range(start[b], end[b]):
            _tg_mark(bitmap, items[t])
        end[b] = start[b]
        node = head[b]
        while node >= 0:
            _tg_mark(bitmap, node)
            node = nxt[node]
        head[b] = -1
    if cur > q + 1:
        gt[g, TG_CUR] = q + 1
    b = b0 + q
    t = start[b]
    while t < end[b]:
        i = items[t]
        if _f2i(T[i]) > rb:
            _tg_mark(bitmap, i)
            end[b] -= 1
            items[t] = items[end[b]]
        else:
            t += 1
    prev = -1
    node = head[b]
    while node >= 0:
        after = nxt[node]
        if _f2i(T[node]) > rb:
            _tg_mark(bitmap, node)
            if prev < 0:
                head[b] = after
            else:
                nxt[prev] = after
        else:
            prev = node
        node = after


@njit(**SMALL)
def _tg_peek(gt, start, end, head, nxt, items, T, bitmap, g, rb):
    """Group ``g``: mark the positions whose trigger's bits are above ``rb``, leaving the
    buckets as they are (a shortfall measurement between rounds)."""
    nb = gt[g, TG_NB]
    lo = gt[g, TG_LO]
    b0 = gt[g, TG_B0]
    q = np.int64(0) if rb < lo else min((rb - lo) >> gt[g, TG_SHIFT], nb - 1)
    for k in range(nb - 1, q - 1, -1):
        b = b0 + k
        for t in range(start[b], end[b]):
            i = items[t]
            if _f2i(T[i]) > rb:
                _tg_mark(bitmap, i)
        node = head[b]
        while node >= 0:
            if _f2i(T[node]) > rb:
                _tg_mark(bitmap, node)
            node = nxt[node]


@njit(**SMALL)
def _tg_ratio_bits(oracle, gt, g, scale):
    """The IEEE bits of the group's oracle ratio O_c / O_d divided by ``scale`` x (1 + delta):
    a trigger above them is a candidate; -1 (everything) when the ratio is not a positive
    number."""
    p = gt[g, TG_P]
    r = oracle[p, gt[g, TG_C]] / oracle[p, gt[g, TG_D]]
    if r > 0.0 and r < np.inf and scale > 0.0:
        return _f2i(r / (scale * (1.0 + TG_DELTA)))
    return np.int64(-1)


@njit(**SMALL)
def _tg_add_listed(TG):
    """Mark last round's candidates and the positions visited every round."""
    bitmap = TG.bitmap
    hot = TG.hot
    for h in range(TG.meta[TGM_HOT]):
        _tg_mark(bitmap, hot[h])
    always = TG.always
    for h in range(TG.meta[TGM_ALWAYS]):
        _tg_mark(bitmap, always[h])


@njit(**HOT)
def _tg_select(TG, oracle):
    """This round's lending positions to visit, ascending, into ``TG.visit``; their count."""
    gt = TG.groups
    rbits = TG.rbits
    for g in range(TG.meta[TGM_GROUPS]):
        rb = _tg_ratio_bits(oracle, gt, g, 1.0)
        rbits[g] = rb
        _tg_take(gt, TG.start, TG.end, TG.head, TG.nxt, TG.items, TG.T, TG.bitmap, g, rb)
    _tg_add_listed(TG)
    return _tg_extract(TG.bitmap, TG.visit)


@njit(**HOT)
def _tg_classify(L, Pr, TG, n):
    """After the round: each visited single-leg position gets its new trigger and is a
    candidate still (visited next round) or goes back into the bucket of its trigger (a bucket
    already passed is opened again: prices can rise between steps)."""
    status = L.status
    col_start = L.col_start
    debt_start = L.debt_start
    col_asset = L.col_asset
    col_units = L.col_units
    debt_units = L.debt_units
    lt_cut = L.lt_cut
    lt = Pr.lt
    visit = TG.visit
    group = TG.group
    T = TG.T
    gt = TG.groups
    rbits = TG.rbits
    hot = TG.hot
    head = TG.head
    nxt = TG.nxt
    n_hot = 0
    # the group's row, in registers while a run of its positions is classified (the visit
    # list is ascending and the book sorted by group): every store below may alias it as far
    # as LLVM knows, and it would be read again for each position; the cursor is written back
    # when the group changes
    g_run = np.int64(-1)
    g_p = np.int64(0)
    g_nb = np.int64(0)
    g_lo = np.int64(0)
    g_shift = np.int64(0)
    g_b0 = np.int64(0)
    g_cur = np.int64(0)
    g_rb = np.int64(0)
    for jj in range(n):
        i = visit[jj]
        g = np.int64(group[i])
        if g < 0 or status[i] != POS_OPEN:
            continue
        if g != g_run:
            if g_run >= 0:
                gt[g_run, TG_CUR] = g_cur
            g_run = g
            g_p = gt[g, TG_P]
            g_nb = gt[g, TG_NB]
            g_lo = gt[g, TG_LO]
            g_shift = gt[g, TG_SHIFT]
            g_b0 = gt[g, TG_B0]
            g_cur = gt[g, TG_CUR]
            g_rb = rbits[g]
        k = col_start[i]
        t, _ = _tg_trigger(
            col_units, debt_units, lt, lt_cut, col_asset[k], k, debt_start[i], i, g_p
        )
        T[i] = t
        if t <= 0.0:
            group[i] = -1  # repaid: never eligible again
            continue
        if _f2i(t) > g_rb:
            hot[n_hot] = i
            n_hot += 1
            continue
        kb = _tg_bucket(g_nb, g_lo, g_shift, t)
        b = g_b0 + kb
        nxt[i] = head[b]
        head[b] = i
        if kb >= g_cur:
            g_cur = kb + 1
    if g_run >= 0:
        gt[g_run, TG_CUR] = g_cur
    TG.meta[TGM_HOT] = n_hot


@njit(**HOT)
def _tg_shortfall(L, Pr, xp, pa, TG):
    """``lending_shortfall`` over the positions that can have one: debt value > collateral
    value needs O_c / O_d < d / c = T x LT <= T x (the group's largest LT)."""
    gt = TG.groups
    oracle = pa[PA_ORACLE]
    for g in range(TG.meta[TGM_GROUPS]):
        rb = _tg_ratio_bits(oracle, gt, g, TG.lte[g])
        _tg_peek(gt, TG.start, TG.end, TG.head, TG.nxt, TG.items, TG.T, TG.bitmap, g, rb)
    _tg_add_listed(TG)
    n = _tg_extract(TG.bitmap, TG.visit)
    lending_shortfall(L, Pr, xp, pa, TG.visit, n)


BUCKET_W = math.log(10.0) / (INDEX_BUCKETS - 1)


@njit(**SMALL)
def _bucket_of(h):
    """Health bucket: 0 for h <= 1, then 0.23% wide up to 10, the last for everything above;
    INDEX_BUCKETS ("never") for a position that can never need action (closed, no debt)."""
    if not h < np.inf:
        return INDEX_BUCKETS
    if h <= 1.0:
        return 0
    return min(int(math.log(h) / BUCKET_W), INDEX_BUCKETS - 1)


@njit(**ALLOC)
def _index_rebuild(C, Pp, Lv, Pr, X):
    """The health index of the cdp, perp and leveraged books: measure every position's health
    at this round's oracle and bucket it (a counting sort: two passes, no sort). A health is
    < 1 exactly when the position must act now (and whenever it has a shortfall); positions
    whose thresholds move with volatility, and auctions under way, get 0 (always visited);
    closed ones and those without debt, infinity (never).

    The health of each type is computed in the loop bodies here, not in helper functions:
    numba made a per-position helper reading a protocol record 30x slower than the same code
    inline (measured: 170 ms against 7 ms for 10^6 positions)."""
    off = X.ix_offsets
    for i in range(C.protocol.shape[0]):
        h = np.inf
        p = C.protocol[i]
        if C.status[i] == POS_AUCTION:
            h = 0.0  # visited until it closes (its debt may be paid, the penalty not yet)
        elif C.status[i] == POS_OPEN and C.debt[i] > 0.0:
            if Pr.rec[p].risk_k != 0.0:
                h = 0.0
            else:
                col, _ = _vault_value(C, X.pa, i, p)
                h = col / ((Pr.rec[p].liq_ratio + C.ratio_add[i]) * C.debt[i] * X.p[p].par)
        X.health[off[1] + i] = h
    for i in range(Pp.protocol.shape[0]):
        h = np.inf
        p = Pp.protocol[i]
        if Pp.status[i] == POS_OPEN:
            if Pr.rec[p].risk_k != 0.0:
                h = 0.0
            else:
                # mark over liquidation price (longs), liquidation price over mark (shorts)
                o = X.pa[PA_ORACLE, p, Pp.asset[i]]
                size = Pp.size[i]
                mm = Pr.rec[p].maintenance + Pp.mm_add[i]
                if size > 0.0:
                    liq = (size * Pp.entry[i] - Pp.margin[i]) / (size * (1.0 - mm))
                    if liq > 0.0:
                        h = o / liq
                else:
                    liq = (Pp.margin[i] - size * Pp.entry[i]) / (-size * (1.0 + mm))
                    h = liq / o
        X.health[off[2] + i] = h
    for i in range(Lv.protocol.shape[0]):
        h = np.inf
        if Lv.status[i] == POS_OPEN and Lv.debt[i] > 0.0:
            # holdings x (max - 1) / (max x debt) < 1 exactly when leverage exceeds the max
            p = Lv.protocol[i]
            mx = Pr.rec[p].max_leverage
            h = _holdings_value(Lv, X.pa, i, p) * (mx - 1.0) / (mx * Lv.debt[i])
        X.health[off[3] + i] = h
    starts = X.bucket_start
    starts[:] = 0
    n = off[4]
    for g in range(n):
        starts[_bucket_of(X.health[g]) + 1] += 1
    for b in range(1, starts.shape[0]):
        starts[b] += starts[b - 1]
    cursor = starts.copy()
    for g in range(n):
        b = _bucket_of(X.health[g])
        X.items[cursor[b]] = g
        cursor[b] += 1
    for p in range(X.ix_ref.shape[0]):
        for a in range(X.ix_ref.shape[1]):
            X.ix_ref[p, a] = X.pa[PA_ORACLE, p, a]
    X.marked[:] = 0
    X.ix_meta[0] = 0
    X.ix_meta[1] = -1
    X.ix_meta[2] = 0


@njit(**ALLOC)
def _index_extend(Pr, X):
    """Add to the active set every bucket a position of which the price moves since the
    rebuild can have taken below health 1.

    A health is a ratio of values linear in prices (collateral / debt, mark / liquidation
    price, holdings / debt), so it has fallen by at most the factor min(O/O_ref) / max(O/O_ref)
    over the assets the protocol uses and the numeraire: positions with health_ref < T =
    max / min (over the protocols of the book) are all that can need action now. T only grows
    within a step (the active set is kept), and the set is kept in ascending order so that a
    round visits positions in the order of a full scan - the results are the same to the last
    bit.
    """
    t_all = 1.0
    n_a = X.ix_ref.shape[1]
    for p in range(X.ix_ref.shape[0]):
        if Pr.rec[p].kind == PROTO_LENDING:
            continue  # lending positions are in the trigger index
        # 1.0: amounts in the numeraire (margins, USD debt, liquidation prices) do not move
        lo = 1.0
        hi = 1.0
        for a in range(n_a):
            if Pr.uses[p, a] == 0 or X.ix_ref[p, a] <= 0.0:
                continue
            r = X.pa[PA_ORACLE, p, a] / X.ix_ref[p, a]
            lo = min(lo, r)
            hi = max(hi, r)
        if hi > 0.0 and lo > 0.0:
            t_all = max(t_all, hi / lo)
    k = INDEX_BUCKETS - 1
    t = t_all * (1.0 + 1e-9)
    if t < 10.0:
        k = min(int(math.log(t) / BUCKET_W), INDEX_BUCKETS - 1)
    old = X.ix_meta[1]
    if k <= old:
        return
    n = X.ix_meta[0]
    for g in range(X.bucket_start[old + 1], X.bucket_start[k + 1]):
        X.active[n] = X.items[g]
        X.marked[X.items[g]] = 1
        n += 1
    # ascending order: sort a small set, read a large one off the marks (no sort)
    if n * 64 < X.marked.shape[0]:
        X.active[:n] = np.sort(X.active[:n])
    else:
        X.active[:n] = np.flatnonzero(X.marked)
    X.ix_meta[0] = n
    X.ix_meta[1] = k


@njit(**HELPER)
def _index_all(X):
    """No index: every position of the cdp, perp and leveraged books is visited every
    round."""
    n = X.ix_offsets[4]
    for g in range(n):
        X.active[g] = g
    X.ix_meta[0] = n


@njit(**HELPER)
def _clear_round(sell, sell_c, buy, buy_c, pa, xp):
    """A new round's batch: no orders, sells, buys or repayments yet; per protocol nothing
    acted, measured, deferred or defaulted on yet. (Loops, not numpy's slice assignment: each
    numpy operation is one more function to compile.)"""
    for a in range(sell.shape[0]):
        sell[a] = 0.0
        sell_c[a] = 0.0
        buy[a] = 0.0
        buy_c[a] = 0.0
    for p in range(pa.shape[1]):
        for a in range(pa.shape[2]):
            pa[PA_ORDERS, p, a] = 0.0
            pa[PA_SELLS, p, a] = 0.0
            pa[PA_BUYS, p, a] = 0.0
            pa[PA_REPAY, p, a] = 0.0
    for p in range(xp.shape[0]):
        xp[p].acted = 0
        xp[p].shortfall = 0.0
        xp[p].deferred_n = 0
        xp[p].deferred_usd = 0.0
        xp[p].credit_now = 0


@njit(**HELPER)
def _unsupported(A, V, Pr):
    """Whether the scenario needs something this specialised copy was built without."""
    for p in range(Pr.rec.shape[0]):
        kind = Pr.rec[p].kind
        if (
            (kind == PROTO_CDP and not HAS_CDP)
            or (kind == PROTO_PERP and not HAS_PERP)
            or (kind == PROTO_LEVERAGED and not HAS_LEVERAGED)
            or (kind == PROTO_OPTIONS and not HAS_OPTIONS)
            or (Pr.rec[p].capital < np.inf and not HAS_CAPITAL)
        ):
            return True
        if Pr.rec[p].oracle_kind != ORACLE_SPOT and not HAS_FEEDS:
            return True
    for a in range(A.shape[0]):
        if A[a].venue_count > 1 and not HAS_VENUES:
            return True
        if A[a].kind in (ASSET_PEGGED, ASSET_ISSUED) and not HAS_PEGS:
            return True
    for v in range(V.shape[0]):  # noqa: SIM110 (numba compiles no generator in any())
        if V[v].kind == VENUE_ORDERBOOK and not HAS_BOOKS:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# The step loop: exogenous shock, then rounds to the fixed point.
# ---------------------------------------------------------------------------------------------


#: The cascade allocates nothing (its working values live in ``X``), so it runs without
#: reference counting, as the hot helpers do: numba's increments and decrements of every array
#: it reads from a named tuple were a large part of its compiled code. Only the health index of
#: the other protocol types allocates (``np.searchsorted``).
CASCADE = ENTRY if HAS_HEALTH_INDEX else {**ENTRY, "_nrt": False}


@njit(nogil=True, **CASCADE)
def run_cascade(A, V, B, L, C, Pp, Lv, Op, Pr, PS, X, TG, path, prm, O_):
    """Run the whole shock path; returns a STATUS_* code.

    Parameters
    ----------
    A, V, B, L, C, Pp, Lv, Op, Pr, PS, X, TG, path, prm, O_ : layout records and named tuples
        Assets, venues, order books, lending, cdp, perp, leveraged and options positions,
        protocol parameters and state, working arrays (``layout.new_scratch``), the trigger
        index of the lending book (``layout.new_triggers``: built here unless built already),
        shock path, parameters, preallocated outputs (see ``layout.py``). State is mutated in
        place. A specialised copy without cdp, perp, leveraged or options takes None for that
        book (``engine.raw``): it never reads it, and its entry point would unbox every array.

    Notes
    -----
    MODEL.md §1: per step, apply the shock, then repeat Jacobi rounds (oracles, decisions of
    every protocol from round-start state, batch execution per asset with sells and buys
    crossed at the round-start price, settlement, token prices) until no protocol acts and no
    price is left to update, or ``max_rounds`` is reached. Depth and edges follow §5.
    """
    if _unsupported(A, V, Pr):
        return STATUS_UNSUPPORTED
    n_a = A.shape[0]
    n_p = Pr.rec.shape[0]
    n_t = path.returns.shape[0]
    n_lending = L.protocol.shape[0]
    eps = prm.min_price_fraction
    tol = prm.tol
    for p in range(n_p):
        X.p[p].stress_prev = 0.0
        X.p[p].bad_start = 0.0
        X.p[p].credit_start = 0.0
        X.p[p].income_start = 0.0
        X.p[p].haircut_changed = 0
    for a in range(n_a):
        X.a[a].shocked = A[a].start_price
        X.step_end[0, a] = A[a].price
        if A[a].kind == ASSET_PEGGED:
            X.a[a].shocked_ratio = _ratio(A, V, a)
        elif A[a].kind == ASSET_ISSUED:
            X.a[a].shocked_ratio = 1.0  # the product of its own shocks
    _push_history(A, X.hist, X.hist_count)  # "round 0": the start
    if prm.use_index == 0:  # no index: every position, every round
        for i in range(n_lending):
            TG.visit[i] = i
        if HAS_HEALTH_INDEX:
            _index_all(X)
    elif TG.meta[TGM_BUILT] == 0:
        _tg_build(L, Pr, TG)

    # S_0: shortfall before any shock
    _set_oracles(
        A, V, Pr, X.hist, X.hist_count, X.step_end, X.a, X.vtmp, np.int64(0), X.pa[PA_ORACLE]
    )
    _shortfall_now(A, L, C, Pp, Lv, Op, Pr, PS, X.p, X.pa, TG, prm.use_index)
    for p in range(n_p):
        X.p[p].stress_prev = X.p[p].shortfall

    status = STATUS_CONVERGED
    global_round = 0
    work = 0  # positions visited, against prm.work_budget
    for t in range(n_t):
        # the breakers' reference: each protocol's oracle before this step's shock
        _set_oracles(
            A, V, Pr, X.hist, X.hist_count, X.step_end, X.a, X.vtmp, t, X.pa[PA_REF_ORACLE]
        )
        for a in range(n_a):
            X.a[a].last_price = A[a].price
            X.a[a].vol2 = 0.0
        for p in range(n_p):
            PS.paused[p] = 0
        if t > 0 and prm.recovery > 0.0:
            _apply_recovery(A, V, B, X.a, prm.recovery)
        _apply_shock(A, V, B, PS, X.a, path, t, eps)
        step_first = global_round + 1  # sources of contagion are moves of this step only
        first_round = True
        for _i in range(X.p.shape[0]):
            X.p[_i].credit_prev = 0
        converged = False
        for _ in range(prm.max_rounds):
            global_round += 1
            n_trace = O_.counters[1]
            trace_row = n_trace if n_trace < prm.trace_cap else -1
            # --- round: oracle prices, circuit breakers, dynamic risk; the price band ---
            _push_history(A, X.hist, X.hist_count)
            _set_bands(V, eps)
            _set_oracles(
                A, V, Pr, X.hist, X.hist_count, X.step_end, X.a, X.vtmp, t, X.pa[PA_ORACLE]
            )
            if HAS_CDP:
                _set_par(A, Pr, X.p, X.pa)
            _check_breakers(Pr, PS, X.pa, O_.p)
            _dynamic_risk(A, Pr, X.a, X.pa)
            # --- round: which positions to visit (the indexes) ---
            n_visit = n_lending
            if prm.use_index == 1:
                n_visit = _tg_select(TG, X.pa[PA_ORACLE])
            n_active = n_visit
            if HAS_HEALTH_INDEX:
                if prm.use_index == 1:
                    # re-measure every health at today's prices when the set to visit has
                    # grown to a large share of the book: passes now beat a big set each round
                    big = X.ix_meta[0] > max(4096, X.ix_offsets[4] // 4)
                    if first_round or X.ix_meta[2] == 1 or big:
                        _index_rebuild(C, Pp, Lv, Pr, X)
                    _index_extend(Pr, X)
                n_other = X.ix_meta[0]
                n_active += n_other
                cut = np.searchsorted(X.active[:n_other], X.ix_offsets)
            first_round = False
            # --- round: decisions of every protocol from round-start state ---
            _clear_round(X.sell, X.sell_c, X.buy, X.buy_c, X.pa, X.p)
            for p in range(n_p):
                X.p[p].bad_start = O_.p[p].bad_debt_usd
                X.p[p].credit_start = O_.p[p].credit_losses_usd
                X.p[p].income_start = O_.p[p].income_usd
            lending_round(L, Pr, A, V, B, PS, X, O_, TG.visit, n_visit, trace_row, eps, tol)
            if HAS_CAPITAL:  # noqa: SIM102 (numba prunes `if CONST:` alone, before typing)
                if X.cand_count[0] > 0:
                    _liquidate_within_capital(L, Pr, X, O_, trace_row)
            if prm.use_index == 1:
                _tg_classify(L, Pr, TG, n_visit)
            if HAS_CDP:
                cdp_round(C, Pr, A, V, B, PS, X, O_, trace_row, eps, tol, cut[1], cut[2])
            if HAS_PERP:
                perp_round(Pp, Pr, PS, X, O_, trace_row, tol, cut[2], cut[3])
            if HAS_LEVERAGED:
                lev_round(Lv, Pr, X, O_, trace_row, tol, cut[3], cut[4])
            if HAS_OPTIONS:
                opt_round(Op, Pr, PS, X)
            _allocate_rational(
                A,
                V,
                B,
                Pr.route_on,
                Pr.route,
                X.rat,
                X.rat_count,
                X.sell,
                X.sell_c,
                X.buy,
                X.buy_c,
                X.pa,
                O_.held_units,
                eps,
            )
            work += n_active
            if HAS_OPTIONS:  # Op is None in a copy without options
                work += Op.protocol.shape[0]
            if prm.work_budget > 0 and work > prm.work_budget:
                return STATUS_OVER_BUDGET
            # --- round: batch execution per asset (cross at round-start price, net to market) ---
            _execute(A, V, B, Pr, X, O_, trace_row, eps, tol)
            # --- round: arbitrage between the venues of each asset ---
            arbitraged = False
            if HAS_VENUES:
                for a in range(n_a):
                    several = A[a].kind == ASSET_MARKET and A[a].venue_count > 1
                    if several and arbitrage(A, V, B, O_, a, eps, tol):
                        arbitraged = True
            # a peg follows its target's new (primary venue) price, also after an arbitrage
            # that moved it by less than the tolerance (held units are valued at it)
            if HAS_PEGS:  # without pegs, not even an empty function to compile
                _update_pegged(A, V)
            # --- round: settle ---
            for p in range(n_p):
                if Pr.rec[p].kind != PROTO_LENDING:
                    continue
                for a in range(n_a):
                    # lending liquidators keep what the sale raised
                    if X.pa[PA_SELLS, p, a] > 0.0:
                        O_.p[p].proceeds_usd += (
                            X.pa[PA_SELLS, p, a] * X.a[a].sell_fill * X.a[a].sell_avg
                        )
                    # and paid for the debt they repaid: what the batch charged for the units
                    # they bought, the market's price after the round for units it could not
                    # deliver, the round-start price for the rest (repaid with what they had)
                    repay = X.pa[PA_REPAY, p, a]
                    if repay > 0.0:
                        bought = X.pa[PA_BUYS, p, a]
                        filled = bought * X.a[a].buy_fill
                        O_.p[p].debt_cost_usd += (
                            filled * X.a[a].buy_avg
                            + (bought - filled) * A[a].price
                            + (repay - bought) * X.a[a].price_before
                        )
            if HAS_CDP:
                cdp_settle(C, Pr, X, O_, trace_row, cut[1], cut[2])
            if HAS_PERP:
                perp_settle(Pp, Pr, X, O_, cut[2], cut[3])
            if HAS_LEVERAGED:
                lev_settle(Lv, Pr, X, O_, trace_row, cut[3], cut[4])
            if HAS_OPTIONS:
                opt_settle(PS, X, O_)
            # --- round: issued tokens follow their issuer's haircut (round-start snapshot) ---
            _update_haircuts(Pr, PS, X.p)
            repriced = False  # an issued token's price moved: the fixed point is not reached
            if HAS_PEGS:
                _update_issued(A, V, B, PS, eps)
                for a in range(n_a):
                    before = X.a[a].price_before
                    if A[a].kind == ASSET_ISSUED and abs(A[a].price - before) > tol * before:
                        repriced = True
                        if X.p[A[a].issuer].haircut_changed == 1:
                            X.pai[PAI_MOVED_NOW, A[a].issuer, a] = 1
            # --- round: distress, propagation depth and contagion edges ---
            any_acted = False
            for p in range(n_p):
                if X.p[p].acted == 1:
                    any_acted = True
            for q in range(n_p):
                stress = X.p[q].shortfall + X.p[q].credit_start
                prev = X.p[q].stress_prev
                grew = stress > prev + tol * max(1.0, prev)
                X.p[q].stress_prev = stress
                if O_.p[q].depth >= 0 or not (X.p[q].acted == 1 or grew):
                    continue
                # the rounds whose moves q's oracle reads for the first time now
                r_lo, r_hi = _read_rounds(Pr, q, global_round)
                r_lo = max(r_lo, step_first)
                best = -1
                for p in range(n_p):
                    if p == q:
                        continue
                    for a in range(n_a + 1):
                        if a < n_a:
                            hit = False
                            if Pr.uses[q, a] == 1:
                                for k in range(r_lo, r_hi + 1):
                                    if X.moved[k % X.moved.shape[0], p, a] == 1:
                                        hit = True
                                        break
                        else:  # the credit channel: p defaulted on its loan from q
                            hit = Pr.rec[p].lender == q and X.p[p].credit_prev == 1
                        if not hit:
                            continue
                        if best < 0 or O_.p[p].depth < best:
                            best = O_.p[p].depth
                        e = O_.counters[0]
                        if e < O_.edges.shape[0]:
                            O_.edges[e, 0] = p
                            O_.edges[e, 1] = q
                            O_.edges[e, 2] = a
                            O_.edges[e, 3] = global_round
                            O_.counters[0] = e + 1
                O_.p[q].depth = 0 if best < 0 else best + 1
                O_.p[q].first_distress_round = global_round
                O_.p[q].first_distress_step = t
            slot = global_round % X.moved.shape[0]
            for p in range(n_p):
                X.p[p].credit_prev = X.p[p].credit_now
                for a in range(n_a):
                    X.moved[slot, p, a] = X.pai[PAI_MOVED_NOW, p, a]
            if trace_row >= 0:
                O_.trace_idx[trace_row, 0] = t
                O_.trace_idx[trace_row, 1] = global_round
                for a in range(n_a):
                    O_.trace_price[trace_row, a] = A[a].price
                for p in range(n_p):
                    for a in range(n_a):
                        O_.trace_flow_units[trace_row, p, a] = X.pa[PA_ORDERS, p, a]
                    # cumulative: the report takes the difference between rounds
                    O_.trace_skipped[trace_row, p] = (
                        O_.p[p].skipped_unprofitable + O_.p[p].skipped_capital
                    )
                O_.counters[1] = n_trace + 1
            quiet = not any_acted and not repriced and not arbitraged
            if HAS_FEEDS:  # noqa: SIM102 (numba prunes `if CONST:` alone, before typing)
                if quiet and _oracles_moving(A, Pr, X.hist, X.hist_count, tol):
                    quiet = False  # a lagged or twap feed has yet to catch up
            if quiet:
                converged = True
                break
            if any_acted:
                O_.steps[t].rounds += 1
                O_.counters[3] += 1
        O_.steps[t].converged = 1 if converged else 0
        if not converged:
            status = STATUS_NOT_CONVERGED
        for p in range(n_p):  # what a tripped breaker was still holding back
            O_.p[p].deferred_liquidations += X.p[p].deferred_n
            O_.p[p].deferred_debt_usd += X.p[p].deferred_usd
        for a in range(n_a):
            X.step_end[t + 1, a] = A[a].price
    O_.counters[2] = global_round
    for a in range(n_a):
        O_.a[a].shocked_price = X.a[a].shocked
        O_.a[a].final_price = A[a].price
    for p in range(n_p):
        O_.p[p].haircut = PS.haircut[p]
    # final shortfall at the final prices
    _set_oracles(A, V, Pr, X.hist, X.hist_count, X.step_end, X.a, X.vtmp, n_t, X.pa[PA_ORACLE])
    _shortfall_now(A, L, C, Pp, Lv, Op, Pr, PS, X.p, X.pa, TG, prm.use_index)
    for p in range(n_p):
        O_.p[p].shortfall_usd = X.p[p].shortfall
    # the same at market prices: what a stale, lagged or floored oracle hides
    _market_oracles(A, X.pa[PA_ORACLE])
    _shortfall_now(A, L, C, Pp, Lv, Op, Pr, PS, X.p, X.pa, TG, prm.use_index)
    for p in range(n_p):
        O_.p[p].market_shortfall_usd = X.p[p].shortfall
    return status
