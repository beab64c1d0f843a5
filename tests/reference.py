"""A plain-Python reference of the model (MODEL.md), slow and obvious, for testing the kernel.

It never imports the kernel, the compiler or the layout: it reads the validated scenario and
follows MODEL.md step by step with dicts and floats. Section comments (``# --- round: ... ---``)
mirror those of ``contagion_cli/kernel.py``.

Venues, routing, arbitrage and aggregated oracles (docs/model.md 3j) and the coordination layer
(3k) are written from the text of docs/model.md alone, not from the kernel: where the two
disagree, one of them departs from the page, and the tests say which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from contagion_cli.schema.models import (
    CdpProtocol,
    CpmmMarket,
    ExponentialMarket,
    LendingProtocol,
    LeveragedProtocol,
    LinearMarket,
    OptionsProtocol,
    OrderbookMarket,
    PerpProtocol,
    Scenario,
)

# --- markets (MODEL.md §2) -------------------------------------------------------------------


class Market:
    """No trade takes a price out of [lo, hi] = [shocked price x eps, shocked price / eps]
    (docs/model.md §2, the price band: it moves with the exogenous path); shocks are never
    clamped.

    For routing (docs/model.md 3j) every market also answers ``take(m, sell)``: the units it
    takes until its marginal proceeds fall to m (sells) or its marginal cost rises to m (buys),
    and ``reach(t, sell)``: the units that move its price to t (arbitrage).
    """

    lo: float
    hi: float
    eps: float
    price: float

    def bound(self, start: float, eps: float) -> None:
        self.lo, self.hi, self.eps = start * eps, start / eps, eps


class Cpmm(Market):
    def __init__(self, x: float, y: float, fee: float) -> None:
        self.x, self.y, self.fee = x, y, fee
        self.price = y / x

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        filled = min(q, max(0.0, math.sqrt(self.x * self.y / self.lo) - self.x))
        q_in = filled * (1 - self.fee)
        out = self.y * q_in / (self.x + q_in)
        self.x, self.y = self.x + filled, self.y - out
        self.price = self.y / self.x
        return out, filled

    def quote_sell(self, q: float, eps: float) -> float:
        filled = min(q, max(0.0, math.sqrt(self.x * self.y / self.lo) - self.x))
        q_in = filled * (1 - self.fee)
        return self.y * q_in / (self.x + q_in)

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        filled = min(q, max(0.0, self.x - math.sqrt(self.x * self.y / self.hi)))
        cost = self.y * filled / ((self.x - filled) * (1 - self.fee))
        self.x, self.y = self.x - filled, self.y + cost
        self.price = self.y / self.x
        return cost, filled

    def marginal(self, q: float) -> float:
        """Marginal proceeds after selling q (0 beyond what the band lets it take)."""
        x, g = self.x, 1 - self.fee
        if q > max(0.0, math.sqrt(x * self.y / self.lo) - x):
            return 0.0
        return self.y * g * x / ((x + g * q) * (x + g * q))

    def units_at_least(self, m: float) -> float:
        return self.take(m, True)

    def recenter(self, new_price: float, m: float) -> None:
        k = (self.x * m) * (self.y * m)
        self.x, self.y = math.sqrt(k / new_price), math.sqrt(k * new_price)
        self.price = new_price

    def take(self, m: float, sell: bool) -> float:
        g = 1 - self.fee
        x, y = self.x, self.y
        if sell:  # marginal proceeds y g x / (x + g q)^2 = m, up to the capacity
            cap = max(0.0, math.sqrt(x * y / self.lo) - x)
            return min(max(0.0, (math.sqrt(y * g * x / m) - x) / g), cap)
        # marginal cost (y / g) x / (x - q)^2 = m
        cap = max(0.0, x - math.sqrt(x * y / self.hi))
        return min(max(0.0, x - math.sqrt(y * x / (g * m))), cap)

    def reach(self, t: float, sell: bool) -> float:
        g = 1 - self.fee
        x, y = self.x, self.y
        if sell:  # y x / ((x + g q)(x + q)) = t:  g q^2 + x (1 + g) q + x^2 - x y / t = 0
            c = x * x - x * y / t
            b = x * (1 + g)
            return max(0.0, -2 * c / (b + math.sqrt(b * b - 4 * g * c)))
        # with u = x - q:  t g u^2 + y (1 - g) u - y x = 0
        b = y * (1 - g)
        u = 2 * y * x / (b + math.sqrt(b * b + 4 * t * g * y * x))
        return max(0.0, x - u)


class Linear(Market):
    def __init__(self, price: float, lam: float) -> None:
        self.price, self.lam = price, lam

    def _sell(self, q: float) -> tuple[float, float]:
        """(proceeds, price after): the trapezoid down to the floor, then the floor."""
        p0, lo = self.price, self.lo
        p1 = p0 * (1 - self.lam * q * p0)
        if p1 >= lo:
            return q * (p0 + p1) / 2, p1
        u = min(q, max(0.0, (1 - lo / p0) / (self.lam * p0)))  # units down to the floor
        return u * (p0 + lo) / 2 + (q - u) * lo, lo

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        usd, self.price = self._sell(q)
        return usd, q

    def quote_sell(self, q: float, eps: float) -> float:
        return self._sell(q)[0]

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        p1 = p0 * (1 + self.lam * q * p0)
        cap = self.hi
        if p1 > cap:
            q_lin = max(0.0, (cap / p0 - 1) / (self.lam * p0))
            self.price = cap
            return q_lin * (p0 + cap) / 2 + (q - q_lin) * cap, q
        self.price = p1
        return q * (p0 + p1) / 2, q

    def marginal(self, q: float) -> float:
        p = self.price
        return max(p * (1 - self.lam * q * p), self.lo)

    def units_at_least(self, m: float) -> float:
        return self.take(m, True)

    def recenter(self, new_price: float, m: float) -> None:
        self.price, self.lam = new_price, self.lam / m

    def take(self, m: float, sell: bool) -> float:
        p = self.price  # marginal P(1 - l q P) (sells), P(1 + l q P) (buys)
        if (m <= self.lo) if sell else (m >= self.hi):
            return math.inf  # at the floor (cap) it fills every unit (docs/model.md §2)
        return max(0.0, ((1 - m / p) if sell else (m / p - 1)) / (self.lam * p))

    def reach(self, t: float, sell: bool) -> float:
        p = self.price
        return max(0.0, ((1 - t / p) if sell else (t / p - 1)) / (self.lam * p))


class Exponential(Market):
    def __init__(self, price: float, alpha: float) -> None:
        self.price, self.alpha = price, alpha

    def _sell(self, q: float) -> tuple[float, float]:
        """(proceeds, price after): the integral down to the floor, then the floor."""
        p0, lo, a = self.price, self.lo, self.alpha
        p1 = p0 * math.exp(-a * q)
        if p1 >= lo:
            return -p0 * math.expm1(-a * q) / a, p1
        u = min(q, max(0.0, math.log(p0 / lo) / a))
        return (p0 - lo) / a + (q - u) * lo, lo

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        usd, self.price = self._sell(q)
        return usd, q

    def quote_sell(self, q: float, eps: float) -> float:
        return self._sell(q)[0]

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        cap = self.hi
        limit = math.log(max(cap / p0, 1.0))
        if self.alpha * q > limit:
            top = max(cap, p0)
            self.price = top
            return p0 * math.expm1(limit) / self.alpha + (q - limit / self.alpha) * top, q
        self.price = p0 * math.exp(self.alpha * q)
        return p0 * math.expm1(self.alpha * q) / self.alpha, q

    def marginal(self, q: float) -> float:
        return max(self.price * math.exp(-self.alpha * q), self.lo)

    def units_at_least(self, m: float) -> float:
        return self.take(m, True)

    def recenter(self, new_price: float, m: float) -> None:
        self.price, self.alpha = new_price, self.alpha / m

    def take(self, m: float, sell: bool) -> float:
        p = self.price
        if (m <= self.lo) if sell else (m >= self.hi):
            return math.inf  # at the floor (cap) it fills every unit (docs/model.md §2)
        r = math.log(p / m) if sell else math.log(m / p)
        return max(0.0, r / self.alpha)

    def reach(self, t: float, sell: bool) -> float:
        r = math.log(self.price / t) if sell else math.log(t / self.price)
        return max(0.0, r / self.alpha)


#: A residual below this fraction of an order walking a book is rounding, not an order.
BOOK_RESIDUAL = 1e-12


class OrderBook(Market):
    def __init__(self, price: float, bids: list[list[float]], asks: list[list[float]]) -> None:
        self.price = self.anchor = price
        self.bids = [[o, u, u] for o, u in bids]  # offset, depth, remaining
        self.asks = [[o, u, u] for o, u in asks]

    def _walk(self, side: list[list[float]], q: float) -> tuple[float, float, float]:
        left, usd, last = q, 0.0, self.price
        for level in side:
            level_price = self.anchor * (1 + level[0])
            last = level_price
            if level[2] <= 0:
                continue
            take = min(level[2], left)
            level[2] -= take
            if level[2] <= level[1] * BOOK_RESIDUAL:  # taken but for rounding: taken
                level[2] = 0.0
            usd += take * level_price
            left -= take
            if left <= BOOK_RESIDUAL * q:
                # what is left is the rounding of a split that took these levels exactly: it
                # must not reach the next level and move the price there
                left = 0.0
                break
        if left > 0:
            last = self.anchor * (1 + side[-1][0])
        return usd, q - left, last

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        usd, filled, last = self._walk(self.bids, q)
        self.price = max(min(self.price, last), self.lo)
        return usd, filled

    def quote_sell(self, q: float, eps: float) -> float:
        left, usd = q, 0.0
        for offset, _, remaining in self.bids:
            take = min(remaining, left)
            if take > 0:
                usd += take * self.anchor * (1 + offset)
                left -= take
            if left <= 0:
                break
        return usd

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        usd, filled, last = self._walk(self.asks, q)
        self.price = min(max(self.price, last), self.hi)
        return usd, filled

    def marginal(self, q: float) -> float:
        """The price of the level the q-th unit is taken from (the best bid for q = 0)."""
        depth = 0.0
        for offset, _, remaining in self.bids:
            if remaining <= 0:
                continue
            depth += remaining
            if depth >= q:
                return self.anchor * (1 + offset)
        return 0.0

    def units_at_least(self, m: float) -> float:
        """The depth of the bids at m or better."""
        return math.fsum(
            remaining for offset, _, remaining in self.bids if self.anchor * (1 + offset) >= m
        )

    def recenter(self, new_price: float, m: float) -> None:
        self.anchor = self.price = new_price
        for level in self.bids + self.asks:
            level[1] *= m
            level[2] = level[1]

    def take(self, m: float, sell: bool) -> float:
        """The depth of the levels strictly better than m (bids above, asks below)."""
        total = 0.0
        for offset, _, remaining in self.bids if sell else self.asks:
            level_price = self.anchor * (1 + offset)
            if (level_price > m) if sell else (level_price < m):
                total += remaining
        return total

    def reach(self, t: float, sell: bool) -> float:
        return self.take(t, sell)


def make_market(asset: Any, eps: float, quote: float, usd_price: float) -> Any:
    """The asset's market, quoted at ``quote`` (its price; a pegged asset's ratio)."""
    if asset.market is None:
        return None
    return make_venue(asset.market, eps, quote, usd_price)


def make_venue(m: Any, eps: float, quote: float, usd_price: float) -> Any:
    """One market (a venue) from its configuration, bounded around the start ``quote``."""
    market = _make_market(m, quote, usd_price)
    market.bound(quote, eps)
    market.volume = getattr(m, "volume_usd", None)
    return market


def _make_market(m: Any, quote: float, usd_price: float) -> Any:
    if isinstance(m, CpmmMarket):
        # `price` is authoritative (docs/model.md 2): the pool's mid is exactly the stated
        # start price, not y / x, which can be an ulp off and order equal costs apart
        pool = Cpmm(m.base_reserve, m.base_reserve * quote, m.fee)
        pool.price = quote
        return pool
    if isinstance(m, LinearMarket):
        return Linear(quote, m.lambda_per_usd)
    if isinstance(m, ExponentialMarket):
        alpha = m.alpha if m.alpha is not None else usd_price / m.depth_usd
        return Exponential(quote, alpha)
    if isinstance(m, OrderbookMarket):
        asks = m.asks if m.asks is not None else [[-o, u] for o, u in m.bids]
        return OrderBook(quote, m.bids, asks)
    raise AssertionError(m)


# --- routing and arbitrage across venues (docs/model.md 3j) -----------------------------------

BISECTION_STEPS = 100


def _log_mid(lo: float, hi: float) -> float:
    return math.exp(0.5 * (math.log(lo) + math.log(hi)))


def _far_end(markets: list[Any], sell: bool) -> float:
    """The router's bracket end where every venue takes all it can: the smallest band floor /
    1000 (sells), the largest band cap x 1000 (buys)."""
    if sell:
        return min(mk.lo for mk in markets) / 1000
    return max(mk.hi for mk in markets) * 1000


def route_split(markets: list[Any], q: float, sell: bool) -> list[float]:
    """The optimal split of q units over ``markets`` (docs/model.md 3j, execution step 2).

    q_v(m) = units venue v takes down to marginal price m (sells; up to m for buys);
    S(m) = sum of min(q_v(m), q). 100 bisection steps in log space between the smallest band
    floor / 1000 and the largest venue price (buys: the smallest venue price and the largest
    band cap x 1000); on the final bracket every venue gets its amount at the end where S < q
    plus its share of the gap in proportion to its difference across the bracket, so the split
    adds up to q exactly. When all together cannot take q, each takes what it can.
    """
    n = len(markets)
    if q <= 0 or n == 0:
        return [0.0] * n

    def amounts(m: float) -> list[float]:
        return [min(mk.take(m, sell), q) for mk in markets]

    short_end = min(mk.price for mk in markets) if not sell else max(mk.price for mk in markets)
    full_end = _far_end(markets, sell)  # S >= q here, unless q is too much for all venues
    full = amounts(full_end)
    if math.fsum(full) < q:
        return full
    for _ in range(BISECTION_STEPS):
        mid = _log_mid(short_end, full_end)
        if math.fsum(amounts(mid)) >= q:
            full_end = mid
        else:
            short_end = mid
    at_short, at_full = amounts(short_end), amounts(full_end)
    gap = q - math.fsum(at_short)
    width = math.fsum(f - s for f, s in zip(at_full, at_short, strict=True))
    return [s + gap * (f - s) / width for s, f in zip(at_short, at_full, strict=True)]


def route_marginal(markets: list[Any], q: float) -> float:
    """Marginal proceeds of the q-th unit of the optimal split of a sale across ``markets``
    (docs/model.md 3j): the m at which they together take q units; 0 when they cannot."""
    if q <= 0:
        return max(mk.marginal(0.0) for mk in markets)

    def taken(m: float) -> float:
        return math.fsum(min(mk.take(m, True), q) for mk in markets)

    low, high = _far_end(markets, True), max(mk.price for mk in markets) * 2
    if taken(low) < q:
        return 0.0
    for _ in range(BISECTION_STEPS):
        mid = _log_mid(low, high)
        if taken(mid) >= q:
            low = mid
        else:
            high = mid
    return low


#: The ends of arbitrage's final bracket are widened by this (relative), docs/model.md 3j.
ARB_WIDEN = 1e-12


def quotes(mk: Any) -> tuple[float, float]:
    """(bid, ask) of a venue as an arbitrageur sees it: an order book's best bid and best ask
    with depth left (0 and inf once a side is taken), any other venue its price both ways."""
    if isinstance(mk, OrderBook):
        bids = [mk.anchor * (1 + o) for o, _, left in mk.bids if left > 0]
        asks = [mk.anchor * (1 + o) for o, _, left in mk.asks if left > 0]
        return max(bids, default=0.0), min(asks, default=math.inf)
    return mk.price, mk.price


def arbitrage_trades(
    markets: list[Any], speed: float, cost: float, tol: float = 1e-9
) -> tuple[list[float], list[float]]:
    """Units arbitrageurs sell and buy on each venue (docs/model.md 3j, arbitrage).

    Nothing unless the best bid of some venue exceeds the best ask of another x (1 + cost) x
    (1 + tol). p: the level at which the units sold on venues above p(1 + cost) (down to
    p(1 + cost)) equal the units bought on venues below p (up to p); 100 log-bisection steps
    between the lowest venue price / (1 + cost) and the highest. Sells are measured at the low
    end of the final bracket and buys at its high end, each widened by ARB_WIDEN (the two
    sides of the crossing, which matters when an order-book level sits on it); a venue on both
    sides serves the one it has depth for; both sides are cut to the smaller total, then scaled
    by speed.
    """
    n = len(markets)
    prices = [mk.price for mk in markets]
    if n < 2:
        return [0.0] * n, [0.0] * n
    bid = max(quotes(mk)[0] for mk in markets)
    ask = min(quotes(mk)[1] for mk in markets)
    if bid <= ask * (1 + cost) * (1 + tol):
        return [0.0] * n, [0.0] * n
    lo, hi = min(prices) / (1 + cost), max(prices)

    def sells(p: float) -> list[float]:
        t = p * (1 + cost)
        return [mk.reach(t, True) if mk.price > t else 0.0 for mk in markets]

    def buys(p: float) -> list[float]:
        return [mk.reach(p, False) if mk.price < p else 0.0 for mk in markets]

    for _ in range(BISECTION_STEPS):
        mid = _log_mid(lo, hi)
        if math.fsum(sells(mid)) > math.fsum(buys(mid)):
            lo = mid
        else:
            hi = mid
    t_sell, t_buy = lo * (1 + cost) * (1 - ARB_WIDEN), hi * (1 + ARB_WIDEN)
    s_units, b_units = [0.0] * n, [0.0] * n
    for k, mk in enumerate(markets):
        sell = mk.reach(t_sell, True) if mk.price > t_sell else 0.0
        buy = mk.reach(t_buy, False) if mk.price < t_buy else 0.0
        # on both sides (a book priced at its partly taken level, inside the bracket): it sells
        # when it has units to sell and is priced above the buy end or has none to buy
        if sell > 0 and (buy <= 0 or mk.price > t_buy):
            s_units[k] = sell
        elif buy > 0:
            b_units[k] = buy
    s_total, b_total = math.fsum(s_units), math.fsum(b_units)
    total = min(s_total, b_total)
    if total <= 0:
        return [0.0] * n, [0.0] * n
    return (
        [u * total / s_total * speed for u in s_units],
        [u * total / b_total * speed for u in b_units],
    )


def arbitrage(markets: list[Any], speed: float, cost: float, tol: float = 1e-9) -> float:
    """Trade the arbitrage on ``markets``; returns the arbitrageurs' profit (USD)."""
    s_units, b_units = arbitrage_trades(markets, speed, cost, tol)
    received = paid = 0.0
    for mk, su, bu in zip(markets, s_units, b_units, strict=True):
        if su > 0:
            received += mk.sell(su, mk.eps)[0]
        if bu > 0:
            paid += mk.buy(bu, mk.eps)[0]
    return received - paid


