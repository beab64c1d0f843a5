"""Compile a validated scenario into the kernel's arrays (the layout of :mod:`.layout`).

The only place that maps names to indices and decides dtypes. Asset indices follow the
declaration order of the file, which is also the tie-break order of MODEL.md §1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .layout import (
    ASSET_DTYPE,
    ASSET_FIXED,
    ASSET_ISSUED,
    ASSET_MARKET,
    ASSET_PEGGED,
    F8,
    I8,
    OPT_CALL,
    OPT_PUT,
    ORACLE_EXTERNAL,
    ORACLE_LAG_ROUNDS,
    ORACLE_LAG_STEPS,
    ORACLE_SPOT,
    ORACLE_TWAP,
    POS_OPEN,
    PROTO_CDP,
    PROTO_LENDING,
    PROTO_LEVERAGED,
    PROTO_OPTIONS,
    PROTO_PERP,
    PROTOCOL_DTYPE,
    VENUE_CPMM,
    VENUE_DTYPE,
    VENUE_EXPONENTIAL,
    VENUE_LINEAR,
    VENUE_ORDERBOOK,
    Assets,
    Book,
    Cdp,
    Lending,
    Leveraged,
    Options,
    Params,
    Path,
    Perp,
    Protocols,
    ProtocolState,
    Venues,
    records,
)
from .schema import (
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
from .stochastic import MonteCarloModel


class State(NamedTuple):
    """The arrays a run mutates; :meth:`Compiled.fresh_state` gives each run its own copy."""

    assets: Assets
    venues: Venues
    book: Book
    lending: Lending
    cdp: Cdp
    perp: Perp
    leveraged: Leveraged
    pstate: ProtocolState


@dataclass(frozen=True)
class Compiled:
    """A scenario as arrays, plus the name tables needed to read the results back."""

    scenario: Scenario
    asset_names: list[str]
    protocol_names: list[str]
    protocol_types: list[str]
    state: State
    options: Options
    protocols: Protocols
    path: Path
    params: Params
    #: entity (account) index of every position, per protocol type; and the entity names
    entities: dict[str, np.ndarray] = field(repr=False)
    entity_names: list[str] = field(repr=False)
    #: positions per protocol
    position_counts: np.ndarray = field(repr=False)

    @property
    def n_assets(self) -> int:
        return len(self.asset_names)

    @property
    def n_protocols(self) -> int:
        return len(self.protocol_names)

    @property
    def n_steps(self) -> int:
        return int(self.path.returns.shape[0])

    # read-only views of the start state, by name
    @property
    def assets(self) -> Assets:
        return self.state.assets

    @property
    def venues(self) -> Venues:
        return self.state.venues

    @property
    def lending(self) -> Lending:
        return self.state.lending

    def fresh_state(self) -> State:
        """Copies of the mutable arrays, so one compiled scenario can run many times."""
        return State(*(_copy(part) for part in self.state))


def _copy(part):  # type: ignore[no-untyped-def]
    """A deep copy of a record array, or of a named tuple of arrays."""
    if isinstance(part, np.ndarray):
        return part.copy()  # keeps the recarray view
    return type(part)(*(np.array(a, copy=True) for a in part))


def compile_scenario(scenario: Scenario, trace_cap: int = 0) -> Compiled:
    """Arrays for the kernel (see :mod:`.layout` for the meaning of each)."""
    asset_names = list(scenario.assets)
    a_index = {name: i for i, name in enumerate(asset_names)}
    protocol_names = list(scenario.protocols)
    p_index = {name: i for i, name in enumerate(protocol_names)}
    n_a = len(asset_names)
    n_p = len(protocol_names)

    eps = float(scenario.settings.min_price_fraction)
    assets, venues, book = _compile_markets(scenario, a_index, p_index, eps)
    start_price = assets.start_price

    # --- protocol parameters -----------------------------------------------------------------
    f = {
        k: np.zeros(n_p, F8)
        for k in (
            "reserve",
            "liabilities",
            "close_factor",
            "full_close_hf",
            "liq_ratio",
            "penalty",
            "auction_max_slippage",
            "auction_discount",
            "maintenance",
            "liq_fee",
            "max_leverage",
            "target_leverage",
            "band",
            "rate",
            "breaker_drop",
            "min_profit",
            "capital",
            "risk_k",
            "risk_ref_vol",
            "risk_max",
        )
    }
    kind = np.zeros(n_p, I8)
    stablecoin = np.full(n_p, -1, I8)
    lt = np.zeros((n_p, n_a), F8)
    bonus = np.zeros((n_p, n_a), F8)
    uses = np.zeros((n_p, n_a + 1), I8)  # column n_a: the "credit" channel (it lends to one)
    oracle_kind = np.zeros(n_p, I8)
    oracle_n = np.zeros(n_p, I8)
    oracle_floor = np.zeros((n_p, n_a), F8)
    lender = np.full(n_p, -1, I8)
    f["capital"][:] = np.inf  # unlimited
    f["min_profit"][:] = -np.inf  # no liquidator check unless `liquidators` is given
    protocol_types = []
    for p, name in enumerate(protocol_names):
        proto = scenario.protocols[name]
        protocol_types.append(proto.type)
        kind[p] = _KINDS[proto.type]
        f["reserve"][p] = proto.reserve_usd
        oracle = proto.oracle
        oracle_kind[p] = _oracle_kind(oracle.type, oracle.steps)
        oracle_n[p] = oracle.rounds or oracle.steps or 0
        for asset, floor in oracle.floor.items():
            oracle_floor[p, a_index[asset]] = floor
        if proto.circuit_breaker is not None:
            f["breaker_drop"][p] = proto.circuit_breaker.drop
        liquidators = proto.liquidators or scenario.settings.liquidators
        if liquidators is not None:
            f["min_profit"][p] = liquidators.min_profit_usd
            if liquidators.capital_usd_per_round is not None:
                f["capital"][p] = liquidators.capital_usd_per_round
        if proto.dynamic_risk is not None:
            f["risk_k"][p] = proto.dynamic_risk.sensitivity
            f["risk_ref_vol"][p] = proto.dynamic_risk.reference_vol
            f["risk_max"][p] = proto.dynamic_risk.max_change
        if isinstance(proto, LendingProtocol):
            f["close_factor"][p] = proto.close_factor
            f["full_close_hf"][p] = proto.full_close_below_hf
            for asset, cfg in proto.collateral.items():
                lt[p, a_index[asset]] = cfg.liquidation_threshold
                bonus[p, a_index[asset]] = cfg.liquidation_bonus
        elif isinstance(proto, CdpProtocol):
            stablecoin[p] = a_index[proto.stablecoin]
            uses[p, stablecoin[p]] = 1
            f["liq_ratio"][p] = proto.liquidation_ratio
            f["penalty"][p] = proto.penalty
            f["auction_max_slippage"][p] = proto.auction.max_slippage
            f["auction_discount"][p] = proto.auction.zero_bid_discount
        elif isinstance(proto, PerpProtocol):
            f["maintenance"][p] = proto.maintenance_margin
            f["liq_fee"][p] = proto.liquidation_fee
        elif isinstance(proto, LeveragedProtocol):
            f["max_leverage"][p] = proto.max_leverage
            f["target_leverage"][p] = proto.target_leverage
            if proto.lender is not None:
                lender[p] = protocol_names.index(proto.lender)
                uses[lender[p], n_a] = 1
        elif isinstance(proto, OptionsProtocol):
            f["band"][p] = proto.rebalance_band
            f["rate"][p] = proto.rate

    # --- positions ---------------------------------------------------------------------------
    entities: dict[str, int] = {}
    counts = np.zeros(n_p, I8)
    b = _Builder(scenario, a_index, entities, uses, counts)
    lending, lend_ent, lend_liab = b.lending()
    cdp, cdp_ent, cdp_liab = b.cdp(start_price, stablecoin)
    perp, perp_ent, perp_liab = b.perp()
    leveraged, lev_ent, lev_liab = b.leveraged()
    options = b.options()
    for p, name in enumerate(protocol_names):
        proto = scenario.protocols[name]
        default = {
            "lending": lend_liab[p],
            "cdp": cdp_liab[p],
            "perp": perp_liab[p],
            "leveraged": lev_liab[p],
            "options": proto.reserve_usd,
        }[proto.type]
        liab = proto.liabilities_usd
        f["liabilities"][p] = liab if liab is not None else default

    # a protocol that uses a derived token also depends on its backing or peg target
    for a in range(n_a):
        parent = -1
        if assets.kind[a] == ASSET_ISSUED:
            parent = assets.backing[a]
        elif assets.kind[a] == ASSET_PEGGED:
            parent = assets.peg_to[a]
        if parent >= 0:
            for p in range(n_p):
                if uses[p, a]:
                    uses[p, parent] = 1

    rec = records(PROTOCOL_DTYPE, n_p)
    rec.kind = kind
    rec.stablecoin = stablecoin
    rec.oracle_kind = oracle_kind
    rec.oracle_n = oracle_n
    rec.lender = lender
    for name, values in f.items():
        rec[name] = values
    protocols = Protocols(rec=rec, lt=lt, bonus=bonus, oracle_floor=oracle_floor, uses=uses)
    pstate = _initial_hedges(options, protocols, start_price, n_p, n_a)

    # --- shock path --------------------------------------------------------------------------
    steps = scenario.shocks if isinstance(scenario.shocks, list) else []
    n_t = len(steps)
    returns = np.zeros((n_t, n_a), F8)
    liquidity = np.ones((n_t, n_a), F8)
    for t, step in enumerate(steps):
        for asset, r in step.returns.items():
            returns[t, a_index[asset]] = r
        for asset, m in step.liquidity.items():
            liquidity[t, a_index[asset]] = m
    if isinstance(scenario.shocks, MonteCarloModel):  # `run` takes path 0 of `simulate`
        from .sampler import sample_path

        returns, liquidity = sample_path(scenario.shocks, asset_names, 0)

    s = scenario.settings
    params = Params(
        max_rounds=int(s.max_rounds),
        recovery=float(s.recovery),
        tol=float(s.tolerance),
        min_price_fraction=float(s.min_price_fraction),
        trace_cap=int(trace_cap),
        work_budget=0,
    )
    return Compiled(
        scenario=scenario,
        asset_names=asset_names,
        protocol_names=protocol_names,
        protocol_types=protocol_types,
        state=State(assets, venues, book, lending, cdp, perp, leveraged, pstate),
        options=options,
        protocols=protocols,
        path=Path(returns, liquidity),
        params=params,
        entities={"lending": lend_ent, "cdp": cdp_ent, "perp": perp_ent, "leveraged": lev_ent},
        entity_names=list(entities),
        position_counts=counts,
    )


def _oracle_kind(kind: str, steps: int | None) -> int:
    if kind == "lagged":
        return ORACLE_LAG_STEPS if steps is not None else ORACLE_LAG_ROUNDS
    return {"spot": ORACLE_SPOT, "twap": ORACLE_TWAP, "external": ORACLE_EXTERNAL}[kind]


_KINDS = {
    "lending": PROTO_LENDING,
    "cdp": PROTO_CDP,
    "perp": PROTO_PERP,
    "leveraged": PROTO_LEVERAGED,
    "options": PROTO_OPTIONS,
}


def bs_delta_value(kind: int, s: float, k: float, tau: float, vol: float, r: float):
    """Black–Scholes (delta, value) per unit: the formulas of ``kernel.bs_delta_value``."""
    sq = vol * math.sqrt(tau)
    d1 = (math.log(s / k) + (r + 0.5 * vol * vol) * tau) / sq
    d2 = d1 - sq
    disc = k * math.exp(-r * tau)

    def n(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    if kind == OPT_CALL:
        return n(d1), s * n(d1) - disc * n(d2)
    return n(d1) - 1.0, disc * n(-d2) - s * n(-d1)


def _initial_hedges(
    options: Options, protocols: Protocols, price: np.ndarray, n_p: int, n_a: int
) -> ProtocolState:
    """Option vaults start delta-neutral: the hedge bought at start prices, its cost in cash."""
    hedge = np.zeros((n_p, n_a), F8)
    liability0 = np.zeros(n_p, F8)
    for i in range(len(options.protocol)):
        p, a = int(options.protocol[i]), int(options.asset[i])
        delta, value = bs_delta_value(
            int(options.kind[i]),
            float(price[a]),
            float(options.strike[i]),
            float(options.tau[i]),
            float(options.vol[i]),
            float(protocols.rec.rate[p]),
        )
        hedge[p, a] += options.units[i] * delta
        liability0[p] += options.units[i] * value
    cash = -(hedge * price[None, :]).sum(axis=1)
    return ProtocolState(np.zeros(n_p, F8), hedge, cash, liability0, np.zeros(n_p, I8))


def _compile_markets(
    scenario: Scenario, a_index: dict[str, int], p_index: dict[str, int], eps: float
) -> tuple[Assets, Venues, Book]:
    n_a = len(a_index)
    price = np.zeros(n_a, F8)
    kind = np.zeros(n_a, I8)
    venue_start = np.zeros(n_a, I8)
    venue_count = np.zeros(n_a, I8)
    issuer = np.full(n_a, -1, I8)
    backing = np.full(n_a, -1, I8)
    peg_to = np.full(n_a, -1, I8)
    peg_ratio = np.zeros(n_a, F8)
    peg_route = np.zeros(n_a, I8)
    rows: dict[str, list[float]] = {
        k: [] for k in ("asset", "kind", "price", "x", "y", "fee", "lam", "alpha", "anchor")
    }
    idx_rows: dict[str, list[int]] = {
        k: [] for k in ("bid_start", "bid_count", "ask_start", "ask_count")
    }
    offsets: list[float] = []
    depths: list[float] = []
    for name, a in a_index.items():
        asset = scenario.assets[name]
        market = asset.market
        if asset.issuer is not None:
            kind[a] = ASSET_ISSUED
            issuer[a] = p_index[asset.issuer]
            venue_start[a] = len(rows["asset"])
            if asset.backing is not None:
                backing[a] = a_index[asset.backing]
                price[a] = scenario.assets[asset.backing].price
            else:
                price[a] = 1.0
            continue
        # a pegged asset's market trades the ratio, quoted in units of the asset it is pegged to
        quote = asset.price
        if asset.peg is not None:
            kind[a] = ASSET_PEGGED
            peg_to[a] = a_index[asset.peg.to]
            peg_ratio[a] = asset.peg.ratio
            peg_route[a] = 1 if asset.peg.sell_target else 0
            price[a] = asset.peg.ratio * scenario.assets[asset.peg.to].price
            quote = asset.peg.ratio
        else:
            price[a] = asset.price
        venue_start[a] = len(rows["asset"])
        if market is None:
            if asset.peg is None:
                kind[a] = ASSET_FIXED
            continue
        if asset.peg is None:
            kind[a] = ASSET_MARKET
        venue_count[a] = 1
        row = dict.fromkeys(rows, 0.0)
        row.update(asset=a, price=quote, anchor=quote)
        bid_start = bid_count = ask_start = ask_count = 0
        if isinstance(market, CpmmMarket):
            # `price` is authoritative: the quote reserve (checked to match it within 1e-4)
            # is set to base x price, so the pool's mid is exactly the stated start price
            row.update(
                kind=VENUE_CPMM,
                x=market.base_reserve,
                y=market.base_reserve * quote,
                fee=market.fee,
            )
        elif isinstance(market, LinearMarket):
            row.update(kind=VENUE_LINEAR, lam=market.lambda_per_usd)
        elif isinstance(market, ExponentialMarket):
            alpha = market.alpha if market.alpha is not None else price[a] / market.depth_usd
            row.update(kind=VENUE_EXPONENTIAL, alpha=alpha)
        elif isinstance(market, OrderbookMarket):
            row.update(kind=VENUE_ORDERBOOK)
            asks = market.asks if market.asks is not None else [[-o, u] for o, u in market.bids]
            bid_start, bid_count = len(offsets), len(market.bids)
            for o, u in market.bids:
                offsets.append(o)
                depths.append(u)
            ask_start, ask_count = len(offsets), len(asks)
            for o, u in asks:
                offsets.append(o)
                depths.append(u)
        for k in rows:
            rows[k].append(row[k])
        for k, val in zip(idx_rows, (bid_start, bid_count, ask_start, ask_count), strict=True):
            idx_rows[k].append(val)
    venues = records(VENUE_DTYPE, len(rows["asset"]))
    for name, values in rows.items():
        venues[name] = values
    for name, values in idx_rows.items():
        venues[name] = values
    venues.lo = venues.price * eps
    venues.hi = venues.price / eps
    depth = np.asarray(depths, F8)
    book = Book(np.asarray(offsets, F8), depth, depth.copy())
    assets = records(ASSET_DTYPE, n_a)
    assets.price = price
    assets.start_price = price
    assets.kind = kind
    assets.venue_start = venue_start
    assets.venue_count = venue_count
    assets.issuer = issuer
    assets.backing = backing
    assets.peg_to = peg_to
    assets.peg_ratio = peg_ratio
    assets.peg_route = peg_route
    return assets, venues, book


class _Builder:
    """Positions of every protocol type into CSR arrays; records entities, uses, counts."""

    def __init__(
        self,
        scenario: Scenario,
        a_index: dict[str, int],
        entities: dict[str, int],
        uses: np.ndarray,
        counts: np.ndarray,
    ) -> None:
        self.s = scenario
        self.a = a_index
        self.entities = entities
        self.uses = uses
        self.counts = counts
        self.n_p = len(scenario.protocols)

    def _of_type(self, cls: type) -> list[tuple[int, str, object]]:
        return [
            (p, name, proto)
            for p, (name, proto) in enumerate(self.s.protocols.items())
            if isinstance(proto, cls)
        ]

    def _entity(self, account: str | None, protocol: str, i: int) -> int:
        name = account if account is not None else f"{protocol}#{i}"
        return self.entities.setdefault(name, len(self.entities))

    def _legs(self, amounts: dict[str, float], p: int) -> list[tuple[int, float]]:
        # legs sorted by asset index: ties of "largest" go to the asset declared first
        legs = sorted((self.a[name], units) for name, units in amounts.items())
        for a, _ in legs:
            self.uses[p, a] = 1
        return legs

    def lending(self) -> tuple[Lending, np.ndarray, np.ndarray]:
        protocol, entity = [], []
        col_start, col_asset, col_units = [0], [], []
        debt_start, debt_asset, debt_units = [0], [], []
        liab = np.zeros(self.n_p, F8)
        for p, pname, proto in self._of_type(LendingProtocol):
            self.counts[p] = len(proto.positions)
            for i, pos in enumerate(proto.positions):
                protocol.append(p)
                entity.append(self._entity(pos.account, pname, i))
                for a, units in self._legs(pos.collateral, p):
                    col_asset.append(a)
                    col_units.append(units)
                for a, units in self._legs(pos.debt, p):
                    debt_asset.append(a)
                    debt_units.append(units)
                    liab[p] += units * self._price(a)
                col_start.append(len(col_asset))
                debt_start.append(len(debt_asset))
        n = len(protocol)
        # liquidators break ties between equally profitable liquidations by account name
        # (unique within a lending protocol): independent of the order of the file
        entity_names = list(self.entities)
        names = [(protocol[i], entity_names[entity[i]]) for i in range(n)]
        rank = np.empty(n, I8)
        rank[sorted(range(n), key=names.__getitem__)] = np.arange(n)
        lending = Lending(
            protocol=np.asarray(protocol, I8),
            status=np.full(n, POS_OPEN, I8),
            col_start=np.asarray(col_start, I8),
            col_asset=np.asarray(col_asset, I8),
            col_units=np.asarray(col_units, F8),
            debt_start=np.asarray(debt_start, I8),
            debt_asset=np.asarray(debt_asset, I8),
            debt_units=np.asarray(debt_units, F8),
            rank=rank,
        )
        return lending, np.asarray(entity, I8), liab

    def _price(self, a: int) -> float:
        name = list(self.a)[a]
        asset = self.s.assets[name]
        if asset.issuer is not None:
            return 1.0 if asset.backing is None else float(self.s.assets[asset.backing].price)
        return float(asset.price)

    def cdp(self, price: np.ndarray, stablecoin: np.ndarray) -> tuple[Cdp, np.ndarray, np.ndarray]:
        protocol, entity, debt = [], [], []
        col_start, col_asset, col_units = [0], [], []
        liab = np.zeros(self.n_p, F8)
        for p, pname, proto in self._of_type(CdpProtocol):
            self.counts[p] = len(proto.positions)
            for i, pos in enumerate(proto.positions):
                protocol.append(p)
                entity.append(self._entity(pos.account, pname, i))
                for a, units in self._legs(pos.collateral, p):
                    col_asset.append(a)
                    col_units.append(units)
                col_start.append(len(col_asset))
                debt.append(pos.debt)
                liab[p] += pos.debt * price[stablecoin[p]]
        n, m = len(protocol), len(col_asset)
        cdp = Cdp(
            protocol=np.asarray(protocol, I8),
            status=np.full(n, POS_OPEN, I8),
            col_start=np.asarray(col_start, I8),
            col_asset=np.asarray(col_asset, I8),
            col_units=np.asarray(col_units, F8),
            col_pending=np.zeros(m, F8),
            debt=np.asarray(debt, F8),
            tab=np.zeros(n, F8),
            tab0=np.zeros(n, F8),
            raised=np.zeros(n, F8),
        )
        return cdp, np.asarray(entity, I8), liab

    def perp(self) -> tuple[Perp, np.ndarray, np.ndarray]:
        rows: dict[str, list] = {k: [] for k in ("protocol", "asset", "size", "entry", "margin")}
        entity = []
        liab = np.zeros(self.n_p, F8)
        for p, pname, proto in self._of_type(PerpProtocol):
            self.counts[p] = len(proto.positions)
            for i, pos in enumerate(proto.positions):
                a = self.a[pos.asset]
                self.uses[p, a] = 1
                rows["protocol"].append(p)
                rows["asset"].append(a)
                rows["size"].append(pos.size)
                rows["entry"].append(pos.entry_price)
                rows["margin"].append(pos.margin)
                entity.append(self._entity(pos.account, pname, i))
                liab[p] += pos.margin
        n = len(rows["protocol"])
        perp = Perp(
            protocol=np.asarray(rows["protocol"], I8),
            status=np.full(n, POS_OPEN, I8),
            asset=np.asarray(rows["asset"], I8),
            size=np.asarray(rows["size"], F8),
            entry=np.asarray(rows["entry"], F8),
            margin=np.asarray(rows["margin"], F8),
            adl_cut=np.zeros(n, F8),
            realized=np.zeros(n, F8),
            pending=np.zeros(n, F8),
        )
        return perp, np.asarray(entity, I8), liab

    def leveraged(self) -> tuple[Leveraged, np.ndarray, np.ndarray]:
        protocol, entity, debt = [], [], []
        hold_start, hold_asset, hold_units = [0], [], []
        liab = np.zeros(self.n_p, F8)
        for p, pname, proto in self._of_type(LeveragedProtocol):
            self.counts[p] = len(proto.positions)
            for i, pos in enumerate(proto.positions):
                protocol.append(p)
                entity.append(self._entity(pos.account, pname, i))
                for a, units in self._legs(pos.holdings, p):
                    hold_asset.append(a)
                    hold_units.append(units)
                hold_start.append(len(hold_asset))
                debt.append(pos.debt_usd)
                liab[p] += pos.debt_usd
        n, m = len(protocol), len(hold_asset)
        lev = Leveraged(
            protocol=np.asarray(protocol, I8),
            status=np.full(n, POS_OPEN, I8),
            hold_start=np.asarray(hold_start, I8),
            hold_asset=np.asarray(hold_asset, I8),
            hold_units=np.asarray(hold_units, F8),
            hold_pending=np.zeros(m, F8),
            debt=np.asarray(debt, F8),
        )
        return lev, np.asarray(entity, I8), liab

    def options(self) -> Options:
        rows: dict[str, list] = {
            k: [] for k in ("protocol", "asset", "kind", "strike", "tau", "units", "vol")
        }
        for p, _, proto in self._of_type(OptionsProtocol):
            self.counts[p] = len(proto.positions)
            for pos in proto.positions:
                a = self.a[pos.asset]
                self.uses[p, a] = 1
                rows["protocol"].append(p)
                rows["asset"].append(a)
                rows["kind"].append(OPT_CALL if pos.kind == "call" else OPT_PUT)
                rows["strike"].append(pos.strike)
                rows["tau"].append(pos.expiry_days / 365.0)
                rows["units"].append(pos.units)
                rows["vol"].append(pos.vol)
        return Options(
            protocol=np.asarray(rows["protocol"], I8),
            asset=np.asarray(rows["asset"], I8),
            kind=np.asarray(rows["kind"], I8),
            strike=np.asarray(rows["strike"], F8),
            tau=np.asarray(rows["tau"], F8),
            units=np.asarray(rows["units"], F8),
            vol=np.asarray(rows["vol"], F8),
        )
