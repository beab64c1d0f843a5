"""A plain-Python reference of the model (MODEL.md), slow and obvious, for testing the kernel.

It never imports the kernel, the compiler or the layout: it reads the validated scenario and
follows MODEL.md step by step with dicts and floats. Section comments (``# --- round: ... ---``)
mirror those of ``contagion_cli/kernel.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from contagion_cli.schema import (
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

# --- markets (MODEL.md §2) ---------------------------------------------------------------------


class Market:
    """No price leaves [lo, hi] = [start x eps, start / eps] (docs/model.md §2)."""

    lo: float
    hi: float

    def bound(self, start: float, eps: float) -> None:
        self.lo, self.hi = start * eps, start / eps


class Cpmm(Market):
    def __init__(self, x: float, y: float, fee: float) -> None:
        self.x, self.y, self.fee = x, y, fee

    @property
    def price(self) -> float:
        return self.y / self.x

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        filled = min(q, max(0.0, math.sqrt(self.x * self.y / self.lo) - self.x))
        q_in = filled * (1 - self.fee)
        out = self.y * q_in / (self.x + q_in)
        self.x, self.y = self.x + filled, self.y - out
        return out, filled

    def quote_sell(self, q: float, eps: float) -> float:
        filled = min(q, max(0.0, math.sqrt(self.x * self.y / self.lo) - self.x))
        q_in = filled * (1 - self.fee)
        return self.y * q_in / (self.x + q_in)

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        filled = min(q, max(0.0, self.x - math.sqrt(self.x * self.y / self.hi)))
        cost = self.y * filled / ((self.x - filled) * (1 - self.fee))
        self.x, self.y = self.x - filled, self.y + cost
        return cost, filled

    def recenter(self, new_price: float, m: float) -> None:
        new_price = min(max(new_price, self.lo), self.hi)
        k = (self.x * m) * (self.y * m)
        self.x, self.y = math.sqrt(k / new_price), math.sqrt(k * new_price)


class Linear(Market):
    def __init__(self, price: float, lam: float) -> None:
        self.price, self.lam = price, lam

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        p1 = max(p0 * max(eps, 1 - self.lam * q * p0), self.lo)
        self.price = p1
        return q * (p0 + p1) / 2, q

    def quote_sell(self, q: float, eps: float) -> float:
        p0 = self.price
        return q * (p0 + max(p0 * max(eps, 1 - self.lam * q * p0), self.lo)) / 2

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        p1 = p0 * (1 + self.lam * q * p0)
        cap = min(p0 / eps, self.hi)
        if p1 > cap:
            q_lin = max(0.0, (cap / p0 - 1) / (self.lam * p0))
            self.price = cap
            return q_lin * (p0 + cap) / 2 + (q - q_lin) * cap, q
        self.price = p1
        return q * (p0 + p1) / 2, q

    def recenter(self, new_price: float, m: float) -> None:
        self.price, self.lam = min(max(new_price, self.lo), self.hi), self.lam / m


class Exponential(Market):
    def __init__(self, price: float, alpha: float) -> None:
        self.price, self.alpha = price, alpha

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        self.price = max(p0 * math.exp(-self.alpha * q), p0 * eps, self.lo)
        return -p0 * math.expm1(-self.alpha * q) / self.alpha, q

    def quote_sell(self, q: float, eps: float) -> float:
        return -self.price * math.expm1(-self.alpha * q) / self.alpha

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        cap = min(p0 / eps, self.hi)
        limit = math.log(max(cap / p0, 1.0))
        if self.alpha * q > limit:
            top = max(cap, p0)
            self.price = top
            return p0 * math.expm1(limit) / self.alpha + (q - limit / self.alpha) * top, q
        self.price = p0 * math.exp(self.alpha * q)
        return p0 * math.expm1(self.alpha * q) / self.alpha, q

    def recenter(self, new_price: float, m: float) -> None:
        self.price, self.alpha = min(max(new_price, self.lo), self.hi), self.alpha / m


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
            usd += take * level_price
            left -= take
            if left <= 0:
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

    def recenter(self, new_price: float, m: float) -> None:
        self.anchor = self.price = min(max(new_price, self.lo), self.hi)
        for level in self.bids + self.asks:
            level[1] *= m
            level[2] = level[1]


def make_market(asset: Any, eps: float) -> Any:
    market = _make_market(asset)
    if market is not None:
        market.bound(asset.price, eps)
    return market


def _make_market(asset: Any) -> Any:
    m = asset.market
    if m is None:
        return None
    if isinstance(m, CpmmMarket):
        return Cpmm(m.base_reserve, m.base_reserve * asset.price, m.fee)
    if isinstance(m, LinearMarket):
        return Linear(asset.price, m.lambda_per_usd)
    if isinstance(m, ExponentialMarket):
        alpha = m.alpha if m.alpha is not None else asset.price / m.depth_usd
        return Exponential(asset.price, alpha)
    if isinstance(m, OrderbookMarket):
        asks = m.asks if m.asks is not None else [[-o, u] for o, u in m.bids]
        return OrderBook(asset.price, m.bids, asks)
    raise AssertionError(m)


# --- state ---------------------------------------------------------------------------------------


@dataclass
class LendingPos:
    protocol: str
    account: str
    collateral: dict[str, float]
    debt: dict[str, float]
    open: bool = True


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


@dataclass
class LevPos:
    protocol: str
    account: str
    holdings: dict[str, float]
    debt: float
    open: bool = True
    pending: dict[str, float] = field(default_factory=dict)


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
    adl_usd: float = 0.0
    hedge_units: float = 0.0
    sales_usd: float = 0.0
    haircut: float = 0.0
    first_distress_round: int | None = None
    first_distress_step: int | None = None
    depth: int | None = None
    seized_units: dict[str, float] = field(default_factory=dict)
    repaid_units: dict[str, float] = field(default_factory=dict)
    written_off_units: dict[str, float] = field(default_factory=dict)


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
        self.eps = s.settings.min_price_fraction
        self.tol = s.settings.tolerance
        self.price: dict[str, float] = {}
        for a in self.order:
            asset = s.assets[a]
            if asset.issuer is not None:
                self.price[a] = 1.0 if asset.backing is None else s.assets[asset.backing].price
            else:
                self.price[a] = asset.price
        self.markets = {a: make_market(s.assets[a], self.eps) for a in self.order}
        self.shocked = dict(self.price)
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
        # tokens used by a protocol make it depend on their backing too
        for pname in s.protocols:
            for a in list(self.uses[pname]):
                backing = s.assets[a].backing if s.assets[a].issuer is not None else None
                if backing is not None:
                    self.uses[pname].add(backing)
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

    # --- shortfalls ------------------------------------------------------------------------------
    def shortfall_at(self, prices: dict[str, float]) -> dict[str, float]:
        out = dict.fromkeys(self.s.protocols, 0.0)
        for pos in self.lending:
            if pos.open:
                debt = _value(pos.debt, prices, self.order)
                if debt > 0:
                    out[pos.protocol] += max(0.0, debt - _value(pos.collateral, prices, self.order))
        for v in self.vaults:
            if v.status != "closed" and v.debt > 0:
                debt = v.debt * self.par(v.protocol, prices)
                col = _value(v.collateral, prices, self.order)
                if debt > col:
                    out[v.protocol] += debt - col
        for pp in self.perps:
            if pp.open:
                equity = pp.margin + pp.size * (prices[pp.asset] - pp.entry)
                if equity < 0:
                    out[pp.protocol] -= equity
        for lv in self.levs:
            if lv.open:
                h = _value(lv.holdings, prices, self.order)
                if lv.debt > h:
                    out[lv.protocol] += lv.debt - h
        for pname, loss in self.option_losses(prices).items():
            out[pname] += loss
        return out

    def option_targets(self, prices: dict[str, float]):
        target: dict[tuple[str, str], float] = {}
        units: dict[tuple[str, str], float] = {}
        book: dict[str, float] = {}
        for pname, pos in self.options:
            proto = self.s.protocols[pname]
            delta, value = black_scholes(
                pos.kind,
                prices[pos.asset],
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

    def option_losses(self, prices: dict[str, float]) -> dict[str, float]:
        _, _, book = self.option_targets(prices)
        out = {}
        for pname in book:
            equity = self.cash[pname] - book[pname] + self.book0[pname]
            for a in self.order:
                equity += self.hedge.get((pname, a), 0.0) * prices[a]
            out[pname] = max(0.0, -equity)
        return out

    # --- run -------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        s = self.s
        edges: set[tuple[str, str, str, int]] = set()
        asset_out = {
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
        shortfall_prev = self.shortfall_at(self.price)
        global_round = acting_rounds = 0
        for t, step in enumerate(s.shocks):
            self.apply_recovery_and_shock(t, step)
            moved_prev: set[tuple[str, str]] = set()
            rounds_here = 0
            converged = False
            for _ in range(s.settings.max_rounds):
                global_round += 1
                # --- round: oracle prices ---
                oracle = dict(self.price)
                bad_start = {p: st.bad_debt_usd for p, st in self.stats.items()}
                income_start = {p: st.income_usd for p, st in self.stats.items()}
                # --- round: decisions of every protocol from round-start state ---
                self.acted = dict.fromkeys(s.protocols, False)
                self.sells: dict[str, list[float]] = {a: [] for a in self.order}
                self.buys: dict[str, list[float]] = {a: [] for a in self.order}
                self.flow: dict[tuple[str, str], float] = {}
                shortfall_now = dict.fromkeys(s.protocols, 0.0)
                self.lending_round(oracle, shortfall_now)
                self.cdp_round(oracle, shortfall_now)
                self.perp_round(oracle, shortfall_now)
                self.lev_round(oracle, shortfall_now)
                hedge_pending = self.opt_round(oracle, shortfall_now)
                # --- round: batch execution per asset ---
                moved_now: set[tuple[str, str]] = set()
                fills = {}
                price_before = dict(self.price)
                for a in self.order:
                    fills[a] = self.execute(a, asset_out[a])
                    net = fills[a][4]
                    if self.price[a] != price_before[a] and net != 0:
                        for (p, fa), units in self.flow.items():
                            if fa == a and units * net > 0:
                                moved_now.add((p, a))
                # --- round: settle ---
                for (p, a), units in self.flow.items():
                    if isinstance(s.protocols[p], LendingProtocol) and units > 0:
                        self.stats[p].proceeds_usd += units * fills[a][0] * fills[a][1]
                self.cdp_settle(oracle, fills)
                self.perp_settle(oracle, fills)
                self.lev_settle(oracle, fills)
                self.opt_settle(hedge_pending, fills)
                # --- round: issued tokens follow their issuer's haircut ---
                changed = self.update_haircuts(bad_start, income_start, shortfall_now)
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
                    grew = shortfall_now[q] > shortfall_prev[q] + self.tol * max(
                        1.0, shortfall_prev[q]
                    )
                    if st.depth is not None or not (self.acted[q] or grew):
                        continue
                    sources = [(p, a) for (p, a) in moved_prev if p != q and a in self.uses[q]]
                    for p, a in sources:
                        edges.add((p, q, a, global_round))
                    depths = [self.stats[p].depth for p, _ in sources]
                    st.depth = 0 if not depths else 1 + min(d for d in depths if d is not None)
                    st.first_distress_round = global_round
                    st.first_distress_step = t + 1
                shortfall_prev = shortfall_now
                moved_prev = moved_now
                any_acted = any(self.acted.values())
                if not any_acted and not repriced:
                    converged = True
                    break
                if any_acted:
                    rounds_here += 1
                    acting_rounds += 1
            step_rounds.append(rounds_here)
            step_converged.append(converged)
        final = self.shortfall_at(self.price)
        for p in s.protocols:
            self.stats[p].shortfall_usd = final[p]
            self.stats[p].haircut = self.haircut[p]
        return {
            "converged": all(step_converged),
            "rounds": acting_rounds,
            "total_rounds": global_round,
            "step_rounds": step_rounds,
            "protocols": self.stats,
            "assets": {
                a: dict(
                    asset_out[a],
                    start_price=self.start_price(a),
                    shocked_price=self.shocked[a],
                    final_price=self.price[a],
                )
                for a in self.order
            },
            "edges": edges,
            "positions": self.lending,
            "perps": self.perps,
        }

    def start_price(self, a: str) -> float:
        asset = self.s.assets[a]
        if asset.issuer is not None:
            return 1.0 if asset.backing is None else self.s.assets[asset.backing].price
        return asset.price

    # --- prices ----------------------------------------------------------------------------------
    def apply_recovery_and_shock(self, t: int, step: Any) -> None:
        f = self.s.settings.recovery
        if t > 0 and f > 0:
            for a in self.order:
                if self.markets[a] is not None:
                    target = self.price[a] + f * (self.shocked[a] - self.price[a])
                    self.markets[a].recenter(target, 1.0)
                    self.price[a] = target
        for a in self.order:
            if self.s.assets[a].issuer is not None:
                continue
            r = step.returns.get(a, 0.0)
            new_price = self.price[a] * (1 + r)
            self.shocked[a] *= 1 + r
            if self.markets[a] is not None:
                self.markets[a].recenter(new_price, step.liquidity.get(a, 1.0))
            self.price[a] = new_price
        for a in self.order:
            asset = self.s.assets[a]
            if asset.issuer is not None:
                self.shocked[a] = 1.0 if asset.backing is None else self.shocked[asset.backing]
        self.update_issued()

    def update_issued(self) -> None:
        for a in self.order:
            asset = self.s.assets[a]
            if asset.issuer is None:
                continue
            base = 1.0 if asset.backing is None else self.price[asset.backing]
            self.price[a] = max(base * (1 - self.haircut[asset.issuer]), base * self.eps)

    def update_haircuts(self, bad: dict, income: dict, shortfall: dict) -> set[str]:
        changed = set()
        for p, proto in self.s.protocols.items():
            uncovered = bad[p] + shortfall[p] - proto.reserve_usd - income[p]
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
        self.flow[(p, a)] = self.flow.get((p, a), 0.0) + units

    def order_buy(self, p: str, a: str, units: float) -> None:
        self.buys[a].append(units)
        self.flow[(p, a)] = self.flow.get((p, a), 0.0) - units

    def execute(self, a: str, out: dict[str, float]):
        """Cross sells and buys at the round-start price; the net goes to the market.
        Returns (sell fill ratio, sell price per filled unit, buy fill, buy price, net)."""
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
        if market is not None:
            if net > 0:
                got, filled = market.sell(net, self.eps)
                proceeds += got
                s_filled += filled
                out["slippage_usd"] += filled * p0 - got
                out["unfilled_units"] += net - filled
            elif net < 0:
                paid, filled = market.buy(-net, self.eps)
                cost += paid
                b_filled += filled
                out["slippage_usd"] += paid - filled * p0
                out["unfilled_units"] += -net - filled
            self.price[a] = market.price
        else:
            proceeds += max(net, 0.0) * p0
            cost += max(-net, 0.0) * p0
            s_filled, b_filled = sold, bought
        out["sold_units"] += sold
        out["bought_units"] += bought
        out["sale_proceeds_usd"] += proceeds
        sell_fill = s_filled / sold if sold > 0 else 0.0
        sell_avg = (proceeds / s_filled if s_filled > 0 else p0) if sold > 0 else 0.0
        buy_fill = b_filled / bought if bought > 0 else 0.0
        buy_avg = (cost / b_filled if b_filled > 0 else p0) if bought > 0 else 0.0
        return (sell_fill, sell_avg, buy_fill, buy_avg, net)

    # --- lending ---------------------------------------------------------------------------------
    def lending_round(self, oracle: dict, shortfall: dict) -> None:
        order = self.order
        for pos in self.lending:
            if not pos.open:
                continue
            proto = self.s.protocols[pos.protocol]
            # --- round: value the position at the protocol's oracle ---
            debt_value = _value(pos.debt, oracle, order)
            if debt_value == 0:
                continue
            col_value = _value(pos.collateral, oracle, order)
            if debt_value > col_value:
                shortfall[pos.protocol] += debt_value - col_value
            # --- round: find eligible positions (HF < 1) ---
            adj = 0.0
            for a in order:
                if pos.collateral.get(a, 0.0) > 0:
                    lt = proto.collateral[a].liquidation_threshold
                    adj += pos.collateral[a] * oracle[a] * lt
            hf = adj / debt_value
            i_star = _largest(pos.collateral, oracle, order)
            if hf >= 1 or i_star is None:
                continue
            # --- round: liquidate: largest debt j*, largest collateral i*, close factor ---
            j_star = _largest(pos.debt, oracle, order)
            assert j_star is not None
            b = proto.collateral[i_star].liquidation_bonus
            cf = 1.0 if hf < proto.full_close_below_hf else proto.close_factor
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
            pos.debt[j_star] -= repay_units
            pos.collateral[i_star] -= seize
            st = self.stats[pos.protocol]
            st.liquidations += 1
            st.repaid_usd += repay_usd
            st.liquidated_usd += repay_usd
            st.seized_usd += seize * oracle[i_star]
            _bump(st.seized_units, i_star, seize)
            _bump(st.repaid_units, j_star, repay_units)
            self.order_sell(pos.protocol, i_star, seize)
            self.acted[pos.protocol] = True
            # --- round: settle: debt with no collateral left is bad debt ---
            if all(u <= 0 for u in pos.collateral.values()):
                written = 0.0
                for a in order:
                    u = pos.debt.get(a, 0.0)
                    if u > 0:
                        written += u * oracle[a]
                        _bump(st.written_off_units, a, u)
                        pos.debt[a] = 0.0
                st.bad_debt_usd += written
                st.bad_debt_positions += 1
                pos.open = False

    # --- cdp -------------------------------------------------------------------------------------
    def par(self, p: str, prices: dict[str, float]) -> float:
        """A cdp values its own stablecoin at par: the backing's price (1 USD by default)."""
        stable = self.s.protocols[p].stablecoin
        asset = self.s.assets[stable]
        if asset.issuer is not None:
            return 1.0 if asset.backing is None else prices[asset.backing]
        return prices[stable]

    def cdp_round(self, oracle: dict, shortfall: dict) -> None:
        lot: dict[tuple[str, str], float] = {}
        for v in self.vaults:
            if v.status == "closed":
                continue
            proto = self.s.protocols[v.protocol]
            s_price = self.par(v.protocol, oracle)
            debt_value = v.debt * s_price
            col = _value(v.collateral, oracle, self.order)
            if debt_value > col:
                shortfall[v.protocol] += debt_value - col
            if v.status == "open":
                if v.debt <= 0 or col >= proto.liquidation_ratio * debt_value:
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
            market = self.markets[a]
            if units <= 0 or market is None:
                continue
            quote = market.quote_sell(units, self.eps)
            if 1 - quote / (units * self.price[a]) > self.s.protocols[p].auction.max_slippage:
                stressed.add((p, a))
        # --- round: auction the lots ---
        for v in self.vaults:
            if v.status != "auction":
                continue
            proto = self.s.protocols[v.protocol]
            s_price = self.par(v.protocol, oracle)
            col = _value(v.collateral, oracle, self.order)
            if col <= 0:
                continue
            frac = min(1.0, v.tab * s_price / col)
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

    def cdp_settle(self, oracle: dict, fills: dict) -> None:
        for v in self.vaults:
            if v.status != "auction":
                continue
            proto = self.s.protocols[v.protocol]
            stable = proto.stablecoin
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
            tab_before = v.tab
            used = min(raised_units, tab_before)
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
                st.bad_debt_positions += 1
                v.debt = v.tab = 0.0
                v.status = "closed"

    # --- perp ------------------------------------------------------------------------------------
    def perp_round(self, oracle: dict, shortfall: dict) -> None:
        for pp in self.perps:
            if not pp.open:
                continue
            proto = self.s.protocols[pp.protocol]
            o = oracle[pp.asset]
            equity = pp.margin + pp.size * (o - pp.entry)
            if equity < 0:
                shortfall[pp.protocol] -= equity
            if equity >= proto.maintenance_margin * abs(pp.size) * o:
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

    def perp_settle(self, oracle: dict, fills: dict) -> None:
        deficit: dict[tuple[str, str, int], float] = {}
        for pp in self.perps:
            size = pp.pending
            if size == 0:
                continue
            proto = self.s.protocols[pp.protocol]
            o = oracle[pp.asset]
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
                u = pp.size * (oracle[pp.asset] - pp.entry)
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
            self.stats[key[0]].bad_debt_usd += n - cut
        for pp in self.perps:
            if pp.open:
                u = pp.size * (oracle[pp.asset] - pp.entry)
                if u > 0:
                    r = ratio.get((pp.protocol, pp.asset, 1 if pp.size > 0 else 0), 0.0)
                    if r > 0:
                        pp.entry += u * r / pp.size
                        pp.adl_cut += u * r

    # --- leveraged -------------------------------------------------------------------------------
    def lev_round(self, oracle: dict, shortfall: dict) -> None:
        for lv in self.levs:
            if not lv.open:
                continue
            proto = self.s.protocols[lv.protocol]
            h = _value(lv.holdings, oracle, self.order)
            d = lv.debt
            if d > h:
                shortfall[lv.protocol] += d - h
            if d <= 0:
                continue
            e = h - d
            if e > 0 and h <= proto.max_leverage * e:
                continue
            st = self.stats[lv.protocol]
            if h <= 0:
                st.bad_debt_usd += d
                st.bad_debt_positions += 1
                lv.debt = 0.0
                lv.open = False
                self.acted[lv.protocol] = True
                continue
            # --- round: deleverage: sell X = H - target x E pro rata ---
            frac = 1.0 if e <= 0 else min(1.0, max(0.0, (h - proto.target_leverage * e) / h))
            for a in self.order:
                units = frac * lv.holdings.get(a, 0.0)
                if units > 0:
                    lv.pending[a] = units
                    self.order_sell(lv.protocol, a, units)
            st.liquidations += 1

    def lev_settle(self, oracle: dict, fills: dict) -> None:
        for lv in self.levs:
            if not lv.open:
                continue
            st = self.stats[lv.protocol]
            proceeds = 0.0
            sold = False
            for a in self.order:
                q = lv.pending.get(a, 0.0)
                if q > 0:
                    filled = q * fills[a][0]
                    if filled > 0:
                        self.acted[lv.protocol] = True
                    proceeds += filled * fills[a][1]
                    lv.holdings[a] -= filled
                    _bump(st.seized_units, a, filled)
                    st.seized_usd += filled * oracle[a]
                    lv.pending[a] = 0.0
                    sold = True
            if not sold:
                continue
            repay = min(proceeds, lv.debt)
            lv.debt -= repay
            st.repaid_usd += repay
            st.liquidated_usd += proceeds
            st.sales_usd += proceeds
            st.proceeds_usd += proceeds
            if lv.debt > 0 and _value(lv.holdings, oracle, self.order) <= 0:
                st.bad_debt_usd += lv.debt
                st.bad_debt_positions += 1
                lv.debt = 0.0
                lv.open = False

    # --- options ---------------------------------------------------------------------------------
    def opt_round(self, oracle: dict, shortfall: dict) -> dict[tuple[str, str], float]:
        pending: dict[tuple[str, str], float] = {}
        if not self.options:
            return pending
        target, units, book = self.option_targets(oracle)
        for p, proto in self.s.protocols.items():
            if not isinstance(proto, OptionsProtocol):
                continue
            # --- round: mark to market ---
            equity = self.cash[p] - book.get(p, 0.0) + self.book0.get(p, 0.0)
            for a in self.order:
                equity += self.hedge.get((p, a), 0.0) * oracle[a]
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
