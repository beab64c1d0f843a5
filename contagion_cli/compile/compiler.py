"""Compile a validated scenario into the kernel's arrays (the layout of :mod:`.layout`).

The only place that maps names to indices and decides dtypes. Asset indices follow the
declaration order of the file, which is also the tie-break order of MODEL.md §1.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from ..load.books import (
    HAS_ACCOUNT,
    PositionBook,
    assign_entities,
    book_from_positions,
    forget_entities,
    merge,
    release_arrow_memory,
)
from ..schema.models import (
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
from ..schema.stochastic import MonteCarloModel
from .layout import (
    ASSET_DTYPE,
    ASSET_FIXED,
    ASSET_ISSUED,
    ASSET_MARKET,
    ASSET_PEGGED,
    F8,
    FEATURE_BOOKS,
    FEATURE_CAPITAL,
    FEATURE_CDP,
    FEATURE_FEEDS,
    FEATURE_LEVERAGED,
    FEATURE_OPTIONS,
    FEATURE_PEGS,
    FEATURE_PERP,
    FEATURE_VENUES,
    I1,
    I4,
    I8,
    LIQ_ANY_LOSS,
    LIQ_ATOMIC,
    LIQ_RATIONAL,
    OPT_CALL,
    OPT_PUT,
    ORACLE_EXTERNAL,
    ORACLE_LAG_ROUNDS,
    ORACLE_LAG_STEPS,
    ORACLE_MEDIAN,
    ORACLE_SPOT,
    ORACLE_TWAP,
    ORACLE_VWAP,
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
from .order import permute_legs, trigger_order


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
    venue_names: list[str]  # per venue (its asset: ``venues.asset``); a single market: "market"
    protocol_names: list[str]
    protocol_types: list[str]
    state: State
    options: Options
    protocols: Protocols
    path: Path
    params: Params
    #: entity (account) index of every position, per protocol type; and the entity names
    entities: dict[str, np.ndarray] = field(repr=False)
    entity_names: Sequence[str] = field(repr=False)
    #: positions per protocol
    position_counts: np.ndarray = field(repr=False)
    #: what the coordination layer changed (None: no coordination)
    coordination: Any = field(default=None, repr=False)
    #: the lending book is stored in trigger order (compile/order.py): stored position k is
    #: position ``lending_order[k]`` of the scenario's lending books, one after the other
    lending_order: np.ndarray | None = field(default=None, repr=False)
    #: what the engine derives from the start state once and reuses in every run (the
    #: trigger index of the lending book); shared by copies made with ``dataclasses.replace``
    #: (a sweep point replaces the path), so each entry records what it was derived from
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    def in_book_order(self, values: np.ndarray) -> np.ndarray:
        """Per-position values of the lending book (as stored) in the order of the scenario's
        positions."""
        if self.lending_order is None:
            return values
        out = np.empty_like(values)
        out[self.lending_order] = values
        return out

    @property
    def n_assets(self) -> int:
        return len(self.asset_names)

    @property
    def n_venues(self) -> int:
        return len(self.venue_names)

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

    @functools.cached_property
    def features(self) -> int:
        """What the kernel needs beyond lending (``layout.FEATURE_*``): the specialised kernel
        that runs this scenario is compiled with these (engine.kernels)."""
        rec = self.protocols.rec
        kinds = set(rec.kind.tolist())
        features = 0
        for kind, feature in _KIND_FEATURES.items():
            if kind in kinds:
                features |= feature
        if bool(np.any(rec.capital < np.inf)):
            features |= FEATURE_CAPITAL
        assets = self.state.assets
        if bool(np.any(assets.venue_count > 1)):
            features |= FEATURE_VENUES
        if bool(np.any((assets.kind == ASSET_PEGGED) | (assets.kind == ASSET_ISSUED))):
            features |= FEATURE_PEGS
        if bool(np.any(self.state.venues.kind == VENUE_ORDERBOOK)):
            features |= FEATURE_BOOKS
        if bool(np.any(rec.oracle_kind != ORACLE_SPOT)):
            features |= FEATURE_FEEDS
        return features

    def fresh_state(self) -> State:
        """Copies of the arrays a run changes, so one compiled scenario can run many times; the
        rest (positions' protocols, legs, parameters) is shared with the start state."""
        return State(*(_copy(part, _MUTABLE.get(type(part))) for part in self.state))


#: The arrays of each named tuple of the state the kernel writes (the rest it only reads).
_MUTABLE: dict[type, frozenset[str]] = {
    Book: frozenset({"depth", "remaining"}),
    Lending: frozenset({"status", "col_units", "debt_units"}),
    Cdp: frozenset({"status", "col_units", "col_pending", "debt", "tab", "tab0", "raised"}),
    Perp: frozenset({"status", "entry", "adl_cut", "realized", "pending"}),
    Leveraged: frozenset({"status", "hold_units", "hold_pending", "debt", "cash"}),
}


def _copy(part, mutable: frozenset[str] | None):  # type: ignore[no-untyped-def]
    """A copy of a record array, or of the ``mutable`` arrays of a named tuple (all of them
    when None)."""
    if isinstance(part, np.ndarray):
        return part.copy()  # keeps the recarray view
    return type(part)(
        *(
            np.array(a, copy=True) if mutable is None or name in mutable else a
            for name, a in zip(part._fields, part, strict=True)
        )
    )


def compile_scenario(scenario: Scenario, trace_cap: int = 0) -> Compiled:
    """Arrays for the kernel (see :mod:`.layout` for the meaning of each)."""
    asset_names = list(scenario.assets)
    a_index = {name: i for i, name in enumerate(asset_names)}
    protocol_names = list(scenario.protocols)
    p_index = {name: i for i, name in enumerate(protocol_names)}
    n_a = len(asset_names)
    n_p = len(protocol_names)

    eps = float(scenario.settings.min_price_fraction)
    assets, venues, book, venue_names = _compile_markets(scenario, a_index, p_index, eps)
    n_v = len(venue_names)
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
    liq_mode = np.full(n_p, LIQ_RATIONAL, I8)  # rational liquidators unless told otherwise
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
            liq_mode[p] = _LIQ_MODES[liquidators.mode]
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
    counts = np.zeros(n_p, I8)
    b = _Builder(scenario, a_index, uses, counts, start_price)
    need_rank = bool(np.isfinite(f["capital"]).any())  # only capital-limited liquidators rank
    lending, lend_ent, lend_liab = b.lending(need_rank)
    cdp, cdp_ent, cdp_liab = b.cdp(stablecoin)
    perp, perp_ent, perp_liab = b.perp()
    leveraged, lev_ent, lev_liab = b.leveraged()
    options = b.options()
    entity_names, lending_order = b.entity_names, b.lending_order
    del b  # the merged books: the compiled arrays are copies
    # the entity cache holds the books' account columns; nothing after this reuses it
    forget_entities()
    release_arrow_memory()
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
    rec.liq_mode = liq_mode
    for name, values in f.items():
        rec[name] = values
    oracle_venue, route, route_on = _venue_tables(scenario, protocol_names, assets, venue_names)
    protocols = Protocols(
        rec=rec,
        lt=lt,
        bonus=bonus,
        oracle_floor=oracle_floor,
        uses=uses,
        oracle_venue=oracle_venue,
        route=route,
        route_on=route_on,
    )
    pstate = _initial_hedges(options, protocols, start_price, n_p, n_a)

    # --- shock path --------------------------------------------------------------------------
    steps = scenario.shocks if isinstance(scenario.shocks, list) else []
    n_t = len(steps)
    returns = np.zeros((n_t, n_a), F8)
    liquidity = np.ones((n_t, n_a), F8)
    venue_returns = np.zeros((n_t, n_v), F8)
    venue_liquidity = np.ones((n_t, n_v), F8)
    v_index = {(int(venues.asset[v]), name): v for v, name in enumerate(venue_names)}
    for t, step in enumerate(steps):
        for key, r in step.returns.items():
            if "@" in key:  # ASSET@VENUE: that venue's own return, on top of the asset's
                asset, _, venue = key.partition("@")
                venue_returns[t, v_index[a_index[asset], venue]] = r
            else:
                returns[t, a_index[key]] = r
        for key, m in step.liquidity.items():
            if "@" in key:
                asset, _, venue = key.partition("@")
                venue_liquidity[t, v_index[a_index[asset], venue]] = m
            else:
                liquidity[t, a_index[key]] = m
    if isinstance(scenario.shocks, MonteCarloModel):  # `run` takes path 0 of `simulate`
        from .sampler import sample_path

        sampled = sample_path(scenario.shocks, asset_names, 0)
        returns, liquidity = sampled.returns, sampled.liquidity

    s = scenario.settings
    params = Params(
        max_rounds=int(s.max_rounds),
        recovery=float(s.recovery),
        tol=float(s.tolerance),
        min_price_fraction=float(s.min_price_fraction),
        trace_cap=int(trace_cap),
        work_budget=0,
        use_index=1,
    )
    compiled = Compiled(
        scenario=scenario,
        asset_names=asset_names,
        venue_names=venue_names,
        protocol_names=protocol_names,
        protocol_types=protocol_types,
        state=State(assets, venues, book, lending, cdp, perp, leveraged, pstate),
        options=options,
        protocols=protocols,
        path=Path(returns, liquidity, venue_returns, venue_liquidity),
        params=params,
        entities={"lending": lend_ent, "cdp": cdp_ent, "perp": perp_ent, "leveraged": lev_ent},
        entity_names=entity_names,
        position_counts=counts,
        lending_order=lending_order,
    )
    if scenario.coordination is not None and scenario.coordination.enabled:
        from .coordination import coordinate

        compiled = coordinate(compiled, scenario.coordination)
    return compiled


def _venue_tables(
    scenario: Scenario, protocol_names: list[str], assets: Assets, venue_names: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per protocol: the venues its oracle lists, its fixed route per venue, and the assets its
    route applies to (those that trade on every venue the route names)."""
    n_p, n_a, n_v = len(protocol_names), len(assets), len(venue_names)
    oracle_venue = np.zeros((n_p, n_v), I8)
    route = np.zeros((n_p, n_v), F8)
    route_on = np.zeros((n_p, n_a), I8)
    for p, name in enumerate(protocol_names):
        proto = scenario.protocols[name]
        listed = set(proto.oracle.venues or ())
        for v, venue in enumerate(venue_names):
            if venue in listed:
                oracle_venue[p, v] = 1
        if proto.route is None:
            continue
        for a in range(n_a):
            first, count = int(assets.venue_start[a]), int(assets.venue_count[a])
            mine = {venue_names[v]: v for v in range(first, first + count)}
            if count > 1 and set(proto.route) <= set(mine):
                route_on[p, a] = 1
                for venue, share in proto.route.items():
                    route[p, mine[venue]] = share
    return oracle_venue, route, route_on


def _oracle_kind(kind: str, steps: int | None) -> int:
    if kind == "lagged":
        return ORACLE_LAG_STEPS if steps is not None else ORACLE_LAG_ROUNDS
    return {
        "spot": ORACLE_SPOT,
        "twap": ORACLE_TWAP,
        "external": ORACLE_EXTERNAL,
        "median": ORACLE_MEDIAN,
        "vwap": ORACLE_VWAP,
    }[kind]


_LIQ_MODES = {"rational": LIQ_RATIONAL, "atomic": LIQ_ATOMIC, "any_loss": LIQ_ANY_LOSS}

_KIND_FEATURES = {
    PROTO_CDP: FEATURE_CDP,
    PROTO_PERP: FEATURE_PERP,
    PROTO_LEVERAGED: FEATURE_LEVERAGED,
    PROTO_OPTIONS: FEATURE_OPTIONS,
}

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
) -> tuple[Assets, Venues, Book, list[str]]:
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
    arb_speed = np.ones(n_a, F8)
    arb_cost = np.zeros(n_a, F8)
    rows: dict[str, list[float]] = {
        k: []
        for k in ("asset", "kind", "price", "x", "y", "fee", "lam", "alpha", "anchor", "weight")
    }
    idx_rows: dict[str, list[int]] = {
        k: [] for k in ("bid_start", "bid_count", "ask_start", "ask_count")
    }
    names: list[str] = []
    offsets: list[float] = []
    depths: list[float] = []
    for name, a in a_index.items():
        asset = scenario.assets[name]
        if asset.issuer is not None:
            kind[a] = ASSET_ISSUED
            issuer[a] = p_index[asset.issuer]
            venue_start[a] = len(rows["asset"])
            if asset.backing is not None:
                backing[a] = a_index[asset.backing]
                price[a] = scenario.assets[asset.backing].price
            else:
                price[a] = 1.0
            if asset.market is None:
                continue
            quote = price[a]  # its own pool, quoted in the numeraire (docs/model.md 3f)
        else:
            # a pegged asset's market trades the ratio, quoted in units of its peg target
            quote = asset.price
        if asset.peg is not None:
            kind[a] = ASSET_PEGGED
            peg_to[a] = a_index[asset.peg.to]
            peg_ratio[a] = asset.peg.ratio
            peg_route[a] = 1 if asset.peg.sell_target else 0
            price[a] = asset.peg.ratio * scenario.assets[asset.peg.to].price
            quote = asset.peg.ratio
        elif asset.issuer is None:
            price[a] = asset.price
        venue_start[a] = len(rows["asset"])
        markets = dict(asset.venues) if asset.venues else {}
        if asset.market is not None:
            markets = {"market": asset.market}
        if not markets:
            if asset.peg is None:
                kind[a] = ASSET_FIXED
            continue
        if asset.peg is None and asset.issuer is None:
            kind[a] = ASSET_MARKET
        if asset.arbitrage is not None:
            arb_speed[a] = asset.arbitrage.speed
            arb_cost[a] = asset.arbitrage.cost
        venue_count[a] = len(markets)
        weighted = all(m.volume_usd is not None for m in markets.values())
        for venue, market in markets.items():
            names.append(venue)
            row = dict.fromkeys(rows, 0.0)
            row.update(asset=a, price=quote, anchor=quote)
            row["weight"] = market.volume_usd if weighted else 1.0
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
    venues.shocked = venues.price
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
    assets.arb_speed = arb_speed
    assets.arb_cost = arb_cost
    assets.fundamental = price
    return assets, venues, book, names


class _Builder:
    """Positions of every protocol type into CSR arrays, vectorised over each protocol's book
    (inline positions and ``positions_file``); records entities, uses, counts."""

    def __init__(
        self,
        scenario: Scenario,
        a_index: dict[str, int],
        uses: np.ndarray,
        counts: np.ndarray,
        start_price: np.ndarray,
    ) -> None:
        self.s = scenario
        self.a = a_index
        self.uses = uses
        self.counts = counts
        self.price = start_price
        self.n_p = len(scenario.protocols)
        self.books: dict[str, PositionBook] = {}
        for name, proto in scenario.protocols.items():
            book = book_from_positions(proto.type, proto.positions)
            if proto.positions_file is not None:
                rows = scenario.positions_book(name)
                if rows is None:  # a Scenario built without load/scenario.py: a caller's bug
                    raise ValueError(f"{name}: positions_file was not read (use load_scenario)")
                book = merge(book, rows)
            self.books[name] = book
            counts[list(scenario.protocols).index(name)] = book.n
        with_accounts = [(n, b) for n, b in self.books.items() if b.kind in HAS_ACCOUNT]
        ids, self.entity_names = assign_entities(with_accounts)
        self.lending_order: np.ndarray | None = None  # set by lending()
        self.entity_ids = dict(zip([n for n, _ in with_accounts], ids, strict=True))

    def _of_type(self, kind: str) -> list[tuple[int, str, PositionBook]]:
        return [
            (p, name, self.books[name])
            for p, (name, proto) in enumerate(self.s.protocols.items())
            if proto.type == kind
        ]

    def _legs(self, p: int, table: dict[str, np.ndarray], n: int, ix: Any = I8):  # type: ignore[no-untyped-def]
        """CSR legs of a [position x asset] table: (per-position counts, asset, units), legs
        sorted by asset index so that ties of "largest" go to the asset declared first. Counts
        and assets are of dtype ``ix`` (int32 for the lending book: layout.Lending)."""
        assets = sorted(table, key=self.a.__getitem__)
        if not assets or n == 0:
            return np.zeros(n, ix), np.zeros(0, ix), np.zeros(0, F8)
        index = np.array([self.a[a] for a in assets], ix)
        if len(assets) == 1:
            # one column (a book of one collateral or one debt asset, the common case): no
            # [position x asset] matrix, and no gather when every position holds the asset
            column = np.asarray(table[assets[0]], F8)
            held = column > 0
            count = int(np.count_nonzero(held))
            if count:
                self.uses[p, index[0]] = 1
            units = column.copy() if count == n else column[held]
            return held.astype(ix), np.full(count, index[0], ix), units
        matrix = np.column_stack([table[a] for a in assets])
        held = matrix > 0
        # the cells held in row-major order (by position, then asset index), without the
        # int64 row and column indices of np.nonzero (16 bytes a leg)
        units = matrix[held]
        del matrix
        asset = np.broadcast_to(index, held.shape)[held]
        self.uses[p, index[held.any(axis=0)]] = 1
        return held.sum(axis=1, dtype=ix), asset, units

    def _concat(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], n: int, ix: Any = I8):  # type: ignore[no-untyped-def]
        start = np.zeros(n + 1, ix)
        if len(parts) == 1:  # one protocol of this type: its arrays as they are
            counts, asset, units = parts[0]
            np.cumsum(counts, out=start[1:])
            return start, asset.astype(ix, copy=False), units.astype(F8, copy=False)
        counts = np.concatenate([c for c, _, _ in parts]) if parts else np.zeros(0, ix)
        np.cumsum(counts, out=start[1:])
        del counts
        asset = np.concatenate([a for _, a, _ in parts]) if parts else np.zeros(0, ix)
        units = np.concatenate([u for _, _, u in parts]) if parts else np.zeros(0, F8)
        return start, asset.astype(ix, copy=False), units.astype(F8, copy=False)

    def _entities(self, books: list[tuple[int, str, PositionBook]]) -> np.ndarray:
        parts = [self.entity_ids[name] for _, name, _ in books]
        return np.concatenate(parts).astype(I8, copy=False) if parts else np.zeros(0, I8)

    def _protocol(self, books: list[tuple[int, str, PositionBook]]) -> np.ndarray:
        parts = [np.full(b.n, p, I8) for p, _, b in books]
        return np.concatenate(parts) if parts else np.zeros(0, I8)

    def lending(self, need_rank: bool) -> tuple[Lending, np.ndarray, np.ndarray]:
        books = self._of_type("lending")
        n = sum(b.n for _, _, b in books)
        liab = np.zeros(self.n_p, F8)
        col_parts, debt_parts = [], []
        debt = None
        for p, _, book in books:
            col_parts.append(self._legs(p, book.legs["collateral"], book.n, I4))
            debt = self._legs(p, book.legs["debt"], book.n, I4)
            debt_parts.append(debt)
            liab[p] = float(np.sum(debt[2] * self.price[debt[1]]))
        # each book's parts are released as soon as they are joined, and indices are int32
        # from the start (layout.Lending), before the permutation below copies them once more
        # (the peak of a 10^7 book)
        col_start, col_asset, col_units = self._concat(col_parts, n, I4)
        del col_parts
        debt_start, debt_asset, debt_units = self._concat(debt_parts, n, I4)
        del debt_parts, debt
        protocol = self._protocol(books).astype(I4)
        entity = self._entities(books)
        # stored in trigger order (compile/order.py): a round's positions are neighbours
        legs = (col_start, col_asset, col_units, debt_start, debt_asset, debt_units)
        order = trigger_order(protocol, *legs, len(self.a))
        del legs  # so that each side's arrays in book order go as soon as it is permuted
        self.lending_order = order
        protocol, entity = protocol[order], entity[order]
        col_start, col_asset, col_units = permute_legs(col_start, col_asset, col_units, order)
        debt_start, debt_asset, debt_units = permute_legs(debt_start, debt_asset, debt_units, order)
        lending = Lending(
            protocol=protocol,
            status=np.full(n, POS_OPEN, I1),
            col_start=col_start,
            col_asset=col_asset,
            col_units=col_units,
            debt_start=debt_start,
            debt_asset=debt_asset,
            debt_units=debt_units,
            rank=self._rank(protocol, entity) if need_rank else np.zeros(n, I8),
            lt_cut=np.zeros(0, F8),  # no coordination (coordination.py sets one per position)
        )
        return lending, entity, liab

    def _rank(self, protocol: np.ndarray, entity: np.ndarray) -> np.ndarray:
        """Order of (protocol, account name): the liquidators' tie-break, independent of the
        order of the book."""
        name_order = np.argsort(np.argsort(np.array(list(self.entity_names), dtype=object)))
        order = np.lexsort((name_order[entity], protocol))
        rank = np.empty(len(protocol), I8)
        rank[order] = np.arange(len(protocol))
        return rank

    def cdp(self, stablecoin: np.ndarray) -> tuple[Cdp, np.ndarray, np.ndarray]:
        books = self._of_type("cdp")
        n = sum(b.n for _, _, b in books)
        liab = np.zeros(self.n_p, F8)
        parts, debt = [], []
        for p, _, book in books:
            parts.append(self._legs(p, book.legs["collateral"], book.n))
            debt.append(book.numbers["debt"])
            liab[p] = float(book.numbers["debt"].sum() * self.price[stablecoin[p]])
        col_start, col_asset, col_units = self._concat(parts, n)
        debt_arr = np.concatenate(debt).astype(F8) if debt else np.zeros(0, F8)
        cdp = Cdp(
            protocol=self._protocol(books),
            status=np.full(n, POS_OPEN, I8),
            col_start=col_start,
            col_asset=col_asset,
            col_units=col_units,
            col_pending=np.zeros(len(col_asset), F8),
            debt=debt_arr,
            tab=np.zeros(n, F8),
            tab0=np.zeros(n, F8),
            raised=np.zeros(n, F8),
            ratio_add=np.zeros(n, F8),
        )
        return cdp, self._entities(books), liab

    def _asset_column(self, p: int, values: np.ndarray) -> np.ndarray:
        names, inverse = np.unique(values, return_inverse=True)
        index = np.array([self.a[str(a)] for a in names], I8)
        self.uses[p, index] = 1
        return index[inverse] if len(values) else np.zeros(0, I8)

    def perp(self) -> tuple[Perp, np.ndarray, np.ndarray]:
        books = self._of_type("perp")
        n = sum(b.n for _, _, b in books)
        liab = np.zeros(self.n_p, F8)
        asset, cols = [], {k: [] for k in ("size", "entry_price", "margin")}
        for p, _, book in books:
            asset.append(self._asset_column(p, book.texts["asset"]))
            for k in cols:
                cols[k].append(book.numbers[k])
            liab[p] = float(book.numbers["margin"].sum())

        def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        perp = Perp(
            protocol=self._protocol(books),
            status=np.full(n, POS_OPEN, I8),
            asset=cat(asset, I8),
            size=cat(cols["size"], F8),
            entry=cat(cols["entry_price"], F8),
            margin=cat(cols["margin"], F8),
            adl_cut=np.zeros(n, F8),
            realized=np.zeros(n, F8),
            pending=np.zeros(n, F8),
            mm_add=np.zeros(n, F8),
        )
        return perp, self._entities(books), liab

    def leveraged(self) -> tuple[Leveraged, np.ndarray, np.ndarray]:
        books = self._of_type("leveraged")
        n = sum(b.n for _, _, b in books)
        liab = np.zeros(self.n_p, F8)
        parts, debt = [], []
        for p, _, book in books:
            parts.append(self._legs(p, book.legs["holdings"], book.n))
            debt.append(book.numbers["debt_usd"])
            liab[p] = float(book.numbers["debt_usd"].sum())
        hold_start, hold_asset, hold_units = self._concat(parts, n)
        lev = Leveraged(
            protocol=self._protocol(books),
            status=np.full(n, POS_OPEN, I8),
            hold_start=hold_start,
            hold_asset=hold_asset,
            hold_units=hold_units,
            hold_pending=np.zeros(len(hold_asset), F8),
            debt=np.concatenate(debt).astype(F8) if debt else np.zeros(0, F8),
            cash=np.zeros(n, F8),
        )
        return lev, self._entities(books), liab

    def options(self) -> Options:
        books = self._of_type("options")
        cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("asset", "kind", "strike", "tau", "units", "vol")
        }
        for p, _, book in books:
            cols["asset"].append(self._asset_column(p, book.texts["asset"]))
            cols["kind"].append(np.where(book.texts["kind"] == "call", OPT_CALL, OPT_PUT))
            cols["strike"].append(book.numbers["strike"])
            cols["tau"].append(book.numbers["expiry_days"] / 365.0)
            cols["units"].append(book.numbers["units"])
            cols["vol"].append(book.numbers["vol"])

        def cat(key: str, dtype: Any) -> np.ndarray:
            parts = cols[key]
            return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

        return Options(
            protocol=self._protocol(books),
            asset=cat("asset", I8),
            kind=cat("kind", I8),
            strike=cat("strike", F8),
            tau=cat("tau", F8),
            units=cat("units", F8),
            vol=cat("vol", F8),
        )
