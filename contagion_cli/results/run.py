"""Results of a run: frozen dataclasses with stable, snake_case ``to_dict()`` keys.

The JSON keys of MODEL.md §7 are a contract: extend, never rename.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf become null (jq and every JSON parser reject bare NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass(frozen=True)
class AdlCut:
    """A position auto-deleveraged by a perp venue."""

    account: str
    asset: str
    cut_usd: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProtocolResult:
    name: str
    type: str
    positions: int
    liquidations: int  # liquidations, auctions started, perps closed, deleveraging sales
    liquidated_usd: float  # debt repaid (lending, cdp), notional closed (perp), sales (leveraged)
    repaid_usd: float
    collateral_seized_usd: float  # at the oracle price of each liquidation's round
    collateral_sold_usd: float  # what the market paid for it
    # what the liquidators (lending) or keepers (cdp) made: cash received - cash paid + what
    # they hold at the end at final prices; 0 for types without third-party liquidators
    liquidator_profit_usd: float
    bad_debt_usd: float
    bad_debt_positions: int
    shortfall_usd: float  # at the protocol's own oracle
    reserve_usd: float
    reserve_used_usd: float  # realised losses drawn from the reserve (+ income)
    uncovered_usd: float  # max(0, bad debt + credit losses + shortfall - reserve - income)
    insolvent: bool
    first_distress_round: int | None
    first_distress_step: int | None
    depth: int | None
    market_shortfall_usd: float = 0.0  # the shortfall at market prices (oracles aside)
    income_usd: float = 0.0  # cdp penalties, perp liquidation fees (added to the reserve)
    credit_losses_usd: float = 0.0  # what protocols it lent to could not repay
    # levers
    skipped_unprofitable: int = 0  # liquidations liquidators declined (not profitable)
    skipped_capital: int = 0  # liquidations skipped for lack of liquidator capital
    paused_rounds: int = 0  # rounds its circuit breaker was tripped
    deferred_liquidations: int = 0  # eligible positions still held back when a step ended
    deferred_debt_usd: float = 0.0
    haircut: float = 0.0  # uncovered loss / liabilities: what its issued tokens lost
    # cdp
    auctions: int = 0
    zero_bid_auctions: int = 0
    zero_bid_collateral_usd: float = 0.0
    auction_raised_usd: float = 0.0
    returned_to_owners_usd: float = 0.0
    # perp
    deficit_usd: float = 0.0  # negative equity of closed positions: fund, then ADL, then loss
    adl_usd: float = 0.0
    # the notional of the bankrupt positions whose deficit the cuts paid (in that share): what a
    # venue that closes winners against the bankrupt (Hyperliquid) reports as deleveraged
    adl_notional_usd: float = 0.0
    adl_positions: int = 0
    adl_cuts: tuple[AdlCut, ...] = ()
    # leveraged
    deleveraging_sales_usd: float = 0.0
    # options
    hedge_units_traded: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["adl_cuts"] = [c.to_dict() for c in self.adl_cuts]
        return _clean(out)


@dataclass(frozen=True)
class VenueResult:
    """One venue of an asset that trades on several (docs/model.md 3j)."""

    name: str
    final_price: float
    sold_units: float  # liquidation flow sold here (filled)
    bought_units: float
    proceeds_usd: float
    cost_usd: float
    slippage_usd: float  # against the venue's own price before each trade
    arbitrage_sold_units: float  # units arbitrageurs sold here (it was dear)
    arbitrage_bought_units: float  # ... bought here (it was cheap)

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class AssetResult:
    name: str
    start_price: float
    shocked_price: float  # start x prod(1 + r_t): the exogenous path alone
    final_price: float
    endogenous_impact: float  # final / shocked - 1
    total_move: float  # final / start - 1
    amplification: float | None  # total move / exogenous move (None without a shock)
    sold_units: float  # units sold (filled): a unit offered again after a failed sale counts once
    bought_units: float
    sale_proceeds_usd: float
    slippage_usd: float
    slippage_bps: float  # slippage / notional of the units traded (unfilled orders excluded)
    unfilled_units: float  # orders no market took and nobody offers again (docs/model.md 2)
    held_units: float  # units liquidators and keepers hold at the end (seized or won, unsold)
    written_off_units: float  # units of this debt asset written off as bad debt (lending, cdp)
    #: assets with several venues only: per venue, and what arbitrage between them earned
    venues: list[VenueResult] | None = None
    arbitrage_profit_usd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = _clean(asdict(self))
        if self.venues is None:
            del out["venues"], out["arbitrage_profit_usd"]
        return out


@dataclass(frozen=True)
class Edge:
    """A contagion edge: ``source`` moved a price of ``asset`` that ``target`` uses, in the
    round before ``target`` was first distressed (MODEL.md §5)."""

    source: str
    target: str
    asset: str
    round: int

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target, "asset": self.asset, "round": self.round}


@dataclass(frozen=True)
class EntityResult:
    """An account across every protocol it appears in (values in USD)."""

    account: str
    protocols: list[str]
    positions: int
    collateral_usd: float  # at the start: collateral, holdings, perp margin (incl. its PnL)
    debt_usd: float  # at the start
    exposure_usd: float  # collateral, holdings and perp notional at the start
    leverage: float | None  # exposure / equity at the start (None when equity <= 0)
    liquidated_positions: int  # positions liquidated, auctioned, closed or deleveraged
    collateral_end_usd: float  # at the end, final prices
    debt_end_usd: float
    loss_usd: float  # equity at the start - equity at the end (market moves and liquidations)
    # what auto-deleveraging took from its open perp positions (not a liquidation)
    adl_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class CoordinatedEntity:
    """An entity the coordination layer asked for more margin (docs/model.md 3k)."""

    account: str
    leverage: float | None  # aggregate, at the start (None: equity <= 0)
    margin_add: float
    requirements: list[dict[str, Any]]  # protocol, measure, asset, without, with
    liquidated_positions: int  # with coordination
    liquidated_positions_without: int
    loss_usd: float  # with coordination
    loss_usd_without: float

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class CoordinationResult:
    """What the coordination layer changed: whom it adjusted, and the run without it."""

    participants: list[str]
    max_entity_leverage: float
    margin_add_per_leverage: float
    max_margin_add: float
    adjusted_entities: int
    adjusted_positions: int
    entities: list[CoordinatedEntity]  # the largest margin adds (at most 50)
    without: dict[str, Any]  # headline metrics of the same run without coordination

    def to_dict(self) -> dict[str, Any]:
        out = _clean(asdict(self))
        out["entities"] = [e.to_dict() for e in self.entities]
        return out


@dataclass(frozen=True)
class StepResult:
    step: int
    rounds: int  # rounds in which any protocol acted
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TraceRound:
    step: int
    round: int
    prices: dict[str, float]
    net_sold_units: dict[str, float]
    liquidations: dict[str, int]
    repaid_usd: dict[str, float]
    # per protocol, per asset: units it sent to market this round (negative: bought); assets
    # it did not trade are left out
    flows: dict[str, dict[str, float]]
    # per protocol: liquidations its liquidators skipped this round (unprofitable or unfunded)
    skipped: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


@dataclass(frozen=True)
class RunResult:
    """Everything a run reports (MODEL.md §5)."""

    scenario: str
    version: str
    converged: bool
    rounds: int  # rounds in which any protocol acted, all steps
    total_rounds: int  # including each step's final quiet round
    steps: list[StepResult]
    liquidations: int
    liquidated_usd: float
    bad_debt_usd: float
    shortfall_usd: float
    adl_usd: float
    insolvent_protocols: list[str]
    propagation_depth: int
    amplification: float | None
    amplification_asset: str | None
    protocols: dict[str, ProtocolResult]
    assets: dict[str, AssetResult]
    edges: list[Edge]
    trace: list[TraceRound] = field(default_factory=list)
    trace_truncated: bool = False
    entities: list[EntityResult] | None = None
    coordination: CoordinationResult | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "version": self.version,
            "converged": self.converged,
            "rounds": self.rounds,
            "total_rounds": self.total_rounds,
            "liquidations": self.liquidations,
            "liquidated_usd": self.liquidated_usd,
            "bad_debt_usd": self.bad_debt_usd,
            "shortfall_usd": self.shortfall_usd,
            "adl_usd": self.adl_usd,
            "insolvent_protocols": list(self.insolvent_protocols),
            "insolvent_count": len(self.insolvent_protocols),
            "propagation_depth": self.propagation_depth,
            "amplification": self.amplification,
            "amplification_asset": self.amplification_asset,
            "steps": [s.to_dict() for s in self.steps],
            "protocols": {k: v.to_dict() for k, v in self.protocols.items()},
            "assets": {k: v.to_dict() for k, v in self.assets.items()},
            "contagion": {"edges": [e.to_dict() for e in self.edges]},
        }
        if self.entities is not None:
            out["entities"] = [e.to_dict() for e in self.entities]
        if self.coordination is not None:
            out["coordination"] = self.coordination.to_dict()
        if self.trace:
            out["trace"] = [r.to_dict() for r in self.trace]
            out["trace_truncated"] = self.trace_truncated
        return _clean(out)

    def metric(self, name: str) -> float:
        """A summary metric by its JSON name (gates, sweeps)."""
        if name in ("insolvent_count", "insolvent_protocols"):  # the list's length
            return float(len(self.insolvent_protocols))
        value = getattr(self, name)
        return float(value) if value is not None else math.nan
