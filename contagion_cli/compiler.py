"""Compile a validated scenario into the kernel's arrays (the layout of :mod:`.layout`).

The only place that maps names to indices and decides dtypes. Asset indices follow the
declaration order of the file, which is also the tie-break order of MODEL.md §1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .layout import (
    ASSET_FIXED,
    ASSET_MARKET,
    F8,
    I8,
    POS_OPEN,
    PROTO_LENDING,
    VENUE_CPMM,
    VENUE_EXPONENTIAL,
    VENUE_LINEAR,
    VENUE_ORDERBOOK,
    Assets,
    Book,
    Lending,
    Params,
    Path,
    Protocols,
    Venues,
)
from .schema import (
    CpmmMarket,
    ExponentialMarket,
    LendingProtocol,
    LinearMarket,
    OrderbookMarket,
    Scenario,
)


@dataclass(frozen=True)
class Compiled:
    """A scenario as arrays, plus the name tables needed to read the results back."""

    scenario: Scenario
    asset_names: list[str]
    protocol_names: list[str]
    protocol_types: list[str]
    assets: Assets
    venues: Venues
    book: Book
    lending: Lending
    protocols: Protocols
    path: Path
    params: Params
    #: entity (account) index of every lending position, and the entity names
    lending_entity: np.ndarray = field(repr=False)
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

    def fresh_state(self) -> tuple[Assets, Venues, Book, Lending]:
        """Copies of the mutable arrays, so one compiled scenario can run many times."""
        return (
            _copy(self.assets),
            _copy(self.venues),
            _copy(self.book),
            _copy(self.lending),
        )


def _copy(nt):  # type: ignore[no-untyped-def]
    return type(nt)(*(np.array(a, copy=True) for a in nt))


def compile_scenario(scenario: Scenario, trace_cap: int = 0) -> Compiled:
    """Arrays for the kernel (see :mod:`.layout` for the meaning of each)."""
    asset_names = list(scenario.assets)
    a_index = {name: i for i, name in enumerate(asset_names)}
    protocol_names = list(scenario.protocols)
    n_a = len(asset_names)
    n_p = len(protocol_names)

    assets, venues, book = _compile_markets(scenario, a_index)

    # --- protocols ---------------------------------------------------------------------------
    kind = np.zeros(n_p, I8)
    reserve = np.zeros(n_p, F8)
    close_factor = np.ones(n_p, F8)
    full_close_hf = np.ones(n_p, F8)
    lt = np.zeros((n_p, n_a), F8)
    bonus = np.zeros((n_p, n_a), F8)
    uses = np.zeros((n_p, n_a), I8)
    protocol_types = []
    for p, name in enumerate(protocol_names):
        proto = scenario.protocols[name]
        protocol_types.append(proto.type)
        reserve[p] = proto.reserve_usd
        if isinstance(proto, LendingProtocol):
            kind[p] = PROTO_LENDING
            close_factor[p] = proto.close_factor
            full_close_hf[p] = proto.full_close_below_hf
            for asset, cfg in proto.collateral.items():
                lt[p, a_index[asset]] = cfg.liquidation_threshold
                bonus[p, a_index[asset]] = cfg.liquidation_bonus

    entities: dict[str, int] = {}
    lending, lending_entity, counts = _compile_lending(scenario, a_index, entities, uses)
    protocols = Protocols(kind, reserve, close_factor, full_close_hf, lt, bonus, uses)

    # --- shock path --------------------------------------------------------------------------
    n_t = len(scenario.shocks)
    returns = np.zeros((n_t, n_a), F8)
    liquidity = np.ones((n_t, n_a), F8)
    for t, step in enumerate(scenario.shocks):
        for asset, r in step.returns.items():
            returns[t, a_index[asset]] = r
        for asset, m in step.liquidity.items():
            liquidity[t, a_index[asset]] = m

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
        assets=assets,
        venues=venues,
        book=book,
        lending=lending,
        protocols=protocols,
        path=Path(returns, liquidity),
        params=params,
        lending_entity=lending_entity,
        entity_names=list(entities),
        position_counts=counts,
    )


def _compile_markets(scenario: Scenario, a_index: dict[str, int]) -> tuple[Assets, Venues, Book]:
    n_a = len(a_index)
    price = np.zeros(n_a, F8)
    kind = np.zeros(n_a, I8)
    venue_start = np.zeros(n_a, I8)
    venue_count = np.zeros(n_a, I8)
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
        price[a] = asset.price
        market = asset.market
        if market is None:
            kind[a] = ASSET_FIXED
            venue_start[a] = len(rows["asset"])
            continue
        kind[a] = ASSET_MARKET
        venue_start[a] = len(rows["asset"])
        venue_count[a] = 1
        row = dict.fromkeys(rows, 0.0)
        row.update(asset=a, price=asset.price, anchor=asset.price)
        bid_start = bid_count = ask_start = ask_count = 0
        if isinstance(market, CpmmMarket):
            # `price` is authoritative: the quote reserve (checked to match it within 1e-4)
            # is set to base x price, so the pool's mid is exactly the stated start price
            row.update(
                kind=VENUE_CPMM,
                x=market.base_reserve,
                y=market.base_reserve * asset.price,
                fee=market.fee,
            )
        elif isinstance(market, LinearMarket):
            row.update(kind=VENUE_LINEAR, lam=market.lambda_per_usd)
        elif isinstance(market, ExponentialMarket):
            alpha = market.alpha if market.alpha is not None else asset.price / market.depth_usd
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
    venues = Venues(
        asset=np.asarray(rows["asset"], I8),
        kind=np.asarray(rows["kind"], I8),
        price=np.asarray(rows["price"], F8),
        x=np.asarray(rows["x"], F8),
        y=np.asarray(rows["y"], F8),
        fee=np.asarray(rows["fee"], F8),
        lam=np.asarray(rows["lam"], F8),
        alpha=np.asarray(rows["alpha"], F8),
        anchor=np.asarray(rows["anchor"], F8),
        bid_start=np.asarray(idx_rows["bid_start"], I8),
        bid_count=np.asarray(idx_rows["bid_count"], I8),
        ask_start=np.asarray(idx_rows["ask_start"], I8),
        ask_count=np.asarray(idx_rows["ask_count"], I8),
    )
    depth = np.asarray(depths, F8)
    book = Book(np.asarray(offsets, F8), depth, depth.copy())
    assets = Assets(price, price.copy(), kind, venue_start, venue_count)
    return assets, venues, book


def _compile_lending(
    scenario: Scenario, a_index: dict[str, int], entities: dict[str, int], uses: np.ndarray
) -> tuple[Lending, np.ndarray, np.ndarray]:
    protocol, entity = [], []
    col_start, col_asset, col_units = [0], [], []
    debt_start, debt_asset, debt_units = [0], [], []
    counts = np.zeros(len(scenario.protocols), I8)
    for p, (pname, proto) in enumerate(scenario.protocols.items()):
        if not isinstance(proto, LendingProtocol):
            continue
        counts[p] = len(proto.positions)
        for i, pos in enumerate(proto.positions):
            protocol.append(p)
            account = pos.account if pos.account is not None else f"{pname}#{i}"
            entity.append(entities.setdefault(account, len(entities)))
            # legs sorted by asset index: ties of "largest" go to the asset declared first
            for asset, units in sorted(pos.collateral.items(), key=lambda kv: a_index[kv[0]]):
                col_asset.append(a_index[asset])
                col_units.append(units)
                uses[p, a_index[asset]] = 1
            for asset, units in sorted(pos.debt.items(), key=lambda kv: a_index[kv[0]]):
                debt_asset.append(a_index[asset])
                debt_units.append(units)
                uses[p, a_index[asset]] = 1
            col_start.append(len(col_asset))
            debt_start.append(len(debt_asset))
    n = len(protocol)
    lending = Lending(
        protocol=np.asarray(protocol, I8),
        status=np.full(n, POS_OPEN, I8),
        col_start=np.asarray(col_start, I8),
        col_asset=np.asarray(col_asset, I8),
        col_units=np.asarray(col_units, F8),
        debt_start=np.asarray(debt_start, I8),
        debt_asset=np.asarray(debt_asset, I8),
        debt_units=np.asarray(debt_units, F8),
    )
    return lending, np.asarray(entity, I8), counts
