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
    CpmmMarket,
    ExponentialMarket,
    LendingProtocol,
    LinearMarket,
    OrderbookMarket,
    Scenario,
)

# --- markets (MODEL.md §2) ---------------------------------------------------------------------


class Cpmm:
    def __init__(self, x: float, y: float, fee: float) -> None:
        self.x, self.y, self.fee = x, y, fee

    @property
    def price(self) -> float:
        return self.y / self.x

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        q_in = q * (1 - self.fee)
        out = self.y * q_in / (self.x + q_in)
        self.x, self.y = self.x + q, self.y - out
        return out, q

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        filled = min(q, self.x * (1 - math.sqrt(eps)))
        cost = self.y * filled / ((self.x - filled) * (1 - self.fee))
        self.x, self.y = self.x - filled, self.y + cost
        return cost, filled

    def recenter(self, new_price: float, m: float) -> None:
        k = (self.x * m) * (self.y * m)
        self.x, self.y = math.sqrt(k / new_price), math.sqrt(k * new_price)


class Linear:
    def __init__(self, price: float, lam: float) -> None:
        self.price, self.lam = price, lam

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        p1 = p0 * max(eps, 1 - self.lam * q * p0)
        self.price = p1
        return q * (p0 + p1) / 2, q

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        p1 = p0 * (1 + self.lam * q * p0)
        if p1 > p0 / eps:
            cap = p0 / eps
            q_lin = (cap / p0 - 1) / (self.lam * p0)
            self.price = cap
            return q_lin * (p0 + cap) / 2 + (q - q_lin) * cap, q
        self.price = p1
        return q * (p0 + p1) / 2, q

    def recenter(self, new_price: float, m: float) -> None:
        self.price, self.lam = new_price, self.lam / m


