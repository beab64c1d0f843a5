"""Cross-reference checks of a schema-valid scenario: the rules no single field can check.

Each check yields :class:`Problem` s that name the exact field; :func:`check_scenario` collects
them all, so a user fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..errors import Problem, known_names_hint, with_article
from .models import (
    LIQUIDITY_KEY,
    CdpProtocol,
    CpmmMarket,
    LendingProtocol,
    LeveragedProtocol,
    OptionsProtocol,
    OrderbookMarket,
    PerpProtocol,
    Scenario,
)
from .returns import extreme, extreme_message
from .stochastic import MonteCarloModel, reference_problems

#: cpmm reserves must price the asset within this relative tolerance of its `price`.
RESERVE_PRICE_TOLERANCE = 1e-4


def check_scenario(scenario: Scenario) -> list[Problem]:
    """Every cross-reference problem of the scenario (empty when it is consistent). Each names
    its field path; the loader, which knows the file, adds the line."""
    checker = _Checker(scenario)
    return list(checker.run())


class _Checker:
    def __init__(self, scenario: Scenario) -> None:
        self.s = scenario
        self.assets = set(scenario.assets)

    def problem(
        self, path: tuple[str | int, ...], message: str, hint: str | None = None
    ) -> Problem:
        return Problem(message, None, path, hint)

    def unknown_asset(self, path: tuple[str | int, ...], name: str) -> Problem:
        return self.problem(
            path, f"unknown asset {name!r}", known_names_hint(name, self.assets, "assets")
        )

    def run(self) -> Iterator[Problem]:
        yield from self.check_assets()
        for name, proto in self.s.protocols.items():
            yield from self.check_levers(name, proto)
            if isinstance(proto, LendingProtocol):
                yield from self.check_lending(name, proto)
            elif isinstance(proto, CdpProtocol):
                yield from self.check_cdp(name, proto)
            elif isinstance(proto, PerpProtocol):
                yield from self.check_perp(name, proto)
            elif isinstance(proto, LeveragedProtocol):
                yield from self.check_leveraged(name, proto)
            elif isinstance(proto, OptionsProtocol):
                yield from self.check_options(name, proto)
        yield from self.check_shocks()
        yield from self.check_coordination()

    def venues_of(self, asset: str) -> dict[str, object]:
        """The named venues of an asset ({} for none; a single `market` is called 'market')."""
        a = self.s.assets.get(asset)
        if a is None:
            return {}
        if a.venues is not None:
            return dict(a.venues)
        return {"market": a.market} if a.market is not None else {}

    @property
    def all_venues(self) -> set[str]:
        return {v for asset in self.s.assets for v in self.venues_of(asset)}

    def issued(self, asset: str) -> bool:
        a = self.s.assets.get(asset)
        return a is not None and a.issuer is not None

    def check_asset_names(
        self, path: tuple[str | int, ...], names: dict[str, object] | list[str]
    ) -> Iterator[Problem]:
        for asset in names:
            if asset not in self.assets:
                yield self.unknown_asset((*path, asset), asset)

    # --- assets and markets ------------------------------------------------------------------
    def check_assets(self) -> Iterator[Problem]:
        for name, asset in self.s.assets.items():
            path: tuple[str | int, ...] = ("assets", name)
            if name == LIQUIDITY_KEY:
                yield self.problem(
                    path,
                    f"{LIQUIDITY_KEY!r} is reserved (shock steps use it for multipliers)",
                    "rename the asset",
                )
            if asset.venues is not None and (
                asset.market is not None or asset.peg is not None or asset.issuer is not None
            ):
                other = "market" if asset.market is not None else "peg" if asset.peg else "issuer"
                yield self.problem(
                    (*path, "venues"),
                    f"'venues' cannot be combined with '{other}'",
                    "several venues are for an asset with a price of its own; a single venue "
                    "is 'market'",
                )
                continue
            if asset.arbitrage is not None and (asset.venues is None or len(asset.venues) < 2):
                yield self.problem(
                    (*path, "arbitrage"),
                    "'arbitrage' joins the venues of an asset: it needs at least two 'venues'",
                )
            if asset.issuer is not None:
                if asset.peg is not None:
                    yield self.problem(
                        (*path, "peg"), "an asset is either issued ('issuer') or pegged ('peg')"
                    )
                yield from self.check_issued(name, asset)
                continue
            if asset.peg is not None:
                yield from self.check_pegged(name, asset)
                continue
            if asset.price is None:
                yield self.problem(
                    path,
                    "missing required key 'price'",
                    "only an issued token (with 'issuer') may leave it out",
                )
                continue
            if asset.backing is not None:
                yield self.problem(
                    (*path, "backing"),
                    "'backing' needs 'issuer'",
                    "name the protocol that issued the token",
                )
            markets = (
                {("market",): asset.market}
                if asset.market is not None
                else {("venues", v): m for v, m in (asset.venues or {}).items()}
            )
            for where, market in markets.items():
                yield from self.check_market((*path, *where), market, asset.price)
            if asset.venues is not None:
                weights = [m.volume_usd is not None for m in asset.venues.values()]
                if any(weights) and not all(weights):
                    missing = [v for v, m in asset.venues.items() if m.volume_usd is None]
                    yield self.problem(
                        (*path, "venues", missing[0]),
                        "either every venue of an asset gives 'volume_usd' or none does",
                        "a vwap oracle weights the venues by it",
                    )

    def check_market(self, path: tuple[str | int, ...], market, price: float) -> Iterator[Problem]:  # type: ignore[no-untyped-def]
        if isinstance(market, CpmmMarket):
            implied = market.quote_reserve / market.base_reserve
            if abs(implied / price - 1.0) > RESERVE_PRICE_TOLERANCE:
                yield self.problem(
                    (*path, "quote_reserve"),
                    f"reserves price the asset at {implied:.6g} "
                    f"(quote_reserve / base_reserve) but its price is {price:.6g}",
                    f"set quote_reserve: {market.base_reserve * price:.6g} "
                    "(or change base_reserve or price)",
                )
        elif isinstance(market, OrderbookMarket):
            yield from self.check_book((*path, "bids"), market.bids, side=-1)
            if market.asks is not None:
                yield from self.check_book((*path, "asks"), market.asks, side=+1)

    def check_pegged(self, name: str, asset) -> Iterator[Problem]:  # type: ignore[no-untyped-def]
        path: tuple[str | int, ...] = ("assets", name)
        peg = asset.peg
        if peg.to not in self.assets:
            yield self.unknown_asset((*path, "peg", "to"), peg.to)
            return
        target = self.s.assets[peg.to]
        if peg.to == name or target.issuer is not None or target.peg is not None:
            yield self.problem(
                (*path, "peg", "to"),
                "a peg target must be an asset with its own price (not pegged or issued)",
            )
            return
        if asset.backing is not None:
            yield self.problem((*path, "backing"), "'backing' needs 'issuer'")
        expected = peg.ratio * (target.price or 0.0)
        if asset.price is not None and abs(asset.price / expected - 1.0) > 1e-9:
            yield self.problem(
                (*path, "price"),
                f"a pegged asset starts at ratio x the price of {peg.to!r} ({expected:g}), "
                f"found {asset.price:g}",
                "leave 'price' out: it follows the peg",
            )
        market = asset.market
        if isinstance(market, CpmmMarket):
            implied = market.quote_reserve / market.base_reserve
            if abs(implied / peg.ratio - 1.0) > RESERVE_PRICE_TOLERANCE:
                yield self.problem(
                    (*path, "market", "quote_reserve"),
                    f"the pool prices the ratio at {implied:.6g} (quote_reserve / base_reserve, "
                    f"in units of {peg.to!r}) but peg.ratio is {peg.ratio:g}",
                    f"set quote_reserve: {market.base_reserve * peg.ratio:.6g}",
                )
        elif isinstance(market, OrderbookMarket):
            yield from self.check_book((*path, "market", "bids"), market.bids, side=-1)
            if market.asks is not None:
                yield from self.check_book((*path, "market", "asks"), market.asks, side=+1)

    def check_levers(self, name: str, proto) -> Iterator[Problem]:  # type: ignore[no-untyped-def]
        """Oracle floors, and the levers a protocol type cannot use."""
        base: tuple[str | int, ...] = ("protocols", name)
        for asset in proto.oracle.floor:
            if asset not in self.assets:
                yield self.unknown_asset((*base, "oracle", "floor", asset), asset)
        venues = self.all_venues
        for v in proto.oracle.venues or ():
            if v not in venues:
                yield self.problem(
                    (*base, "oracle", "venues"),
                    f"unknown venue {v!r}",
                    known_names_hint(v, venues, "venues"),
                )
        if proto.route is not None:
            for v in proto.route:
                if v not in venues:
                    yield self.problem(
                        (*base, "route", v),
                        f"unknown venue {v!r}",
                        known_names_hint(v, venues, "venues"),
                    )
            if set(proto.route) <= venues and not any(
                set(proto.route) <= set(self.venues_of(a)) for a in self.s.assets
            ):
                yield self.problem(
                    (*base, "route"),
                    "no asset trades on all of these venues, so the route applies nowhere",
                    "a route names venues of one asset (it applies to every asset that has them)",
                )
        if proto.ignore_columns and proto.positions_file is None:
            yield self.problem(
                (*base, "ignore_columns"),
                "ignore_columns skips columns of a positions_file, and this protocol has none",
                "remove ignore_columns, or add the positions_file it belongs to",
            )
        liquidated = ("lending", "cdp", "perp")
        if proto.liquidators is not None and proto.type != "lending":
            yield self.problem(
                (*base, "liquidators"),
                f"'liquidators' applies to lending protocols, not {proto.type}",
                "cdp auctions fail under stress through 'auction'; perp venues close positions "
                "themselves",
            )
        if proto.circuit_breaker is not None and proto.type not in liquidated:
            yield self.problem(
                (*base, "circuit_breaker"),
                f"{with_article(proto.type)} protocol does not liquidate; circuit "
                "breakers pause the liquidations of lending, cdp and perp protocols",
            )
        if proto.dynamic_risk is not None and proto.type not in liquidated:
            yield self.problem(
                (*base, "dynamic_risk"),
                f"{with_article(proto.type)} protocol has no liquidation threshold or "
                "margin to adjust",
            )

    def check_issued(self, name: str, asset) -> Iterator[Problem]:  # type: ignore[no-untyped-def]
        path: tuple[str | int, ...] = ("assets", name)
        if asset.issuer not in self.s.protocols:
            yield self.problem(
                (*path, "issuer"),
                f"unknown protocol {asset.issuer!r}",
                known_names_hint(asset.issuer, self.s.protocols, "protocols"),
            )
        backing_price = 1.0
        if asset.backing is not None:
            if asset.backing not in self.assets:
                yield self.unknown_asset((*path, "backing"), asset.backing)
                return
            backing = self.s.assets[asset.backing]
            if backing.issuer is not None or asset.backing == name:
                yield self.problem(
                    (*path, "backing"),
                    "the backing must be an asset with its own price, not another issued token",
                )
                return
            backing_price = backing.price if backing.price is not None else 1.0
        if asset.price is not None and abs(asset.price / backing_price - 1.0) > 1e-9:
            yield self.problem(
                (*path, "price"),
                f"an issued token starts at its backing's price ({backing_price:g}), "
                f"found {asset.price:g}",
                "leave 'price' out: it follows the backing",
            )
        if asset.market is not None:  # its own pool, quoted in the numeraire at its par
            yield from self.check_market((*path, "market"), asset.market, backing_price)

    def check_book(
        self, path: tuple[str | int, ...], levels: list[list[float]], side: int
    ) -> Iterator[Problem]:
        previous = None
        for i, (offset, units) in enumerate(levels):
            here = (*path, i)
            if not (offset == offset and abs(offset) != float("inf")):
                yield self.problem(here, f"price offset must be a finite number, found {offset}")
                continue
            if side < 0 and not (-1.0 < offset <= 0.0):
                yield self.problem(
                    here,
                    f"a bid's price offset must be in (-1, 0], found {offset}",
                    "offsets are fractions of the mid price: -0.01 is 1% below it",
                )
            if side > 0 and not (0.0 <= offset <= 100.0):
                yield self.problem(
                    here, f"an ask's price offset must be in [0, 100], found {offset}"
                )
            if not (units == units and 0.0 < units <= 1e18):
                yield self.problem(here, f"units must be > 0, found {units}")
            if previous is not None and side * (offset - previous) <= 0:
                yield self.problem(
                    here,
                    "levels must be ordered best first, each worse than the one before "
                    f"({previous} then {offset})",
                )
            previous = offset

    # --- lending -----------------------------------------------------------------------------
    def check_lending(self, name: str, proto: LendingProtocol) -> Iterator[Problem]:
        base: tuple[str | int, ...] = ("protocols", name)
        for asset, cfg in proto.collateral.items():
            path = (*base, "collateral", asset)
            if asset not in self.assets:
                yield self.unknown_asset(path, asset)
            if cfg.liquidation_threshold < cfg.ltv:
                yield self.problem(
                    (*path, "liquidation_threshold"),
                    f"liquidation_threshold {cfg.liquidation_threshold} is below ltv {cfg.ltv}",
                    "a position could borrow its way straight into liquidation; LT must be >= LTV",
                )
        seen: dict[str, int] = {}
        for i, pos in enumerate(proto.positions):
            path = (*base, "positions", i)
            if pos.account is not None:
                if pos.account in seen:
                    yield self.problem(
                        (*path, "account"),
                        f"account {pos.account!r} appears twice in this protocol "
                        f"(also positions[{seen[pos.account]}])",
                        "a lending account has one position per market; merge them",
                    )
                seen.setdefault(pos.account, i)
            for asset in pos.collateral:
                if asset not in self.assets:
                    yield self.unknown_asset((*path, "collateral", asset), asset)
                elif asset not in proto.collateral:
                    yield self.problem(
                        (*path, "collateral", asset),
                        f"{asset!r} is not a collateral asset of protocol {name!r}",
                        known_names_hint(asset, proto.collateral, "collateral assets")
                        + f"; or add it under protocols.{name}.collateral",
                    )
            for asset in pos.debt:
                if asset not in self.assets:
                    yield self.unknown_asset((*path, "debt", asset), asset)

    # --- other protocol types ----------------------------------------------------------------
    def check_cdp(self, name: str, proto: CdpProtocol) -> Iterator[Problem]:
        base: tuple[str | int, ...] = ("protocols", name)
        stable = proto.stablecoin
        if stable not in self.assets:
            yield self.unknown_asset((*base, "stablecoin"), stable)
        elif (issuer := self.s.assets[stable].issuer) is not None and issuer != name:
            # the token's price follows its issuer's losses: this cdp's deficit could never
            # devalue it, and another protocol's could devalue debt this cdp values at par
            yield self.problem(
                (*base, "stablecoin"),
                f"the stablecoin {stable!r} is issued by {issuer!r}, not by this cdp",
                f"set assets.{stable}.issuer: {name}, so that its uncovered deficit devalues "
                f"{stable}, or use a plain priced asset",
            )
        for i, pos in enumerate(proto.positions):
            path = (*base, "positions", i, "collateral")
            yield from self.check_asset_names(path, pos.collateral)
            if stable in pos.collateral:
                yield self.problem(
                    (*path, stable), f"the stablecoin {stable!r} cannot be its own collateral"
                )

    def never_moves(self, asset: str) -> bool:
        """An asset whose price nothing in the scenario can move: no market or venues, not
        pegged or issued, and named in no step of a fixed shock path (a numeraire)."""
        a = self.s.assets[asset]
        if a.market is not None or a.venues is not None or a.peg is not None:
            return False
        if a.issuer is not None or isinstance(self.s.shocks, MonteCarloModel):
            return False
        return not any(asset in step.returns for step in self.s.shocks)

    def fixed_price(self, path: tuple[str | int, ...], asset: str, what: str) -> Problem:
        return self.problem(
            path,
            f"{asset!r} has a fixed price (no market, no peg, no issuer, and no shock step "
            f"moves it): {what}",
            f"put the position on the asset you meant, or give assets.{asset} a market or a shock",
        )

    def check_perp(self, name: str, proto: PerpProtocol) -> Iterator[Problem]:
        for i, pos in enumerate(proto.positions):
            path: tuple[str | int, ...] = ("protocols", name, "positions", i)
            if pos.asset not in self.assets:
                yield self.unknown_asset((*path, "asset"), pos.asset)
            elif self.never_moves(pos.asset):
                yield self.fixed_price(
                    (*path, "asset"), pos.asset, "a perp on it can never gain or lose"
                )
            if pos.size == 0:
                yield self.problem(
                    (*path, "size"),
                    "size must not be 0",
                    "positive for a long, negative for a short",
                )

    def check_leveraged(self, name: str, proto: LeveragedProtocol) -> Iterator[Problem]:
        base: tuple[str | int, ...] = ("protocols", name)
        if proto.target_leverage >= proto.max_leverage:
            yield self.problem(
                (*base, "target_leverage"),
                f"target_leverage {proto.target_leverage:g} must be below max_leverage "
                f"{proto.max_leverage:g}",
                "a deleveraging sale returns from above the maximum to the target",
            )
        if proto.lender is not None:
            if proto.lender not in self.s.protocols:
                yield self.problem(
                    (*base, "lender"),
                    f"unknown protocol {proto.lender!r}",
                    known_names_hint(proto.lender, self.s.protocols, "protocols"),
                )
            elif proto.lender == name:
                yield self.problem((*base, "lender"), "a vault cannot lend to itself")
        for i, pos in enumerate(proto.positions):
            yield from self.check_asset_names((*base, "positions", i, "holdings"), pos.holdings)

    def check_options(self, name: str, proto: OptionsProtocol) -> Iterator[Problem]:
        for i, pos in enumerate(proto.positions):
            path: tuple[str | int, ...] = ("protocols", name, "positions", i, "asset")
            if pos.asset not in self.assets:
                yield self.unknown_asset(path, pos.asset)
            elif self.never_moves(pos.asset):
                yield self.fixed_price(path, pos.asset, "options on it can never need a hedge")

    # --- shock path --------------------------------------------------------------------------
    def check_shocks(self) -> Iterator[Problem]:
        if isinstance(self.s.shocks, MonteCarloModel):
            yield from self.check_monte_carlo(self.s.shocks)
            return
        allowed = self.s.settings.allow_extreme_shocks
        for t, step in enumerate(self.s.shocks):
            for key, value in step.returns.items():
                if extreme(value, allowed):
                    yield self.problem(("shocks", t, key), *extreme_message(value))
                if "@" in key:
                    yield from self.check_venue_key(("shocks", t, key), key)
                    continue
                asset = key
                if asset not in self.assets:
                    yield self.unknown_asset(("shocks", t, asset), asset)
                elif self.issued(asset) and self.s.assets[asset].market is None:
                    yield self.problem(
                        ("shocks", t, asset),
                        f"{asset!r} is issued by {self.s.assets[asset].issuer!r} and has no "
                        "market: its price follows its backing and its issuer's losses",
                        "shock the backing asset instead, or give the token a market",
                    )
            for asset in step.liquidity:
                path = ("shocks", t, LIQUIDITY_KEY, asset)
                if "@" in asset:
                    yield from self.check_venue_key(path, asset)
                elif asset not in self.assets:
                    yield self.unknown_asset(path, asset)
                elif not self.venues_of(asset):
                    yield self.problem(
                        path,
                        f"asset {asset!r} has no market, so its liquidity cannot be scaled",
                        f"give assets.{asset} a market, or remove this multiplier",
                    )

    def check_venue_key(self, path: tuple[str | int, ...], key: str) -> Iterator[Problem]:
        """``ASSET@VENUE``: the asset exists and trades on that venue."""
        asset, _, venue = key.partition("@")
        if asset not in self.assets:
            yield self.unknown_asset(path, asset)
            return
        venues = self.venues_of(asset)
        if self.s.assets[asset].venues is None:
            yield self.problem(
                path,
                f"asset {asset!r} has no 'venues', so {key!r} names nothing",
                f"shock the asset as a whole ({asset!r}), or give it venues",
            )
        elif venue not in venues:
            yield self.problem(
                path,
                f"asset {asset!r} has no venue {venue!r}",
                known_names_hint(venue, venues, f"venues of {asset}"),
            )

    def check_coordination(self) -> Iterator[Problem]:
        c = self.s.coordination
        if c is None or c.protocols is None:
            return
        for k, name in enumerate(c.protocols):
            path = ("coordination", "protocols", k)
            proto = self.s.protocols.get(name)
            if proto is None:
                yield self.problem(
                    path,
                    f"unknown protocol {name!r}",
                    known_names_hint(name, self.s.protocols, "protocols"),
                )
            elif proto.type not in ("lending", "cdp", "perp"):
                yield self.problem(
                    path,
                    f"{name!r} is a {proto.type} protocol: it has no per-account margin to tighten",
                    "participants are lending, cdp and perp protocols",
                )

    def check_monte_carlo(self, mc: MonteCarloModel) -> Iterator[Problem]:
        for path, message, hint in reference_problems(mc, self.s.assets):
            yield self.problem(("shocks", *path), message, hint)