# --- state ---------------------------------------------------------------------------------------


@dataclass
class LendingPos:
    protocol: str
    account: str
    collateral: dict[str, float]
    debt: dict[str, float]
    open: bool = True
    delta: float = 0.0  # extra margin asked by the coordination layer (docs/model.md 3k)


@dataclass
class Vault:
    protocol: str
    account: str
    collateral: dict[str, float]
    debt: float
    status: str = "open"  # open | auction | closed
    tab: float = 0.0
    tab0: float = 0.0
    pending: dict[str, float] = field(default_factory=dict)
    raised: float = 0.0
    delta: float = 0.0


@dataclass
class PerpPos:
    protocol: str
    account: str
    asset: str
    size: float
    entry: float
    margin: float
    open: bool = True
    pending: float = 0.0
    adl_cut: float = 0.0
    delta: float = 0.0


@dataclass
class LevPos:
    protocol: str
    account: str
    holdings: dict[str, float]
    debt: float
    open: bool = True
    pending: dict[str, float] = field(default_factory=dict)
    cash: float = 0.0  # proceeds beyond the debt: the owner's


@dataclass
class Stats:
    liquidations: int = 0
    liquidated_usd: float = 0.0
    repaid_usd: float = 0.0
    seized_usd: float = 0.0
    proceeds_usd: float = 0.0
    bad_debt_usd: float = 0.0
    bad_debt_positions: int = 0
    shortfall_usd: float = 0.0
    income_usd: float = 0.0
    auctions: int = 0
    zero_bid_auctions: int = 0
    zero_bid_usd: float = 0.0
    auction_raised_usd: float = 0.0
    returned_usd: float = 0.0
    deficit_usd: float = 0.0
    credit_losses_usd: float = 0.0
    market_shortfall_usd: float = 0.0
    skipped_unprofitable: int = 0
    skipped_capital: int = 0
    paused_rounds: int = 0
    deferred_liquidations: int = 0
    deferred_debt_usd: float = 0.0
    adl_usd: float = 0.0
    adl_notional_usd: float = 0.0  # perp: bankrupt notional, in the share the ADL cuts paid
    keeper_paid_usd: float = 0.0  # cdp: what keepers paid for lots won at a discount
    debt_cost_usd: float = 0.0  # lending: what liquidators paid for the debt they repaid
    liquidator_profit_usd: float = 0.0
    hedge_units: float = 0.0
    sales_usd: float = 0.0
    haircut: float = 0.0
    first_distress_round: int | None = None
    first_distress_step: int | None = None
    depth: int | None = None
    seized_units: dict[str, float] = field(default_factory=dict)
    repaid_units: dict[str, float] = field(default_factory=dict)
    written_off_units: dict[str, float] = field(default_factory=dict)
    held_units: dict[str, float] = field(default_factory=dict)  # liquidators' / keepers' stock


def _bump(d: dict[str, float], key: str, value: float) -> None:
    d[key] = d.get(key, 0.0) + value


def _value(amounts: dict[str, float], prices: dict[str, float], order: list[str]) -> float:
    """Value of a basket, summed in asset declaration order (as the kernel's sorted legs)."""
    total = 0.0
    for a in order:
        if amounts.get(a, 0.0) > 0:
            total += amounts[a] * prices[a]
    return total


def _largest(amounts: dict[str, float], prices: dict[str, float], order: list[str]) -> str | None:
    """The asset of largest value; ties go to the asset declared first."""
    best, best_val = None, -1.0
    for a in order:
        if amounts.get(a, 0.0) > 0 and amounts[a] * prices[a] > best_val:
            best, best_val = a, amounts[a] * prices[a]
    return best


