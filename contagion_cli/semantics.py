"""Cross-reference checks of a schema-valid scenario: the rules no single field can check.

Each check yields :class:`Problem` s that name the exact field; :func:`check_scenario` collects
them all, so a user fixes a file in one pass instead of one error per run.
"""

from __future__ import annotations

from collections.abc import Iterator

from .errors import Location, Problem, known_names_hint
from .loader import Document
from .schema import LIQUIDITY_KEY, CpmmMarket, LendingProtocol, OrderbookMarket, Scenario

#: cpmm reserves must price the asset within this relative tolerance of its `price`.
RESERVE_PRICE_TOLERANCE = 1e-4


def check_scenario(scenario: Scenario, doc: Document) -> list[Problem]:
    """Every cross-reference problem of the scenario (empty when it is consistent)."""
    checker = _Checker(scenario, doc)
    return list(checker.run())


class _Checker:
    def __init__(self, scenario: Scenario, doc: Document) -> None:
        self.s = scenario
        self.doc = doc
        self.assets = set(scenario.assets)

    def problem(
        self, path: tuple[str | int, ...], message: str, hint: str | None = None
    ) -> Problem:
        return Problem(message, self.locate(path), path, hint)

    def locate(self, path: tuple[str | int, ...]) -> Location:
        return self.doc.locate(path)

    def unknown_asset(self, path: tuple[str | int, ...], name: str) -> Problem:
        return self.problem(
            path, f"unknown asset {name!r}", known_names_hint(name, self.assets, "assets")
        )

    def run(self) -> Iterator[Problem]:
        yield from self.check_assets()
        for name, proto in self.s.protocols.items():
            if isinstance(proto, LendingProtocol):
                yield from self.check_lending(name, proto)
        yield from self.check_shocks()

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
            market = asset.market
            if isinstance(market, CpmmMarket):
                implied = market.quote_reserve / market.base_reserve
                if abs(implied / asset.price - 1.0) > RESERVE_PRICE_TOLERANCE:
                    yield self.problem(
                        (*path, "market", "quote_reserve"),
                        f"reserves price the asset at {implied:.6g} "
                        f"(quote_reserve / base_reserve) but its price is {asset.price:.6g}",
                        f"set quote_reserve: {market.base_reserve * asset.price:.6g} "
                        "(or change base_reserve or price)",
                    )
            elif isinstance(market, OrderbookMarket):
                yield from self.check_book((*path, "market", "bids"), market.bids, side=-1)
                if market.asks is not None:
                    yield from self.check_book((*path, "market", "asks"), market.asks, side=+1)

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

    # --- shock path --------------------------------------------------------------------------
    def check_shocks(self) -> Iterator[Problem]:
        for t, step in enumerate(self.s.shocks):
            for asset in step.returns:
                if asset not in self.assets:
                    yield self.unknown_asset(("shocks", t, asset), asset)
            for asset in step.liquidity:
                path = ("shocks", t, LIQUIDITY_KEY, asset)
                if asset not in self.assets:
                    yield self.unknown_asset(path, asset)
                elif self.s.assets[asset].market is None:
                    yield self.problem(
                        path,
                        f"asset {asset!r} has no market, so its liquidity cannot be scaled",
                        f"give assets.{asset} a market, or remove this multiplier",
                    )