class Exponential:
    def __init__(self, price: float, alpha: float) -> None:
        self.price, self.alpha = price, alpha

    def sell(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        decay = math.exp(-self.alpha * q)
        self.price = max(p0 * decay, p0 * eps)
        return p0 * (1 - decay) / self.alpha, q

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        p0 = self.price
        limit = math.log(1 / eps)
        if self.alpha * q > limit:
            self.price = p0 / eps
            return p0 * (math.exp(limit) - 1) / self.alpha + (q - limit / self.alpha) * p0 / eps, q
        self.price = p0 * math.exp(self.alpha * q)
        return p0 * (math.exp(self.alpha * q) - 1) / self.alpha, q

    def recenter(self, new_price: float, m: float) -> None:
        self.price, self.alpha = new_price, self.alpha / m


class OrderBook:
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
        self.price = min(self.price, last)
        return usd, filled

    def buy(self, q: float, eps: float) -> tuple[float, float]:
        usd, filled, last = self._walk(self.asks, q)
        self.price = max(self.price, last)
        return usd, filled

    def recenter(self, new_price: float, m: float) -> None:
        self.anchor = self.price = new_price
        for level in self.bids + self.asks:
            level[1] *= m
            level[2] = level[1]


def make_market(asset: Any) -> Any:
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
class Position:
    protocol: str
    collateral: dict[str, float]
    debt: dict[str, float]
    open: bool = True


@dataclass
class ProtocolStats:
    liquidations: int = 0
    repaid_usd: float = 0.0
    seized_usd: float = 0.0
    proceeds_usd: float = 0.0
    bad_debt_usd: float = 0.0
    bad_debt_positions: int = 0
    shortfall_usd: float = 0.0
    first_distress_round: int | None = None
    first_distress_step: int | None = None
    depth: int | None = None
    seized_units: dict[str, float] = field(default_factory=dict)
    repaid_units: dict[str, float] = field(default_factory=dict)
    written_off_units: dict[str, float] = field(default_factory=dict)


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


def simulate(s: Scenario) -> dict[str, Any]:
    """Run the scenario; returns plain dicts of the quantities the kernel reports."""
    order = list(s.assets)
    eps = s.settings.min_price_fraction
    tol = s.settings.tolerance
    price = {a: s.assets[a].price for a in order}
    markets = {a: make_market(s.assets[a]) for a in order}
    shocked = dict(price)
    positions: list[Position] = []
    uses: dict[str, set[str]] = {p: set() for p in s.protocols}
    for pname, proto in s.protocols.items():
        assert isinstance(proto, LendingProtocol)
        for pos in proto.positions:
            positions.append(Position(pname, dict(pos.collateral), dict(pos.debt)))
            uses[pname] |= set(pos.collateral) | set(pos.debt)
    stats = {p: ProtocolStats() for p in s.protocols}
    asset_out = {
        a: dict(
            sold_units=0.0,
            bought_units=0.0,
            sale_proceeds_usd=0.0,
            slippage_usd=0.0,
            unfilled_units=0.0,
            traded_notional_usd=0.0,
        )
        for a in order
    }
    edges: set[tuple[str, str, str, int]] = set()
    step_rounds: list[int] = []
    step_converged: list[bool] = []

    def shortfall_at(prices: dict[str, float]) -> dict[str, float]:
        out = dict.fromkeys(s.protocols, 0.0)
        for pos in positions:
            if not pos.open:
                continue
            debt = _value(pos.debt, prices, order)
            if debt == 0:
                continue
            col = _value(pos.collateral, prices, order)
            out[pos.protocol] += max(0.0, debt - col)
        return out

    shortfall_prev = shortfall_at(price)
    global_round = 0
    acting_rounds = 0
    for t, step in enumerate(s.shocks):
        # between steps: a fraction of the endogenous impact reverts
        if t > 0 and s.settings.recovery > 0:
            for a in order:
                if markets[a] is not None:
                    target = price[a] + s.settings.recovery * (shocked[a] - price[a])
                    markets[a].recenter(target, 1.0)
                    price[a] = target
        # exogenous shock of step t
        for a in order:
            r = step.returns.get(a, 0.0)
            m = step.liquidity.get(a, 1.0)
            new_price = price[a] * (1 + r)
            shocked[a] *= 1 + r
            if markets[a] is not None:
                markets[a].recenter(new_price, m)
            price[a] = new_price
        moved_prev: set[tuple[str, str]] = set()
        rounds_here = 0
        converged = False
        for _ in range(s.settings.max_rounds):
            global_round += 1
            # --- round: oracle prices ---
            oracle = dict(price)
            # --- round: decisions of every protocol from round-start state ---
            acted = dict.fromkeys(s.protocols, False)
            orders: dict[str, list[float]] = {a: [] for a in order}
            flow: dict[tuple[str, str], float] = {}
            shortfall_now = dict.fromkeys(s.protocols, 0.0)
            for pos in positions:
                if not pos.open:
                    continue
                proto = s.protocols[pos.protocol]
                # --- round: value the position at the protocol's oracle ---
                debt_value = _value(pos.debt, oracle, order)
                if debt_value == 0:
                    continue
                col_value = _value(pos.collateral, oracle, order)
                if debt_value > col_value:
                    shortfall_now[pos.protocol] += debt_value - col_value
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
                st = stats[pos.protocol]
                st.liquidations += 1
                st.repaid_usd += repay_usd
                st.seized_usd += seize * oracle[i_star]
                st.seized_units[i_star] = st.seized_units.get(i_star, 0.0) + seize
                st.repaid_units[j_star] = st.repaid_units.get(j_star, 0.0) + repay_units
                orders[i_star].append(seize)
                flow[(pos.protocol, i_star)] = flow.get((pos.protocol, i_star), 0.0) + seize
                acted[pos.protocol] = True
                # --- round: settle: debt with no collateral left is bad debt ---
                if all(u <= 0 for u in pos.collateral.values()):
                    written = 0.0
                    for a, u in pos.debt.items():
                        if u > 0:
                            written += u * oracle[a]
                            st.written_off_units[a] = st.written_off_units.get(a, 0.0) + u
                            pos.debt[a] = 0.0
                    st.bad_debt_usd += written
                    st.bad_debt_positions += 1
                    pos.open = False
            # --- round: batch execution per asset (cross at round-start price, net to market) ---
            moved_now: set[tuple[str, str]] = set()
            value_per_unit: dict[str, float] = {}
            for a in order:
                sold = math.fsum(orders[a])
                if sold <= 0:
                    continue
                p0 = price[a]
                proceeds = 0.0
                if markets[a] is not None:
                    got, filled = markets[a].sell(sold, eps)
                    proceeds = got
                    asset_out[a]["slippage_usd"] += filled * p0 - got
                    asset_out[a]["unfilled_units"] += sold - filled
                    price[a] = markets[a].price
                else:
                    proceeds = sold * p0
                asset_out[a]["sold_units"] += sold
                asset_out[a]["sale_proceeds_usd"] += proceeds
                asset_out[a]["traded_notional_usd"] += sold * p0
                value_per_unit[a] = proceeds / sold
                if price[a] != p0:
                    for (p, fa), units in flow.items():
                        if fa == a and units > 0:
                            moved_now.add((p, a))
            # --- round: settle proceeds ---
            for (p, a), units in flow.items():
                stats[p].proceeds_usd += units * value_per_unit[a]
            # --- round: distress, propagation depth and contagion edges ---
            for q in s.protocols:
                st = stats[q]
                grew = shortfall_now[q] > shortfall_prev[q] + tol * max(1.0, shortfall_prev[q])
                if st.depth is not None or not (acted[q] or grew):
                    continue
                sources = [(p, a) for (p, a) in moved_prev if p != q and a in uses[q]]
                for p, a in sources:
                    edges.add((p, q, a, global_round))
                depths = [stats[p].depth for p, _ in sources]
                st.depth = 0 if not depths else 1 + min(d for d in depths if d is not None)
                st.first_distress_round = global_round
                st.first_distress_step = t + 1
            shortfall_prev = shortfall_now
            moved_prev = moved_now
            if not any(acted.values()):
                converged = True
                break
            rounds_here += 1
            acting_rounds += 1
        step_rounds.append(rounds_here)
        step_converged.append(converged)
    final_short = shortfall_at(price)
    for p in s.protocols:
        stats[p].shortfall_usd = final_short[p]
    return {
        "converged": all(step_converged),
        "rounds": acting_rounds,
        "total_rounds": global_round,
        "step_rounds": step_rounds,
        "protocols": stats,
        "assets": {
            a: dict(
                asset_out[a],
                start_price=s.assets[a].price,
                shocked_price=shocked[a],
                final_price=price[a],
            )
            for a in order
        },
        "edges": edges,
        "positions": positions,
    }