def _norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def black_scholes(kind: str, s: float, k: float, tau: float, vol: float, r: float):
    """(delta, value) of one option on one unit."""
    sq = vol * math.sqrt(tau)
    d1 = (math.log(s / k) + (r + 0.5 * vol * vol) * tau) / sq
    d2 = d1 - sq
    disc = k * math.exp(-r * tau)
    if kind == "call":
        return _norm_cdf(d1), s * _norm_cdf(d1) - disc * _norm_cdf(d2)
    return _norm_cdf(d1) - 1.0, disc * _norm_cdf(-d2) - s * _norm_cdf(-d1)


class Reference:
    """The model, one rule at a time."""

    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.order = list(s.assets)
        self.protocols = list(s.protocols)
        self.eps = s.settings.min_price_fraction
        self.tol = s.settings.tolerance
        self.price: dict[str, float] = {}
        self.peg_ratio: dict[str, float] = {}
        for a in self.order:  # priced assets first, then derived ones
            asset = s.assets[a]
            if asset.issuer is None and asset.peg is None:
                self.price[a] = asset.price
        for a in self.order:
            asset = s.assets[a]
            if asset.peg is not None:
                self.peg_ratio[a] = asset.peg.ratio
                self.price[a] = asset.peg.ratio * self.price[asset.peg.to]
        for a in self.order:
            asset = s.assets[a]
            if asset.issuer is not None:
                self.price[a] = 1.0 if asset.backing is None else self.price[asset.backing]
        self.start = dict(self.price)
        # issued tokens with a market: their own shocks, the fundamental value (backing x
        # (1 - haircut)) their market was last centred on, and their band's path
        self.own_shock = dict.fromkeys(self.order, 1.0)
        self.fundamental = dict(self.price)
        self.band_path = dict(self.price)
        self.markets = {}
        # venues (docs/model.md 3j): a single `market` is the one venue called "market"; the
        # first venue listed is the primary one, whose price is the asset's
        self.venues: dict[str, list[tuple[str, Any]]] = {}
        for a in self.order:
            asset = s.assets[a]
            quote = self.peg_ratio.get(a, self.price[a])
            self.markets[a] = make_market(asset, self.eps, quote, self.price[a])
            if getattr(asset, "venues", None):
                self.venues[a] = [
                    (v, make_venue(m, self.eps, quote, self.price[a]))
                    for v, m in asset.venues.items()
                ]
                self.markets[a] = self.venues[a][0][1]
            elif self.markets[a] is not None:
                self.venues[a] = [("market", self.markets[a])]
            else:
                self.venues[a] = []
        self.venue_shocked = {a: {v: self.start[a] for v, _ in self.venues[a]} for a in self.order}
        self.venue_out = {
            a: {v: dict(sold_units=0.0, bought_units=0.0, slippage_usd=0.0) for v, _ in vs}
            for a, vs in self.venues.items()
        }
        self.arb_profit = dict.fromkeys(self.order, 0.0)
        self.shocked = dict(self.price)
        self.shocked_ratio = dict(self.peg_ratio)
        self.stats = {p: Stats() for p in s.protocols}
        self.uses: dict[str, set[str]] = {p: set() for p in s.protocols}
        self.lending: list[LendingPos] = []
        self.vaults: list[Vault] = []
        self.perps: list[PerpPos] = []
        self.levs: list[LevPos] = []
        self.options: list[tuple[str, Any]] = []
        self.liabilities: dict[str, float] = {}
        self.hedge: dict[tuple[str, str], float] = {}
        self.cash: dict[str, float] = {}
        self.book0: dict[str, float] = {}
        for pname, proto in s.protocols.items():
            liab = 0.0
            for i, pos in enumerate(proto.positions):
                account = getattr(pos, "account", None) or f"{pname}#{i}"
                if isinstance(proto, LendingProtocol):
                    self.lending.append(
                        LendingPos(pname, account, dict(pos.collateral), dict(pos.debt))
                    )
                    self.uses[pname] |= set(pos.collateral) | set(pos.debt)
                    liab += sum(u * self.price[a] for a, u in pos.debt.items())
                elif isinstance(proto, CdpProtocol):
                    self.vaults.append(Vault(pname, account, dict(pos.collateral), pos.debt))
                    self.uses[pname] |= set(pos.collateral)
                    liab += pos.debt * self.price[proto.stablecoin]
                elif isinstance(proto, PerpProtocol):
                    self.perps.append(
                        PerpPos(pname, account, pos.asset, pos.size, pos.entry_price, pos.margin)
                    )
                    self.uses[pname].add(pos.asset)
                    liab += pos.margin
                elif isinstance(proto, LeveragedProtocol):
                    self.levs.append(LevPos(pname, account, dict(pos.holdings), pos.debt_usd))
                    self.uses[pname] |= set(pos.holdings)
                    liab += pos.debt_usd
                elif isinstance(proto, OptionsProtocol):
                    self.options.append((pname, pos))
                    self.uses[pname].add(pos.asset)
            if isinstance(proto, CdpProtocol):
                self.uses[pname].add(proto.stablecoin)
            if isinstance(proto, OptionsProtocol):
                liab = proto.reserve_usd
            self.liabilities[pname] = (
                proto.liabilities_usd if proto.liabilities_usd is not None else liab
            )
        # tokens used by a protocol make it depend on their backing or peg target too
        for pname in s.protocols:
            for a in list(self.uses[pname]):
                asset = s.assets[a]
                parent = (
                    asset.backing
                    if asset.issuer is not None
                    else (asset.peg.to if asset.peg is not None else None)
                )
                if parent is not None:
                    self.uses[pname].add(parent)
        # option vaults start delta-neutral, having bought the hedge at start prices
        for pname, pos in self.options:
            proto = s.protocols[pname]
            delta, value = black_scholes(
                pos.kind,
                self.price[pos.asset],
                pos.strike,
                pos.expiry_days / 365.0,
                pos.vol,
                proto.rate,
            )
            self.hedge[(pname, pos.asset)] = self.hedge.get((pname, pos.asset), 0.0) + (
                pos.units * delta
            )
            self.book0[pname] = self.book0.get(pname, 0.0) + pos.units * value
        for pname in s.protocols:
            if isinstance(s.protocols[pname], OptionsProtocol):
                total = 0.0
                for a in self.order:
                    total += self.hedge.get((pname, a), 0.0) * self.price[a]
                self.cash[pname] = -total
        self.haircut = dict.fromkeys(s.protocols, 0.0)
        self.paused = dict.fromkeys(s.protocols, False)
        self.adj = {p: dict.fromkeys(self.order, 0.0) for p in s.protocols}
        self.history: list[dict[str, float]] = [dict(self.price)]  # round-start prices
        self.step_end: list[dict[str, float]] = [dict(self.price)]
        self.coordination: dict[str, dict[str, float]] = {}
        self.coordinate()

    # --- coordination layer (docs/model.md 3k) ---------------------------------------------------
    def entity_leverage(self) -> dict[str, float]:
        """Every account's leverage at start prices, as ``--entities`` reports it: exposure
        (collateral, holdings, perp notional) / equity (collateral + perp margin with its PnL +
        holdings - debt); infinite when equity <= 0 with exposure > 0."""
        p0 = self.start
        assets: dict[str, float] = {}
        debt: dict[str, float] = {}
        exposure: dict[str, float] = {}
        for pos in self.lending:
            col = sum(u * p0[a] for a, u in pos.collateral.items())
            _bump(assets, pos.account, col)
            _bump(exposure, pos.account, col)
            _bump(debt, pos.account, sum(u * p0[a] for a, u in pos.debt.items()))
        for v in self.vaults:
            col = sum(u * p0[a] for a, u in v.collateral.items())
            _bump(assets, v.account, col)
            _bump(exposure, v.account, col)
            _bump(debt, v.account, v.debt * p0[self.s.protocols[v.protocol].stablecoin])
        for pp in self.perps:
            _bump(assets, pp.account, pp.margin + pp.size * (p0[pp.asset] - pp.entry))
            _bump(exposure, pp.account, abs(pp.size) * p0[pp.asset])
        for lv in self.levs:
            h = sum(u * p0[a] for a, u in lv.holdings.items())
            _bump(assets, lv.account, h)
            _bump(exposure, lv.account, h)
            _bump(debt, lv.account, lv.debt)
        out = {}
        for e, x in exposure.items():
            equity = assets.get(e, 0.0) - debt.get(e, 0.0)
            if equity > 0:
                out[e] = x / equity
            elif x > 0:
                out[e] = math.inf
        return out

    def coordinate(self) -> None:
        """Extra margin Δ per over-levered entity, applied by the participating protocols."""
        c = getattr(self.s, "coordination", None)
        if c is None or not c.enabled:
            return
        participants = set(
            c.protocols
            if c.protocols is not None
            else [
                p
                for p, proto in self.s.protocols.items()
                if isinstance(proto, (LendingProtocol, CdpProtocol, PerpProtocol))
            ]
        )
        for e, lev in self.entity_leverage().items():
            if lev <= c.max_entity_leverage:
                continue
            if math.isinf(lev):
                delta = c.max_margin_add
            else:
                delta = min(
                    c.max_margin_add, c.margin_add_per_leverage * (lev - c.max_entity_leverage)
                )
            if delta <= 0:
                continue
            for pos in [*self.lending, *self.vaults, *self.perps]:
                if pos.account == e and pos.protocol in participants:
                    pos.delta = delta
                    # reported per adjusted entity: one a participant tightened
                    self.coordination[e] = {"leverage": lev, "delta": delta}

    # --- oracles ---------------------------------------------------------------------------------
    def oracle(self, p: str, t: int) -> dict[str, float]:
        """Protocol p's oracle: spot, lagged (rounds or steps), twap, or external; floors."""
        cfg = self.s.protocols[p].oracle
        c = len(self.history)
        out = {}
        for a in self.order:
            if cfg.type in ("median", "vwap") or (cfg.type == "spot" and cfg.venues):
                o = self.venue_oracle(cfg, a)
            elif cfg.type == "spot":
                o = self.price[a]
            elif cfg.type == "lagged" and cfg.rounds is not None:
                o = self.history[max(0, c - 1 - cfg.rounds)][a]
            elif cfg.type == "lagged":
                o = self.step_end[max(0, t - cfg.steps + 1)][a]
            elif cfg.type == "twap":
                m = min(cfg.rounds, c)
                total = 0.0
                for j in range(m):
                    total += self.history[c - 1 - j][a]
                o = total / m
            else:
                o = self.shocked[a]
            if a in cfg.floor:
                o = max(o, cfg.floor[a])
            out[a] = o
        return out

    def venue_oracle(self, cfg: Any, a: str) -> float:
        """median / vwap over the listed venues of a (all of them when none is listed); spot
        with one venue reads that venue. Assets with one venue or none read their price."""
        venues = self.venues[a]
        if len(venues) < 2:
            return self.price[a]
        listed = [(v, m) for v, m in venues if v in (cfg.venues or ())]
        if cfg.type == "spot":
            return listed[0][1].price if listed else self.price[a]
        chosen = listed or venues
        prices = sorted(m.price for _, m in chosen)
        if cfg.type == "median":
            k = len(prices)
            return prices[k // 2] if k % 2 else 0.5 * (prices[k // 2 - 1] + prices[k // 2])
        weights = [m.volume or 0.0 for _, m in chosen]
        if sum(weights) <= 0:
            weights = [1.0] * len(chosen)
        return math.fsum(
            w * m.price for w, (_, m) in zip(weights, chosen, strict=True)
        ) / math.fsum(weights)

    def oracles_moving(self) -> bool:
        """Will a lagged-by-rounds or twap feed still change if prices stay where they are?
        It will while its window holds a price other than today's."""
        c = len(self.history)
        for p, proto in self.s.protocols.items():
            cfg = proto.oracle
            if cfg.type not in ("lagged", "twap") or cfg.rounds is None:
                continue
            first = max(0, c - 1 - cfg.rounds) if cfg.type == "lagged" else max(0, c - cfg.rounds)
            floor = cfg.floor
            for a in self.order:
                if a not in self.uses[p]:
                    continue
                now = max(self.price[a], floor.get(a, 0.0))
                for k in range(first, c):
                    seen = max(self.history[k][a], floor.get(a, 0.0))
                    if abs(seen - now) > self.tol * now:
                        return True
        return False

    def read_rounds(self, q: str, r: int, first: int) -> range:
        """The rounds of this step (from ``first``) whose moves q's oracle reads for the first
        time in round r: the one before (spot, median, vwap); r - n - 1 (lagged n rounds: it
        now reads the start of round r - n); r - n .. r - 1 (a twap over n rounds); none
        (lagged by steps, external: nothing of this step)."""
        cfg = self.s.protocols[q].oracle
        if cfg.type == "lagged" and cfg.rounds is not None:
            lo, hi = r - cfg.rounds - 1, r - cfg.rounds - 1
        elif cfg.type == "twap":
            lo, hi = r - cfg.rounds, r - 1
        elif cfg.type in ("lagged", "external"):
            return range(0)
        else:
            lo, hi = r - 1, r - 1
        return range(max(lo, first), hi + 1)

    def oracles(self, t: int) -> dict[str, dict[str, float]]:
        return {p: self.oracle(p, t) for p in self.protocols}

    # --- shortfalls ------------------------------------------------------------------------------
    def shortfall_at(self, O: dict[str, dict[str, float]]) -> dict[str, float]:
        out = dict.fromkeys(self.s.protocols, 0.0)
        for pos in self.lending:
            if pos.open:
                prices = O[pos.protocol]
                debt = _value(pos.debt, prices, self.order)
                if debt > 0:
                    out[pos.protocol] += max(0.0, debt - _value(pos.collateral, prices, self.order))
        for v in self.vaults:
            if v.status != "closed" and v.debt > 0:
                debt = v.debt * self.par(v.protocol, O[v.protocol])
                col = _value(v.collateral, O[v.protocol], self.order)
                if debt > col:
                    out[v.protocol] += debt - col
        for pp in self.perps:
            if pp.open:
                equity = pp.margin + pp.size * (O[pp.protocol][pp.asset] - pp.entry)
                if equity < 0:
                    out[pp.protocol] -= equity
        for lv in self.levs:
            if lv.open:
                h = _value(lv.holdings, O[lv.protocol], self.order)
                if lv.debt > h:
                    out[lv.protocol] += lv.debt - h
        for pname, loss in self.option_losses(O).items():
            out[pname] += loss
        return out

    def option_targets(self, O: dict[str, dict[str, float]]):
        target: dict[tuple[str, str], float] = {}
        units: dict[tuple[str, str], float] = {}
        book: dict[str, float] = {}
        for pname, pos in self.options:
            proto = self.s.protocols[pname]
            delta, value = black_scholes(
                pos.kind,
                O[pname][pos.asset],
                pos.strike,
                pos.expiry_days / 365.0,
                pos.vol,
                proto.rate,
            )
            key = (pname, pos.asset)
            target[key] = target.get(key, 0.0) + pos.units * delta
            units[key] = units.get(key, 0.0) + pos.units
            book[pname] = book.get(pname, 0.0) + pos.units * value
        return target, units, book

    def option_losses(self, O: dict[str, dict[str, float]]) -> dict[str, float]:
        _, _, book = self.option_targets(O)
        out = {}
        for pname in book:
            equity = self.cash[pname] - book[pname] + self.book0[pname]
            for a in self.order:
                equity += self.hedge.get((pname, a), 0.0) * O[pname][a]
            out[pname] = max(0.0, -equity)
        return out

    # --- run -------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        s = self.s
        edges: set[tuple[str, str, str, int]] = set()
        self.asset_out = {
            a: dict(
                sold_units=0.0,
                bought_units=0.0,
                sale_proceeds_usd=0.0,
                slippage_usd=0.0,
                unfilled_units=0.0,
            )
            for a in self.order
        }
        step_rounds: list[int] = []
        step_converged: list[bool] = []
        stress_prev = self.shortfall_at(self.oracles(0))
        global_round = acting_rounds = 0
        for t, step in enumerate(s.shocks):
            ref = self.oracles(t)  # circuit breakers compare with the oracle before the shock
            last_price = dict(self.price)
            vol2 = dict.fromkeys(self.order, 0.0)
            self.paused = dict.fromkeys(s.protocols, False)
            self.apply_recovery_and_shock(t, step)
            step_first = global_round + 1  # contagion sources: moves of this step only
            moved_in: dict[int, set[tuple[str, str]]] = {}  # global round -> (mover, asset)
            credit_prev: set[str] = set()
            rounds_here = 0
            converged = False
            for _ in range(s.settings.max_rounds):
                global_round += 1
                # --- round: oracle prices, circuit breakers, dynamic risk; the price band ---
                self.history.append(dict(self.price))
                self.set_bands()
                O = self.oracles(t)
                for p, proto in s.protocols.items():
                    cb = proto.circuit_breaker
                    if cb is not None:
                        if not self.paused[p]:
                            for a in self.order:
                                if a in self.uses[p] and O[p][a] < ref[p][a] * (1 - cb.drop):
                                    self.paused[p] = True
                                    break
                        if self.paused[p]:
                            self.stats[p].paused_rounds += 1
                for a in self.order:
                    r = math.log(self.price[a] / last_price[a])
                    vol2[a] += r * r
                    last_price[a] = self.price[a]
                for p, proto in s.protocols.items():
                    dr = proto.dynamic_risk
                    for a in self.order:
                        if dr is None or dr.sensitivity == 0:
                            self.adj[p][a] = 0.0
                        else:
                            adj = dr.sensitivity * (math.sqrt(vol2[a]) - dr.reference_vol)
                            self.adj[p][a] = min(max(adj, -dr.max_change), dr.max_change)
                bad_start = {p: st.bad_debt_usd for p, st in self.stats.items()}
                credit_start = {p: st.credit_losses_usd for p, st in self.stats.items()}
                income_start = {p: st.income_usd for p, st in self.stats.items()}
                # --- round: decisions of every protocol from round-start state ---
                self.acted = dict.fromkeys(s.protocols, False)
                self.sells: dict[str, list[float]] = {a: [] for a in self.order}
                self.buys: dict[str, list[float]] = {a: [] for a in self.order}
                self.orders: dict[tuple[str, str], float] = {}
                self.gross_sells: dict[tuple[str, str], float] = {}
                self.gross_buys: dict[tuple[str, str], float] = {}
                self.own_sells: dict[tuple[str, str], float] = {}  # its own orders only
                self.own_buys: dict[tuple[str, str], float] = {}
                self.repaid_now: dict[tuple[str, str], float] = {}  # lending: debt repaid
                self.deferred = {p: [0, 0.0] for p in s.protocols}
                self.credit_now: set[str] = set()
                self.rational: list[tuple[str, str, float, float]] = []
                shortfall_now = dict.fromkeys(s.protocols, 0.0)
                self.lending_round(O, shortfall_now)
                self.cdp_round(O, shortfall_now)
                self.perp_round(O, shortfall_now)
                self.lev_round(O, shortfall_now)
                hedge_pending = self.opt_round(O, shortfall_now)
                self.allocate_rational()
                # --- round: batch execution per asset ---
                price_before = dict(self.price)
                fills, moved_now = self.execute_all()
                arb_moved = self.arbitrage_all()
                self.update_pegged()
                # --- round: settle ---
                for (p, a), units in self.own_sells.items():
                    if isinstance(s.protocols[p], LendingProtocol):
                        self.stats[p].proceeds_usd += units * fills[a][0] * fills[a][1]
                # what they paid for the debt: the batch's price for what they bought, the
                # price after the round for what it could not deliver, the round-start price
                # for what they repaid with units they had
                for (p, a), repay in self.repaid_now.items():
                    bought = self.own_buys.get((p, a), 0.0)
                    filled = bought * fills[a][2]
                    self.stats[p].debt_cost_usd += (
                        filled * fills[a][3]
                        + (bought - filled) * self.price[a]
                        + (repay - bought) * price_before[a]
                    )
                self.cdp_settle(O, fills)
                self.perp_settle(O, fills)
                self.lev_settle(O, fills)
                self.opt_settle(hedge_pending, fills)
                # --- round: issued tokens follow their issuer's haircut ---
                changed = self.update_haircuts(bad_start, credit_start, income_start, shortfall_now)
                self.update_issued()
                repriced = False
                for a in self.order:
                    asset = s.assets[a]
                    moved = abs(self.price[a] - price_before[a]) > self.tol * price_before[a]
                    if asset.issuer is not None and moved:
                        repriced = True
                        if asset.issuer in changed:
                            moved_now.add((asset.issuer, a))
                # --- round: distress, propagation depth and contagion edges ---
                for q in s.protocols:
                    st = self.stats[q]
                    stress = shortfall_now[q] + credit_start[q]
                    grew = stress > stress_prev[q] + self.tol * max(1.0, stress_prev[q])
                    stress_prev[q] = stress
                    if st.depth is not None or not (self.acted[q] or grew):
                        continue
                    # the moves q's oracle reads for the first time in this round
                    seen: set[tuple[str, str]] = set()
                    for k in self.read_rounds(q, global_round, step_first):
                        seen |= moved_in.get(k, set())
                    sources = [(p, a) for (p, a) in seen if p != q and a in self.uses[q]]
                    sources += [
                        (p, "credit")
                        for p in credit_prev
                        if p != q and getattr(s.protocols[p], "lender", None) == q
                    ]
                    for p, a in sources:
                        edges.add((p, q, a, global_round))
                    depths = [self.stats[p].depth for p, _ in sources]
                    st.depth = 0 if not depths else 1 + min(d for d in depths if d is not None)
                    st.first_distress_round = global_round
                    st.first_distress_step = t + 1
                moved_in[global_round] = moved_now
                credit_prev = self.credit_now
                any_acted = any(self.acted.values())
                if not any_acted and not repriced and not arb_moved and not self.oracles_moving():
                    converged = True
                    break
                if any_acted:
                    rounds_here += 1
                    acting_rounds += 1
            step_rounds.append(rounds_here)
            step_converged.append(converged)
            for p in s.protocols:
                self.stats[p].deferred_liquidations += self.deferred[p][0]
                self.stats[p].deferred_debt_usd += self.deferred[p][1]
            self.step_end.append(dict(self.price))
        final = self.shortfall_at(self.oracles(len(s.shocks)))
        market = self.shortfall_at({p: dict(self.price) for p in s.protocols})
        for p, proto in s.protocols.items():
            st = self.stats[p]
            st.shortfall_usd = final[p]
            st.market_shortfall_usd = market[p]
            st.haircut = self.haircut[p]
            # liquidators and keepers hold their stock at the final market price
            kept = 0.0
            for a in self.order:
                kept += st.held_units.get(a, 0.0) * self.price[a]
            if isinstance(proto, LendingProtocol):
                st.liquidator_profit_usd = st.proceeds_usd - st.debt_cost_usd + kept
            elif isinstance(proto, CdpProtocol):
                st.liquidator_profit_usd = kept - st.keeper_paid_usd
        return {
            "converged": all(step_converged),
            "rounds": acting_rounds,
            "total_rounds": global_round,
            "step_rounds": step_rounds,
            "protocols": self.stats,
            "assets": {
                a: dict(
                    self.asset_out[a],
                    start_price=self.start[a],
                    shocked_price=self.shocked[a],
                    final_price=self.price[a],
                    held_units=math.fsum(st.held_units.get(a, 0.0) for st in self.stats.values()),
                    written_off_units=math.fsum(
                        st.written_off_units.get(a, 0.0) for st in self.stats.values()
                    ),
                    arbitrage_profit_usd=self.arb_profit[a],
                    venues=[
                        dict(name=v, final_price=mk.price, **self.venue_out[a][v])
                        for v, mk in self.venues[a]
                        if self.s.assets[a].peg is None  # a pegged market trades its ratio
                    ],
                )
                for a in self.order
            },
            "coordination": self.coordination,
            "edges": edges,
            "positions": self.lending,
            "perps": self.perps,
        }

    # --- prices ----------------------------------------------------------------------------------
    def ratio(self, a: str) -> float:
        market = self.markets[a]
        return market.price if market is not None else self.peg_ratio[a]

    def apply_recovery_and_shock(self, t: int, step: Any) -> None:
        f = self.s.settings.recovery
        if t > 0 and f > 0:
            for a in self.order:
                market = self.markets[a]
                # an issued token's market follows its backing through its fundamental value;
                # its own impact does not revert
                if market is None or self.s.assets[a].issuer is not None:
                    continue
                if self.s.assets[a].peg is not None:
                    target = market.price + f * (self.shocked_ratio[a] - market.price)
                elif self.has_venues(a):  # each venue toward its own exogenous price
                    for v, mk in self.venues[a]:
                        mk.recenter(mk.price + f * (self.venue_shocked[a][v] - mk.price), 1.0)
                    self.price[a] = market.price
                    continue
                else:
                    target = self.price[a] + f * (self.shocked[a] - self.price[a])
                    self.price[a] = target
                market.recenter(target, 1.0)
        for a in self.order:
            asset = self.s.assets[a]
            r = step.returns.get(a, 0.0)
            m = step.liquidity.get(a, 1.0)
            market = self.markets[a]
            if asset.issuer is not None:
                if market is not None:  # a token with its own market can be shocked
                    self.own_shock[a] *= 1 + r
                    self.band_path[a] *= 1 + r
                    market.recenter(market.price * (1 + r), m)
                    self.price[a] = market.price
                continue
            if asset.peg is not None:
                self.shocked_ratio[a] *= 1 + r
                if market is not None:
                    market.recenter(market.price * (1 + r), m)
                else:
                    self.peg_ratio[a] *= 1 + r
                continue
            self.shocked[a] *= 1 + r
            new_price = self.price[a] * (1 + r)
            if self.has_venues(a):  # every venue moves; ASSET@VENUE adds its own return
                for v, mk in self.venues[a]:
                    key = f"{a}@{v}"
                    rv = step.returns.get(key, 0.0)
                    self.venue_shocked[a][v] *= (1 + r) * (1 + rv)
                    mk.recenter(mk.price * (1 + r) * (1 + rv), m * step.liquidity.get(key, 1.0))
                self.price[a] = market.price
                continue
            if market is not None:
                market.recenter(new_price, m)
                new_price = market.price
            self.price[a] = new_price
        for a in self.order:
            asset = self.s.assets[a]
            if asset.peg is not None:
                self.shocked[a] = self.shocked_ratio[a] * self.shocked[asset.peg.to]
        for a in self.order:
            asset = self.s.assets[a]
            if asset.issuer is not None:
                base = 1.0 if asset.backing is None else self.shocked[asset.backing]
                self.shocked[a] = base * self.own_shock[a]
        self.update_pegged()
        self.update_issued()

    def set_bands(self) -> None:
        """Every market's band: eps x and 1 / eps x the price the exogenous path alone gives it
        (a pegged asset's market: its ratio's path; a venue: its own path)."""
        for a, markets in self.venues.items():
            for v, mk in markets:
                if self.s.assets[a].peg is not None:
                    path = self.shocked_ratio[a]
                elif self.s.assets[a].issuer is not None:  # its path follows its fundamental
                    path = self.band_path[a]
                elif self.has_venues(a):
                    path = self.venue_shocked[a][v]
                else:
                    path = self.shocked[a]
                mk.bound(path, self.eps)

    def has_venues(self, a: str) -> bool:
        """An asset declared with `venues:` (rather than one `market`)."""
        return bool(getattr(self.s.assets[a], "venues", None))

    def update_pegged(self) -> None:
        for a in self.order:
            asset = self.s.assets[a]
            if asset.peg is not None:
                self.price[a] = self.ratio(a) * self.price[asset.peg.to]

    def update_issued(self) -> None:
        """backing x (1 - haircut); a token with its own market is re-centred there when that
        fundamental value changes (docs/model.md 3f)."""
        for a in self.order:
            asset = self.s.assets[a]
            if asset.issuer is None:
                continue
            base = 1.0 if asset.backing is None else self.price[asset.backing]
            market = self.markets[a]
            if market is None:
                self.price[a] = max(base * (1 - self.haircut[asset.issuer]), base * self.eps)
                continue
            fundamental = base * max(1 - self.haircut[asset.issuer], self.eps)
            if fundamental != self.fundamental[a]:
                ratio = fundamental / self.fundamental[a]
                self.band_path[a] *= ratio
                market.recenter(market.price * ratio, 1.0)
                self.fundamental[a] = fundamental
            self.price[a] = market.price

    def update_haircuts(self, bad: dict, credit: dict, income: dict, shortfall: dict) -> set:
        changed = set()
        for p, proto in self.s.protocols.items():
            uncovered = bad[p] + credit[p] + shortfall[p] - proto.reserve_usd - income[p]
            if uncovered <= 0:
                h = 0.0
            elif self.liabilities[p] <= 0:
                h = 1.0
            else:
                h = min(1.0, uncovered / self.liabilities[p])
            if h != self.haircut[p]:
                self.haircut[p] = h
                changed.add(p)
        return changed

    def order_sell(self, p: str, a: str, units: float) -> None:
        self.sells[a].append(units)
        self.orders[(p, a)] = self.orders.get((p, a), 0.0) + units
        _bump(self.gross_sells, (p, a), units)
        _bump(self.own_sells, (p, a), units)

    def order_buy(self, p: str, a: str, units: float) -> None:
        self.buys[a].append(units)
        self.orders[(p, a)] = self.orders.get((p, a), 0.0) - units
        _bump(self.gross_buys, (p, a), units)
        _bump(self.own_buys, (p, a), units)

    def unfilled(self, p: str, a: str, units: float) -> None:
        """Units of p's order no market took (+ sold, - bought): lending liquidators keep what
        they could not sell, a perp venue closes at the batch price anyway (both reported); a
        cdp lot, a deleveraging sale or a hedge is offered again next round (not counted)."""
        proto = self.s.protocols[p]
        if isinstance(proto, (LendingProtocol, PerpProtocol)):
            self.asset_out[a]["unfilled_units"] += abs(units)
        if isinstance(proto, LendingProtocol) and units > 0:
            _bump(self.stats[p].held_units, a, units)

    def quote(self, p: str, a: str, q: float) -> float:
        """USD that selling q units of a would raise now (no trade)."""
        asset = self.s.assets[a]
        if asset.peg is not None:
            market = self.markets[a]
            to_units = (
                market.quote_sell(q, self.eps) if market is not None else (q * self.peg_ratio[a])
            )
            to = asset.peg.to
            if not asset.peg.sell_target:  # liquidators keep the target at its round-start price
                return to_units * self.price[to]
            if self.has_venues(to):
                return self.quote_venues(p, to, to_units)
            if self.markets[to] is not None:
                return self.markets[to].quote_sell(to_units, self.eps)
            return to_units * self.price[to]
        if self.has_venues(a):
            return self.quote_venues(p, a, q)
        if self.markets[a] is not None:  # its market (an issued token's own one too)
            return self.markets[a].quote_sell(q, self.eps)
        return q * self.price[a]

    def quote_venues(self, p: str, a: str, q: float) -> float:
        """What protocol p's liquidators would raise selling q units of a now: through p's
        fixed route where it applies to a, else split optimally across a's venues."""
        venues = self.venues[a]
        route = self.s.protocols[p].route
        names = [v for v, _ in venues]
        if route is not None and all(v in names for v in route):
            split = [q * route.get(v, 0.0) for v in names]
        else:
            split = route_split([mk for _, mk in venues], q, True)
        return math.fsum(
            mk.quote_sell(qv, self.eps) for (_, mk), qv in zip(venues, split, strict=True)
        )

    def marginal(self, p: str | None, a: str, q: float) -> float:
        """USD the q-th unit of a sale of a would fetch now (no trade): the slope of quote."""
        asset = self.s.assets[a]
        if asset.peg is not None:
            market = self.markets[a]
            if market is not None:
                ratio, to_units = market.marginal(q), market.quote_sell(q, self.eps)
            else:
                ratio, to_units = self.peg_ratio[a], q * self.peg_ratio[a]
            to = asset.peg.to
            if asset.peg.sell_target and self.markets[to] is not None:
                return ratio * self.venue_marginal(p, to, to_units)
            return ratio * self.price[to]
        if self.markets[a] is not None:
            return self.venue_marginal(p, a, q)
        return self.price[a]

    def venue_marginal(self, p: str | None, a: str, q: float) -> float:
        """On a's one market, through p's fixed route, or split optimally across a's venues
        (always for p None)."""
        venues = self.venues[a]
        if len(venues) == 1:
            return venues[0][1].marginal(q)
        route = self.s.protocols[p].route if p is not None else None
        names = [v for v, _ in venues]
        if route is not None and all(v in names for v in route):
            return math.fsum(
                route.get(v, 0.0) * mk.marginal(q * route.get(v, 0.0)) for v, mk in venues
            )
        return route_marginal([mk for _, mk in venues], q)

    def units_above(self, p: str | None, a: str, m: float, cap: float) -> float:
        """Units the market takes now before the next one fetches less than m, at most cap;
        -1 when not even the first does. Through p's route, or split optimally (p None)."""
        if self.marginal(p, a, 0.0) < m:
            return -1.0
        asset = self.s.assets[a]
        if asset.peg is None and len(self.venues[a]) == 1:  # in closed form
            return min(cap, self.venues[a][0][1].units_at_least(m))
        if self.marginal(p, a, cap) >= m:
            return cap
        low, high = 0.0, cap
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (low + high)
            if self.marginal(p, a, mid) >= m:
                low = mid
            else:
                high = mid
        return low

    def effective_route(self, p: str, a: str) -> tuple | None:
        """p's fixed route as it applies to a (None: split optimally)."""
        route = self.s.protocols[p].route
        names = [v for v, _ in self.venues[a]]
        if route is None or len(names) < 2 or not all(v in names for v in route):
            return None
        return tuple(route.get(v, 0.0) for v in names)

    def allocate_rational(self) -> None:
        """The round's rational liquidators sell as in a call auction from the round-start
        market (docs/model.md 3i): the round's other orders first, then in ascending order of
        cost per unit, equal costs pro rata, while the market pays their cost."""
        for a in self.order:
            entries = [e for e in self.rational if e[1] == a]
            if not entries:
                continue
            total = math.fsum(e[2] for e in entries)
            sold, bought = math.fsum(self.sells[a]), math.fsum(self.buys[a])
            for c in sorted({e[3] for e in entries}):
                group = [e for e in entries if e[3] == c]
                size = math.fsum(e[2] for e in group)
                # their route when all of them route alike (it decides the venue), else optimal
                routes = {self.effective_route(e[0], a) for e in group}
                via = group[0][0] if len(routes) == 1 else None
                take = max(0.0, self.units_above(via, a, c, sold + total))
                cross = bought if self.price[a] >= c else 0.0
                give = min(size, max(0.0, take + cross - sold))
                for p, _, seize, _ in group:
                    q = seize * (give / size) if size > 0 else 0.0
                    if q > 0:
                        self.order_sell(p, a, q)
                        _bump(self.stats[p].held_units, a, -q)
                sold += give
        self.rational = []

    def execute_all(self):
        """Pegged assets through their ratio (their `to` units join the target's batch), then
        every other asset; fills per side as (sell fill, sell USD per filled unit, buy fill,
        buy USD per filled unit)."""
        fills: dict[str, tuple[float, float, float, float]] = {}
        moved: set[tuple[str, str]] = set()
        flow = dict(self.orders)
        pegged = {}
        price_before = dict(self.price)
        for a in self.order:
            asset = self.s.assets[a]
            if asset.peg is None:
                continue
            sold, bought = math.fsum(self.sells[a]), math.fsum(self.buys[a])
            if sold <= 0 and bought <= 0:
                continue
            to = asset.peg.to
            r0 = self.ratio(a)
            market = self.markets[a]
            crossed = min(sold, bought)
            net = sold - bought
            filled_s = filled_b = crossed
            routed = 0.0
            out = self.asset_out[a]
            if net > 0:
                if market is not None:
                    got, filled = market.sell(net, self.eps)
                    out["slippage_usd"] += (filled * r0 - got) * self.price[to]
                else:
                    got, filled = net * r0, net
                filled_s += filled
                routed = got
                if asset.peg.sell_target:
                    self.sells[to].append(got)
                    for (p, oa), units in self.orders.items():
                        if oa == a and units > 0:
                            flow[(p, to)] = flow.get((p, to), 0.0) + got * units / sold
                    for (p, oa), units in list(self.gross_sells.items()):
                        if oa == a:
                            _bump(self.gross_sells, (p, to), got * units / sold)
            elif net < 0:
                if market is not None:
                    cost, filled = market.buy(-net, self.eps)
                    out["slippage_usd"] += (cost - filled * r0) * self.price[to]
                else:
                    cost, filled = -net * r0, -net
                filled_b += filled
                routed = -cost
                if asset.peg.sell_target:
                    self.buys[to].append(cost)
                    for (p, oa), units in self.orders.items():
                        if oa == a and units < 0:
                            flow[(p, to)] = flow.get((p, to), 0.0) - cost * (-units) / bought
                    for (p, oa), units in list(self.gross_buys.items()):
                        if oa == a:
                            _bump(self.gross_buys, (p, to), cost * units / bought)
            # units that changed hands, each once (crossed and filled)
            out["sold_units"] += filled_s if sold > 0 else 0.0
            out["bought_units"] += filled_b if bought > 0 else 0.0
            pegged[a] = (sold, bought, crossed, filled_s, filled_b, routed)
            # a move below the tolerance is rounding, not a protocol moving a price
            if market is not None and abs(market.price - r0) > self.tol * r0 and net != 0:
                for (p, oa), units in self.orders.items():
                    if oa == a and units * net > 0:
                        moved.add((p, a))
        for a in self.order:
            if self.s.assets[a].peg is not None:
                continue
            venues_before = [mk.price for _, mk in self.venues[a]]
            fills[a] = self.execute(a, self.asset_out[a])
            net = fills[a][4]
            venue_moved = any(
                abs(mk.price - before) > self.tol * before
                for (_, mk), before in zip(self.venues[a], venues_before, strict=True)
            )
            price_moved = abs(self.price[a] - price_before[a]) > self.tol * price_before[a]
            if (price_moved or venue_moved) and net != 0:
                for (p, fa), units in flow.items():
                    if fa == a and units * net > 0:
                        moved.add((p, a))
        for a, (sold, bought, crossed, filled_s, filled_b, routed) in pegged.items():
            to = self.s.assets[a].peg.to
            p0 = price_before[a]
            usd_s = usd_b = crossed * p0
            if not self.s.assets[a].peg.sell_target:  # sellers keep the target's units
                usd_s += max(routed, 0.0) * price_before[to]
                usd_b += max(-routed, 0.0) * price_before[to]
            elif routed > 0:
                usd_s += routed * fills[to][0] * fills[to][1]
            elif routed < 0:
                usd_b += -routed * fills[to][3]
            sell_fill = filled_s / sold if sold > 0 else 0.0
            sell_avg = (usd_s / filled_s if filled_s > 0 else p0) if sold > 0 else 0.0
            buy_fill = filled_b / bought if bought > 0 else 0.0
            buy_avg = (usd_b / filled_b if filled_b > 0 else p0) if bought > 0 else 0.0
            fills[a] = (sell_fill, sell_avg, buy_fill, buy_avg, sold - bought)
            if sold > 0:
                self.asset_out[a]["sale_proceeds_usd"] += usd_s
            # target units the sale yielded that the target's market did not take stay with
            # the sellers
            if self.s.assets[a].peg.sell_target and routed > 0 and sold > 0:
                left = routed * (1 - fills[to][0])
                if left > 0:
                    for (p, oa), units in self.own_sells.items():
                        if oa == a and units > 0:
                            self.unfilled(p, to, left * units / sold)
        for a in self.order:
            fills.setdefault(a, (0.0, 0.0, 0.0, 0.0, 0.0))
        # --- what no market took, per seller ---
        for (p, a), units in self.own_sells.items():
            if units > 0 and fills[a][0] < 1:
                self.unfilled(p, a, units * (1 - fills[a][0]))
        for (p, a), units in self.own_buys.items():
            if units > 0 and fills[a][2] < 1:
                self.unfilled(p, a, -units * (1 - fills[a][2]))
        self.update_pegged()
        return fills, moved

    def execute(self, a: str, out: dict[str, float]):
        """Cross sells and buys at the round-start price; the net goes to the market."""
        sold = math.fsum(self.sells[a])
        bought = math.fsum(self.buys[a])
        if sold <= 0 and bought <= 0:
            return (0.0, 0.0, 0.0, 0.0, 0.0)
        p0 = self.price[a]
        crossed = min(sold, bought)
        net = sold - bought
        s_filled = b_filled = crossed
        proceeds = cost = crossed * p0
        market = self.markets[a]
        if self.has_venues(a):
            # --- round: route the net across venues: fixed routes, then optimal ---
            if net != 0:
                usd, filled = self.route(a, net)
                if net > 0:
                    proceeds += usd
                    s_filled += filled
                else:
                    cost += usd
                    b_filled += filled
                # slippage: per venue, in trade()
            self.price[a] = market.price
        elif market is not None:
            if net > 0:
                got, filled = market.sell(net, self.eps)
                proceeds += got
                s_filled += filled
                out["slippage_usd"] += filled * p0 - got
                self.venue_out[a]["market"]["sold_units"] += filled
                self.venue_out[a]["market"]["slippage_usd"] += filled * p0 - got
            elif net < 0:
                paid, filled = market.buy(-net, self.eps)
                cost += paid
                b_filled += filled
                out["slippage_usd"] += paid - filled * p0
                self.venue_out[a]["market"]["bought_units"] += filled
                self.venue_out[a]["market"]["slippage_usd"] += paid - filled * p0
            self.price[a] = market.price
        else:
            proceeds += max(net, 0.0) * p0
            cost += max(-net, 0.0) * p0
            s_filled, b_filled = sold, bought
        out["sold_units"] += s_filled if sold > 0 else 0.0
        out["bought_units"] += b_filled if bought > 0 else 0.0
        out["sale_proceeds_usd"] += proceeds
        sell_fill = s_filled / sold if sold > 0 else 0.0
        sell_avg = (proceeds / s_filled if s_filled > 0 else p0) if sold > 0 else 0.0
        buy_fill = b_filled / bought if bought > 0 else 0.0
        buy_avg = (cost / b_filled if b_filled > 0 else p0) if bought > 0 else 0.0
        return (sell_fill, sell_avg, buy_fill, buy_avg, net)

    def trade(self, a: str, v: str, mk: Any, q: float, sell: bool) -> tuple[float, float]:
        """One trade of the round's net on venue v; slippage against its price before."""
        before = mk.price
        vo = self.venue_out[a][v]
        if sell:
            usd, filled = mk.sell(q, self.eps)
            slip = filled * before - usd
            vo["sold_units"] += filled
        else:
            usd, filled = mk.buy(q, self.eps)
            slip = usd - filled * before
            vo["bought_units"] += filled
        vo["slippage_usd"] += slip
        self.asset_out[a]["slippage_usd"] += slip
        return usd, filled

    def route(self, a: str, net: float) -> tuple[float, float]:
        """docs/model.md 3j execution: each protocol with a route naming venues of a sends its
        share of the net (its units on the net's side / all units on that side) to them in its
        fractions; each venue executes the fixed sum as one trade, in declaration order; the
        rest is split optimally against the venues' state after that."""
        sell = net > 0
        q = abs(net)
        venues = self.venues[a]
        names = [v for v, _ in venues]
        gross = self.gross_sells if sell else self.gross_buys
        fixed = dict.fromkeys(names, 0.0)
        # all units on the net's side: the protocols' gross units (own orders and what their
        # pegged sales yielded), summed in the same way as the routed and unrouted parts
        side_total = unrouted = 0.0
        for p in self.protocols:
            units = gross.get((p, a), 0.0)
            if units > 0:
                side_total += units
                if self.effective_route(p, a) is None:
                    unrouted += units
        for p in self.protocols:
            route = self.s.protocols[p].route
            units = gross.get((p, a), 0.0)
            if self.effective_route(p, a) is None or units <= 0:
                continue
            share = q * units / side_total
            for v, frac in route.items():
                fixed[v] += share * frac
        # the split adds up to the order exactly: units are unfilled only where a venue could
        # not fill its part, or where all venues together cannot absorb the rest
        usd = unfilled = 0.0
        for v, mk in venues:
            if fixed[v] > 0:
                u, f = self.trade(a, v, mk, fixed[v], sell)
                usd += u
                unfilled += fixed[v] - f
        # the units of protocols without a route; exactly 0 when all have one (q minus the fixed
        # amounts leaves a float residual, which moves an order book's price to the level it
        # touches)
        rest = q * unrouted / side_total if side_total > 0 else q
        if rest > 0:
            markets = [mk for _, mk in venues]
            split = route_split(markets, rest, sell)
            if (
                math.fsum(min(mk.take(_far_end(markets, sell), rest), rest) for mk in markets)
                < rest
            ):
                unfilled += rest - math.fsum(split)
            for (v, mk), qv in zip(venues, split, strict=True):
                if qv > 0:
                    u, f = self.trade(a, v, mk, qv, sell)
                    usd += u
                    unfilled += qv - f
        return usd, q - unfilled

    # --- round: arbitrage between venues ---
    def arbitrage_all(self) -> bool:
        """At the end of the round, arbitrage each asset's venues; True when it moved a venue
        price by more than the tolerance (then the round is not the fixed point)."""
        moved = False
        for a in self.order:
            venues = self.venues[a]
            if len(venues) < 2:
                continue
            cfg = getattr(self.s.assets[a], "arbitrage", None)
            speed, cost = (1.0, 0.0) if cfg is None else (cfg.speed, cfg.cost)
            before = [mk.price for _, mk in venues]
            self.arb_profit[a] += arbitrage([mk for _, mk in venues], speed, cost, self.tol)
            for (_, mk), p0 in zip(venues, before, strict=True):
                if abs(mk.price - p0) > self.tol * p0:
                    moved = True
            self.price[a] = venues[0][1].price
        return moved

    def defer(self, p: str, debt_value: float) -> None:
        self.deferred[p][0] += 1
        self.deferred[p][1] += debt_value

    # --- lending (MODEL.md §3 lending, §4 liquidators) ---------------------------------------
    def lending_round(self, O: dict, shortfall: dict) -> None:
        order = self.order
        candidates = []
        for pos in self.lending:
            if not pos.open:
                continue
            p = pos.protocol
            proto = self.s.protocols[p]
            oracle = O[p]
            # --- round: value the position at the protocol's oracle ---
            debt_value = _value(pos.debt, oracle, order)
            if debt_value == 0:
                continue
            col_value = _value(pos.collateral, oracle, order)
            if debt_value > col_value:
                shortfall[p] += debt_value - col_value
            # --- round: find eligible positions (HF < 1, beyond the tolerance) ---
            adj = 0.0
            for a in order:
                if pos.collateral.get(a, 0.0) > 0:
                    lt0 = max(0.0, proto.collateral[a].liquidation_threshold - pos.delta)
                    lt = min(1.0, lt0 * (1 - self.adj[p][a]))  # never above 1
                    adj += pos.collateral[a] * oracle[a] * lt
            hf = adj / debt_value
            i_star = _largest(pos.collateral, oracle, order)
            if hf >= 1 - self.tol or i_star is None:
                continue
            if self.paused[p]:
                self.defer(p, debt_value)
                continue
            # --- round: liquidate: largest debt j*, largest collateral i*, close factor ---
            j_star = _largest(pos.debt, oracle, order)
            assert j_star is not None
            b = proto.collateral[i_star].liquidation_bonus
            cf = 1.0 if hf <= proto.full_close_below_hf * (1 + self.tol) else proto.close_factor
            by_debt = cf * pos.debt[j_star] * oracle[j_star]
            by_col = pos.collateral[i_star] * oracle[i_star] / (1 + b)
            if by_debt <= by_col:
                repay_usd = by_debt
                repay_units = cf * pos.debt[j_star]
                seize = min(repay_usd * (1 + b) / oracle[i_star], pos.collateral[i_star])
            else:
                repay_usd = by_col
                repay_units = min(repay_usd / oracle[j_star], pos.debt[j_star])
                seize = pos.collateral[i_star]
            # --- round: the debt the liquidators repay: bought on its market ---
            p_mkt = self.price[j_star]  # they pay the market, not the oracle
            cost = repay_units * p_mkt
            buy = repay_units if self.debt_bought(j_star, i_star) else 0.0
            # --- round: liquidators: profitable at the current market, within capital ---
            liquidators = proto.liquidators or self.s.settings.liquidators
            mode = liquidators.mode if liquidators is not None else "rational"
            capital = liquidators.capital_usd_per_round if liquidators is not None else None
            min_profit = liquidators.min_profit_usd if liquidators is not None else 0.0
            sell = seize
            profit = 0.0
            if mode == "rational":  # alone: sell what fetches its cost, hold the rest (at cost)
                # = cost / seized: the collateral's oracle price / (1 + b) x the debt's market
                # price over its oracle price
                per_unit = oracle[i_star] / (1 + b) * (p_mkt / oracle[j_star])
                c = per_unit * (1 - self.tol)
                alone = self.units_above(p, i_star, c, seize)
                if alone < 0:
                    self.stats[p].skipped_unprofitable += 1
                    continue
                profit = self.quote(p, i_star, alone) - alone * per_unit
                sell = -c  # allocated with the round's other rational sales
            elif mode == "atomic" or capital is not None:
                profit = self.quote(p, i_star, seize) - cost
            if mode != "any_loss" and profit < min_profit - self.tol * cost:
                self.stats[p].skipped_unprofitable += 1
                continue
            if capital is not None:
                candidates.append(
                    (pos, j_star, i_star, repay_units, seize, repay_usd, profit, sell, buy)
                )
                continue
            self.liquidate(pos, O, j_star, i_star, repay_units, seize, repay_usd, sell, buy)
        # most profitable first (ties: account name), within each protocol's capital
        candidates.sort(key=lambda c: (self.protocols.index(c[0].protocol), -c[6], c[0].account))
        budget = {}
        for pos, j_star, i_star, repay_units, seize, repay_usd, _, sell, buy in candidates:
            p = pos.protocol
            liquidators = self.s.protocols[p].liquidators or self.s.settings.liquidators
            budget.setdefault(p, liquidators.capital_usd_per_round)
            if budget[p] <= 0:
                self.stats[p].skipped_capital += 1
                continue
            scale = 1.0 if repay_usd <= budget[p] else budget[p] / repay_usd
            # the marginal one takes what capital is left; the rest are skipped (not rounding)
            budget[p] = budget[p] - repay_usd if scale == 1.0 else 0.0
            self.liquidate(
                pos,
                O,
                j_star,
                i_star,
                repay_units * scale,
                seize * scale,
                repay_usd * scale,
                sell * scale if sell >= 0 else sell,
                buy * scale,
            )

    def debt_bought(self, a_debt: str, a_col: str) -> bool:
        """Liquidators buy the debt they repay on its market (a traded or pegged asset, or an
        issued token with a market), unless the seized collateral is pegged to it with
        sell_target false: its sale yields what they repay."""
        asset = self.s.assets[a_debt]
        if asset.issuer is not None:
            traded = asset.market is not None
        else:
            traded = asset.peg is not None or bool(self.venues[a_debt])
        if not traded:
            return False
        col = self.s.assets[a_col]
        return not (col.peg is not None and not col.peg.sell_target and col.peg.to == a_debt)

    def liquidate(self, pos, O, j_star, i_star, repay_units, seize, repay_usd, sell, buy) -> None:
        oracle = O[pos.protocol]
        pos.debt[j_star] -= repay_units
        pos.collateral[i_star] -= seize
        st = self.stats[pos.protocol]
        st.liquidations += 1
        st.repaid_usd += repay_usd
        st.liquidated_usd += repay_usd
        st.seized_usd += seize * oracle[i_star]
        _bump(st.seized_units, i_star, seize)
        _bump(st.repaid_units, j_star, repay_units)
        _bump(self.repaid_now, (pos.protocol, j_star), repay_units)
        if buy > 0:
            self.order_buy(pos.protocol, j_star, buy)
        if sell < 0:  # rational: held until the round's rational sales are allocated
            self.rational.append((pos.protocol, i_star, seize, -sell))
            _bump(st.held_units, i_star, seize)
        else:
            self.order_sell(pos.protocol, i_star, sell)
            _bump(st.held_units, i_star, seize - sell)  # what the liquidators keep
        self.acted[pos.protocol] = True
        # --- round: settle: debt with no collateral left is bad debt ---
        if all(u <= 0 for u in pos.collateral.values()):
            written = 0.0
            for a in self.order:
                u = pos.debt.get(a, 0.0)
                if u > 0:
                    written += u * oracle[a]
                    _bump(st.written_off_units, a, u)
                    pos.debt[a] = 0.0
            st.bad_debt_usd += written
            st.bad_debt_positions += 1
            pos.open = False

    # --- cdp (MODEL.md §3 cdp) ---------------------------------------------------------------
    def par(self, p: str, prices: dict[str, float]) -> float:
        """A cdp values its own stablecoin at par: the backing's price (1 USD by default)."""
        stable = self.s.protocols[p].stablecoin
        asset = self.s.assets[stable]
        if asset.issuer is not None:
            return 1.0 if asset.backing is None else prices[asset.backing]
        return prices[stable]

    def vault_adj(self, v: Vault) -> float:
        legs = [self.adj[v.protocol][a] for a in self.order if v.collateral.get(a, 0.0) > 0]
        return max(legs) if legs else 0.0

    def cdp_round(self, O: dict, shortfall: dict) -> None:
        lot: dict[tuple[str, str], float] = {}
        for v in self.vaults:
            if v.status == "closed":
                continue
            proto = self.s.protocols[v.protocol]
            oracle = O[v.protocol]
            s_price = self.par(v.protocol, oracle)
            debt_value = v.debt * s_price
            col = _value(v.collateral, oracle, self.order)
            if debt_value > col:
                shortfall[v.protocol] += debt_value - col
            if v.status == "open":
                ratio = (proto.liquidation_ratio + v.delta) * (1 + self.vault_adj(v))
                if v.debt <= 0 or col >= ratio * debt_value * (1 - self.tol):
                    continue
                if self.paused[v.protocol]:
                    self.defer(v.protocol, debt_value)
                    continue
                v.status = "auction"
                v.tab = v.debt * (1 + proto.penalty)
                v.tab0 = v.tab
                self.acted[v.protocol] = True
                self.stats[v.protocol].auctions += 1
                self.stats[v.protocol].liquidations += 1
            if col <= 0:
                continue
            frac = min(1.0, v.tab * s_price / col)
            for a in self.order:
                if v.collateral.get(a, 0.0) > 0:
                    key = (v.protocol, a)
                    lot[key] = lot.get(key, 0.0) + frac * v.collateral[a]
        # --- round: auction stress ---
        stressed = set()
        for (p, a), units in lot.items():
            if units <= 0:
                continue
            quote = self.quote(p, a, units)
            if 1 - quote / (units * self.price[a]) > self.s.protocols[p].auction.max_slippage:
                stressed.add((p, a))
        # --- round: auction the lots ---
        for v in self.vaults:
            if v.status != "auction":
                continue
            proto = self.s.protocols[v.protocol]
            oracle = O[v.protocol]
            col = _value(v.collateral, oracle, self.order)
            if col <= 0:
                continue
            frac = min(1.0, v.tab * self.par(v.protocol, oracle) / col)
            zero_bid = False
            st = self.stats[v.protocol]
            for a in self.order:
                c = v.collateral.get(a, 0.0)
                if c <= 0:
                    continue
                if (v.protocol, a) in stressed:
                    disc = proto.auction.zero_bid_discount
                    units = c if disc >= 1 else min(1.0, frac / (1 - disc)) * c
                    v.raised += units * oracle[a] * (1 - disc)
                    st.keeper_paid_usd += units * oracle[a] * (1 - disc)
                    _bump(st.held_units, a, units)  # keepers hold what they won
                    v.collateral[a] -= units
                    _bump(st.seized_units, a, units)
                    st.seized_usd += units * oracle[a]
                    st.zero_bid_usd += units * oracle[a]
                    zero_bid = True
                else:
                    units = frac * c
                    v.pending[a] = units
                    self.order_sell(v.protocol, a, units)
            if zero_bid:
                st.zero_bid_auctions += 1
                self.acted[v.protocol] = True

    def cdp_settle(self, O: dict, fills: dict) -> None:
        for v in self.vaults:
            if v.status != "auction":
                continue
            proto = self.s.protocols[v.protocol]
            stable = proto.stablecoin
            oracle = O[v.protocol]
            s_price = self.par(v.protocol, oracle)
            st = self.stats[v.protocol]
            for a in self.order:
                q = v.pending.get(a, 0.0)
                if q > 0:
                    filled = q * fills[a][0]
                    if filled > 0:
                        self.acted[v.protocol] = True
                    v.raised += filled * fills[a][1]
                    v.collateral[a] -= filled
                    _bump(st.seized_units, a, filled)
                    st.seized_usd += filled * oracle[a]
                    st.proceeds_usd += filled * fills[a][1]
                    v.pending[a] = 0.0
            st.auction_raised_usd += v.raised
            raised_units = v.raised / s_price
            v.raised = 0.0
            used = min(raised_units, v.tab)
            repay = min(used, v.debt)
            v.debt -= repay
            v.tab -= used
            st.returned_usd += (raised_units - used) * s_price
            _bump(st.repaid_units, stable, repay)
            st.repaid_usd += repay * s_price
            st.liquidated_usd += repay * s_price
            st.income_usd += (used - repay) * s_price
            if v.tab <= 1e-6 * v.tab0:  # the auction is done but for dust
                v.tab = 0.0
                if v.debt > 0:
                    _bump(st.repaid_units, stable, v.debt)
                    v.debt = 0.0
                v.status = "closed"
                continue
            if all(u <= 0 for u in v.collateral.values()):
                st.bad_debt_usd += v.debt * s_price
                _bump(st.written_off_units, stable, v.debt)
                if v.debt > 0:  # only the penalty unraised: lost income, not bad debt
                    st.bad_debt_positions += 1
                v.debt = v.tab = 0.0
                v.status = "closed"

    # --- perp (MODEL.md §3 perp) -------------------------------------------------------------
    def perp_round(self, O: dict, shortfall: dict) -> None:
        for pp in self.perps:
            if not pp.open:
                continue
            proto = self.s.protocols[pp.protocol]
            o = O[pp.protocol][pp.asset]
            equity = pp.margin + pp.size * (o - pp.entry)
            if equity < 0:
                shortfall[pp.protocol] -= equity
            mm = (proto.maintenance_margin + pp.delta) * (1 + self.adj[pp.protocol][pp.asset])
            if equity >= mm * abs(pp.size) * o * (1 - self.tol):
                continue
            if self.paused[pp.protocol]:
                self.defer(pp.protocol, abs(pp.size) * o)
                continue
            # --- round: close at market: longs sell, shorts buy ---
            pp.pending = pp.size
            pp.open = False
            if pp.size > 0:
                self.order_sell(pp.protocol, pp.asset, pp.size)
            else:
                self.order_buy(pp.protocol, pp.asset, -pp.size)
            self.acted[pp.protocol] = True
            self.stats[pp.protocol].liquidations += 1

    def perp_settle(self, O: dict, fills: dict) -> None:
        deficit: dict[tuple[str, str, int], float] = {}
        notional: dict[tuple[str, str, int], float] = {}  # of the bankrupt positions, per pool
        for pp in self.perps:
            size = pp.pending
            if size == 0:
                continue
            proto = self.s.protocols[pp.protocol]
            o = O[pp.protocol][pp.asset]
            fill = fills[pp.asset]
            if size > 0:  # a long sold at the sellers' price
                px = fill[1] if fill[0] > 0 else o
            else:  # a short bought at the buyers' price
                px = fill[3] if fill[2] > 0 else o
            equity = pp.margin + size * (px - pp.entry)
            fee = min(proto.liquidation_fee * abs(size) * o, max(0.0, equity))
            st = self.stats[pp.protocol]
            st.income_usd += fee
            rest = equity - fee
            if rest < 0:
                st.deficit_usd -= rest
                key = (pp.protocol, pp.asset, 0 if size > 0 else 1)
                deficit[key] = deficit.get(key, 0.0) - rest
                notional[key] = notional.get(key, 0.0) + abs(size) * px
            st.liquidated_usd += abs(size) * px
            pp.pending = 0.0
        if not deficit:
            return
        # --- insurance fund first, then auto-deleveraging, then bad debt ---
        need: dict[tuple[str, str, int], float] = {}
        for p in self.s.protocols:
            keys = [(p, a, side) for a in self.order for side in (0, 1)]
            total = 0.0
            for k in keys:
                total += deficit.get(k, 0.0)
            if total <= 0:
                continue
            st = self.stats[p]
            fund = max(0.0, self.s.protocols[p].reserve_usd + st.income_usd - st.bad_debt_usd)
            cover = min(total, fund)
            st.bad_debt_usd += cover
            rest = total - cover
            if rest <= 0:
                continue
            for k in keys:
                need[k] = rest * deficit.get(k, 0.0) / total
        if not any(v > 0 for v in need.values()):
            return
        pnl: dict[tuple[str, str, int], float] = {}
        for pp in self.perps:
            if pp.open:
                u = pp.size * (O[pp.protocol][pp.asset] - pp.entry)
                if u > 0:
                    key = (pp.protocol, pp.asset, 1 if pp.size > 0 else 0)
                    pnl[key] = pnl.get(key, 0.0) + u
        ratio: dict[tuple[str, str, int], float] = {}
        for key, n in need.items():
            if n <= 0:
                continue
            w = pnl.get(key, 0.0)
            cut = min(n, w)
            if cut > 0:
                ratio[key] = cut / w
                self.stats[key[0]].adl_usd += cut
                self.stats[key[0]].adl_notional_usd += notional[key] * cut / deficit[key]
            self.stats[key[0]].bad_debt_usd += n - cut
        for pp in self.perps:
            if pp.open:
                u = pp.size * (O[pp.protocol][pp.asset] - pp.entry)
                if u > 0:
                    r = ratio.get((pp.protocol, pp.asset, 1 if pp.size > 0 else 0), 0.0)
                    if r > 0:
                        pp.entry += u * r / pp.size
                        pp.adl_cut += u * r

    # --- leveraged (MODEL.md §3 leveraged) ---------------------------------------------------
    def write_off(self, lv: LevPos) -> None:
        st = self.stats[lv.protocol]
        st.bad_debt_usd += lv.debt
        st.bad_debt_positions += 1
        lender = self.s.protocols[lv.protocol].lender
        if lender is not None and lv.debt > 0:
            self.stats[lender].credit_losses_usd += lv.debt
            self.credit_now.add(lv.protocol)
        lv.debt = 0.0
        lv.open = False

    def lev_round(self, O: dict, shortfall: dict) -> None:
        for lv in self.levs:
            if not lv.open:
                continue
            proto = self.s.protocols[lv.protocol]
            h = _value(lv.holdings, O[lv.protocol], self.order)
            d = lv.debt
            if d > h:
                shortfall[lv.protocol] += d - h
            if d <= 0:
                continue
            e = h - d
            if e > 0 and h <= proto.max_leverage * e * (1 + self.tol):
                continue
            if h <= 0:
                self.write_off(lv)
                self.acted[lv.protocol] = True
                continue
            # --- round: deleverage: sell X = H - target x E pro rata ---
            frac = 1.0 if e <= 0 else min(1.0, max(0.0, (h - proto.target_leverage * e) / h))
            for a in self.order:
                units = frac * lv.holdings.get(a, 0.0)
                if units > 0:
                    lv.pending[a] = units
                    self.order_sell(lv.protocol, a, units)
            # counted as a liquidation once some of the sale fills (lev_settle)

    def lev_settle(self, O: dict, fills: dict) -> None:
        for lv in self.levs:
            if not lv.open:
                continue
            st = self.stats[lv.protocol]
            proceeds = 0.0
            sold = any_filled = False
            for a in self.order:
                q = lv.pending.get(a, 0.0)
                if q > 0:
                    filled = q * fills[a][0]
                    if filled > 0:
                        self.acted[lv.protocol] = True
                        any_filled = True
                    proceeds += filled * fills[a][1]
                    lv.holdings[a] -= filled
                    _bump(st.seized_units, a, filled)
                    st.seized_usd += filled * O[lv.protocol][a]
                    lv.pending[a] = 0.0
                    sold = True
            if not sold:
                continue
            if any_filled:  # offering holdings nobody takes is not a liquidation
                st.liquidations += 1
            repay = min(proceeds, lv.debt)
            lv.debt -= repay
            lv.cash += proceeds - repay
            st.returned_usd += proceeds - repay
            st.repaid_usd += repay
            st.liquidated_usd += proceeds
            st.sales_usd += proceeds
            st.proceeds_usd += proceeds
            if lv.debt > 0 and _value(lv.holdings, O[lv.protocol], self.order) <= 0:
                self.write_off(lv)

    # --- options (MODEL.md §3 options) -------------------------------------------------------
    def opt_round(self, O: dict, shortfall: dict) -> dict[tuple[str, str], float]:
        pending: dict[tuple[str, str], float] = {}
        if not self.options:
            return pending
        target, units, book = self.option_targets(O)
        for p, proto in self.s.protocols.items():
            if not isinstance(proto, OptionsProtocol):
                continue
            # --- round: mark to market ---
            equity = self.cash[p] - book.get(p, 0.0) + self.book0.get(p, 0.0)
            for a in self.order:
                equity += self.hedge.get((p, a), 0.0) * O[p][a]
            if equity < 0:
                shortfall[p] -= equity
            # --- round: re-hedge beyond the band ---
            for a in self.order:
                n = units.get((p, a), 0.0)
                if n <= 0:
                    continue
                d = target[(p, a)] - self.hedge.get((p, a), 0.0)
                if abs(d) <= proto.rebalance_band * n:
                    continue
                pending[(p, a)] = d
                if d > 0:
                    self.order_buy(p, a, d)
                else:
                    self.order_sell(p, a, -d)
        return pending

    def opt_settle(self, pending: dict, fills: dict) -> None:
        for (p, a), d in pending.items():
            fill = fills[a]
            if d > 0:
                filled = d * fill[2]
                self.hedge[(p, a)] = self.hedge.get((p, a), 0.0) + filled
                self.cash[p] -= filled * fill[3]
            else:
                filled = -d * fill[0]
                self.hedge[(p, a)] = self.hedge.get((p, a), 0.0) - filled
                self.cash[p] += filled * fill[1]
            self.stats[p].hedge_units += filled
            if filled > 0:
                self.acted[p] = True


def simulate(s: Scenario) -> dict[str, Any]:
    """Run the scenario; returns plain dicts of the quantities the kernel reports."""
    return Reference(s).run()
