"""The scenario file's schema: frozen pydantic models, a pure function of a dict.

Shape and per-field ranges live here; cross-references between fields (an asset named in a
position must exist, LT >= LTV, reserves match the price, ...) live in :mod:`.semantics`, which
can name the exact field of each problem. No numpy, no I/O.

Key names are a contract (MODEL.md §7): extend, never rename.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from ..errors import with_article
from .base import Strict
from .expected import Expectations, check_names
from .stochastic import MONTE_CARLO_TAG, PATH_TAG, SHOCKS_TYPE_MESSAGE, MonteCarloModel, shock_kind

# --- value types -------------------------------------------------------------------------------
# Upper bounds reject absurd sizes (a typo of 1e30 instead of 1e3) before they overflow a kernel.
MAX_PRICE = 1e12
MAX_AMOUNT = 1e18
MAX_ROUNDS = 100_000
MAX_STEPS = 100_000

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-+]*$", min_length=1, max_length=64),
]
Price = Annotated[float, Field(gt=0, le=MAX_PRICE, allow_inf_nan=False)]
Units = Annotated[float, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False)]
Usd = Annotated[float, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)]
PositiveUsd = Annotated[float, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False)]
OpenFraction = Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
HalfOpenFraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
Bonus = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
Return = Annotated[float, Field(gt=-1, le=100, allow_inf_nan=False)]
LiquidityMultiplier = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]

#: A shock step's key: an asset, or ``ASSET@VENUE`` for a return or multiplier of one venue.
ShockKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_\-+]*(@[A-Za-z0-9][A-Za-z0-9_\-+]*)?$",
        min_length=1,
        max_length=129,
    ),
]

#: A shock step's key that holds liquidity multipliers; therefore not an asset name.
LIQUIDITY_KEY = "liquidity"


# --- settings ----------------------------------------------------------------------------------
class Liquidators(Strict):
    """Who executes liquidations (MODEL.md §4; docs/model.md 3i, "Liquidators")."""

    mode: Literal["rational", "atomic", "any_loss"] = Field(
        "rational",
        description="rational (default): liquidate only when it pays at the current market; "
        "sell the seized units that fetch at least what they cost, hold the rest. atomic: "
        "liquidate only when selling the whole seizure at once covers the repaid debt (a "
        "flash-loan liquidator); sell all of it. any_loss: liquidate every eligible position "
        "and sell the whole seizure whatever it fetches (the model before issue 15).",
    )
    min_profit_usd: Usd = Field(
        0.0,
        description="rational and atomic: a liquidation happens only if its profit at the "
        "current market is at least this.",
    )
    capital_usd_per_round: PositiveUsd | None = Field(
        None,
        description="Debt liquidators can repay per round and protocol (default: unlimited); "
        "the most profitable liquidations go first.",
    )

    @model_validator(mode="after")
    def _no_profit_floor_at_any_loss(self) -> Liquidators:
        if self.mode == "any_loss" and "min_profit_usd" in self.model_fields_set:
            raise ValueError(
                "liquidators with mode any_loss act whatever the profit: 'min_profit_usd' has "
                "no effect (remove it, or use mode rational or atomic)"
            )
        return self


class Settings(Strict):
    max_rounds: Annotated[int, Field(ge=1, le=MAX_ROUNDS)] = Field(
        1000, description="Liquidation rounds per step before the run is reported not converged."
    )
    recovery: Fraction = Field(
        0.0,
        description="Fraction of the endogenous (liquidation-caused) price impact that reverts "
        "between steps.",
    )
    tolerance: Annotated[float, Field(gt=0, le=1e-3, allow_inf_nan=False)] = Field(
        1e-9,
        description="Relative tolerance: smaller changes of a shortfall are not distress, and a "
        "health factor (collateral ratio, margin, leverage) within it of its threshold is at "
        "the threshold.",
    )
    liquidators: Liquidators | None = Field(
        None, description="Default liquidator behaviour of every lending protocol."
    )
    min_price_fraction: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = Field(
        1e-6,
        description="The price band (the epsilon of MODEL.md §2): no trade moves a price below "
        "this fraction of the price the shock path alone gives it, or above its inverse; "
        "shocks are never clamped.",
    )
    allow_extreme_shocks: bool = Field(
        False,
        description="Allow shock returns above +5 (+500%), which are otherwise refused as the "
        "likely typo of a fall (35 for -0.35).",
    )


# --- markets -----------------------------------------------------------------------------------
class MarketBase(Strict):
    volume_usd: PositiveUsd | None = Field(
        None,
        description="Traded volume of this venue (USD): its weight in a `vwap` oracle. Default: "
        "equal weights.",
    )


class CpmmMarket(MarketBase):
    """Constant-product pool (Uniswap v2). price = quote_reserve / base_reserve."""

    type: Literal["cpmm"]
    base_reserve: Units = Field(description="Units of the asset in the pool.")
    quote_reserve: PositiveUsd = Field(description="Numeraire (USD) in the pool.")
    fee: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(
        0.0, description="Swap fee taken from the input (Uniswap v2: 0.003)."
    )


class LinearMarket(MarketBase):
    """Kyle-lambda impact: selling q units from P moves the price to P·max(ε, 1 − λ·q·P)."""

    type: Literal["linear"]
    lambda_per_usd: Annotated[float, Field(gt=0, le=1.0, allow_inf_nan=False)] = Field(
        description="Relative price impact per USD traded (Kyle's lambda)."
    )


class ExponentialMarket(MarketBase):
    """Exponential impact (Cifuentes–Ferrucci–Shin): P·e^(−αq). Give `alpha` or `depth_usd`."""

    type: Literal["exponential"]
    alpha: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | None = Field(
        None, description="Impact per unit sold."
    )
    depth_usd: PositiveUsd | None = Field(
        None, description="USD depth; alpha = start price / depth_usd."
    )

    @model_validator(mode="after")
    def _one_of(self) -> ExponentialMarket:
        if (self.alpha is None) == (self.depth_usd is None):
            raise ValueError("give exactly one of 'alpha' and 'depth_usd'")
        return self


BookLevel = Annotated[list[float], Field(min_length=2, max_length=2)]


class OrderbookMarket(MarketBase):
    """A limit order book: levels ``[price_offset, units]`` relative to the mid price.

    Bids have offsets in (−1, 0], best first; asks have offsets >= 0, best first. Asks default to
    the mirror image of the bids. Beyond the last level the book is exhausted.
    """

    type: Literal["orderbook"]
    bids: Annotated[list[BookLevel], Field(min_length=1, max_length=10_000)]
    asks: Annotated[list[BookLevel], Field(min_length=1, max_length=10_000)] | None = None


Market = Annotated[
    CpmmMarket | LinearMarket | ExponentialMarket | OrderbookMarket, Field(discriminator="type")
]


# --- assets ------------------------------------------------------------------------------------
class Arbitrage(Strict):
    """How fast arbitrage joins an asset's venues (docs/model.md 3j)."""

    speed: HalfOpenFraction = Field(
        1.0,
        description="Share of the arbitrage trade that happens at the end of each round (1: "
        "venue prices meet within the cost every round).",
    )
    cost: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] = Field(
        0.0,
        description="Relative price gap arbitrage leaves open (gas, fees, bridging): venues "
        "stay within (1 + cost) of each other.",
    )


class Peg(Strict):
    to: Name = Field(description="The asset it is pegged to.")
    ratio: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = Field(
        1.0, description="Units of `to` one unit is worth at the start."
    )
    sell_target: bool = Field(
        True,
        description="Liquidation sales of this asset yield units of `to`; true: those are sold "
        "on `to`'s market too (proceeds in the numeraire); false: sellers keep them (e.g. to "
        "repay debt in `to`, as stETH/ETH loop liquidators do).",
    )


class Asset(Strict):
    price: Price | None = Field(
        None,
        description="Start price in the numeraire (USD per unit). Required, except for an "
        "issued token, whose price follows its backing.",
    )
    market: Market | None = Field(
        None,
        description="Where liquidation flow of this asset is executed. No market: the price only "
        "moves with the shock path (a numeraire stablecoin stays at its price).",
    )
    venues: Annotated[dict[Name, Market], Field(min_length=1, max_length=16)] | None = Field(
        None,
        description="Several markets where the asset trades at once (instead of `market`); the "
        "first listed is the primary venue, whose price is the asset's. Liquidation flow is "
        "routed across them and arbitrage joins their prices (docs/model.md 3j).",
    )
    arbitrage: Arbitrage | None = Field(
        None, description="Arbitrage between the venues (default: speed 1, cost 0)."
    )
    issuer: Name | None = Field(
        None,
        description="The protocol that issued this token (a receipt token, a CDP stablecoin): "
        "its price is the backing's price x (1 - the issuer's haircut).",
    )
    backing: Name | None = Field(
        None,
        description="With `issuer`: the asset one token is a claim on. Default: the numeraire "
        "(1 USD).",
    )
    peg: Peg | None = Field(
        None,
        description="A pegged asset (stETH to ETH): price = ratio x the price of `to`. Its "
        "`market`, if any, trades the ratio: quoted in units of `to`.",
    )


# --- protocols ---------------------------------------------------------------------------------
class LendingCollateral(Strict):
    ltv: OpenFraction = Field(description="Loan-to-value: how much can be borrowed (reported).")
    liquidation_threshold: OpenFraction = Field(description="LT: weight in the health factor.")
    liquidation_bonus: Bonus = Field(description="Bonus b: the liquidator seizes R·(1+b).")


class LendingPosition(Strict):
    account: Name | None = Field(
        None,
        description="Owner; the same account in several "
        "protocols is one entity. Default: '<protocol>#<index>'.",
    )
    collateral: Annotated[dict[Name, Units], Field(min_length=1)]
    debt: dict[Name, Units] = Field(default_factory=dict)


class OracleSettings(Strict):
    """How a protocol reads prices (MODEL.md §4; docs/model.md "Oracles")."""

    type: Literal["spot", "lagged", "twap", "external", "median", "vwap"] = Field(
        "spot",
        description="spot: the market now; lagged: `rounds` rounds or `steps` steps behind; "
        "twap: the mean of the last `rounds` round prices; external: the exogenous shock path "
        "only (an exchange-anchored feed that ignores on-chain impact); median / vwap: "
        "aggregated over an asset's venues.",
    )
    venues: Annotated[list[Name], Field(min_length=1, max_length=64)] | None = Field(
        None,
        description="median / vwap: the venues aggregated (default: all of each asset's); "
        "spot: the one venue read instead of the primary venue.",
    )
    rounds: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        None, description="lagged / twap: how many rounds."
    )
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)] | None = Field(
        None, description="lagged: how many steps behind (instead of rounds)."
    )
    floor: dict[Name, Price] = Field(
        default_factory=dict,
        description="Per asset: the feed never reports below this price (a feed that stops, "
        "as LUNA's did at about $0.10 in May 2022).",
    )

    @model_validator(mode="after")
    def _window(self) -> OracleSettings:
        if self.type == "lagged" and (self.rounds is None) == (self.steps is None):
            raise ValueError("a lagged oracle needs exactly one of 'rounds' and 'steps'")
        if self.type == "twap" and (self.rounds is None or self.steps is not None):
            raise ValueError("a twap oracle needs 'rounds' (its window), not 'steps'")
        if self.type in ("spot", "external", "median", "vwap") and (self.rounds or self.steps):
            raise ValueError(f"{with_article(self.type)} oracle takes no 'rounds' or 'steps'")
        if self.venues is not None:
            if self.type not in ("spot", "median", "vwap"):
                raise ValueError(
                    f"{with_article(self.type)} oracle reads no venues; 'venues' is for spot, "
                    "median and vwap"
                )
            if self.type == "spot" and len(self.venues) != 1:
                raise ValueError(
                    "a spot oracle reads one venue: give exactly one in 'venues' "
                    "(or use median / vwap)"
                )
            if len(set(self.venues)) != len(self.venues):
                raise ValueError("a venue is listed twice in 'venues'")
        return self


class CircuitBreaker(Strict):
    drop: OpenFraction = Field(
        description="Liquidations pause for the rest of the step once an oracle price the "
        "protocol uses fell more than this fraction since the step began."
    )


class DynamicRisk(Strict):
    """Risk parameters that follow the step's realised volatility (docs/model.md)."""

    sensitivity: Annotated[float, Field(ge=-100, le=100, allow_inf_nan=False)] = Field(
        description="k in adj = clamp(k x (vol - reference_vol), -max_change, +max_change). "
        "Positive k tightens when volatility rises (LT x (1 - adj), maintenance margin and "
        "liquidation ratio x (1 + adj)); negative k relaxes."
    )
    reference_vol: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = Field(
        0.0, description="Realised volatility (of the step, not annualised) with no adjustment."
    )
    max_change: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = Field(
        0.2, description="Largest relative change of a threshold."
    )


class ProtocolBase(Strict):
    reserve_usd: Usd = Field(0.0, description="Insurance fund / safety module / surplus buffer.")
    liabilities_usd: PositiveUsd | None = Field(
        None,
        description="Claims of the protocol's token holders (haircut denominator). "
        "Default: the debt its positions owe it at the start.",
    )
    oracle: OracleSettings = Field(default_factory=OracleSettings)
    circuit_breaker: CircuitBreaker | None = None
    liquidators: Liquidators | None = Field(
        None, description="Overrides settings.liquidators for this protocol (lending)."
    )
    dynamic_risk: DynamicRisk | None = None
    route: Annotated[dict[Name, HalfOpenFraction], Field(min_length=1, max_length=16)] | None = (
        Field(
            None,
            description="Fixed split of this protocol's liquidation flow across venues "
            "({venue: fraction}, fractions summing to 1); default: routed optimally across all "
            "venues (docs/model.md 3j).",
        )
    )
    positions_file: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = Field(
        None,
        description="A CSV or Parquet file of more positions (columns in docs/books.md), "
        "relative to the scenario file.",
    )
    ignore_columns: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=256)]],
        Field(max_length=1000),
    ] = Field(
        default_factory=list,
        description="Columns of positions_file to skip, such as block_time or tx_hash of a Dune "
        "export (by name; a column the protocol reads cannot be skipped).",
    )

    @field_validator("route")
    @classmethod
    def _route_sums_to_one(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and abs(sum(value.values()) - 1.0) > 1e-9:
            raise ValueError(f"route fractions must sum to 1, found {sum(value.values()):.6g}")
        return value


class LendingProtocol(ProtocolBase):
    """Aave v3 / Compound-style lending market (MODEL.md §3 lending)."""

    type: Literal["lending"]
    close_factor: HalfOpenFraction = Field(
        0.5, description="Share of the largest debt a liquidation may repay."
    )
    full_close_below_hf: HalfOpenFraction = Field(
        0.95,
        description="At or below this health factor the close factor is 1 (Aave v3: 0.95).",
    )
    collateral: Annotated[dict[Name, LendingCollateral], Field(min_length=1)]
    positions: Annotated[list[LendingPosition], Field(max_length=5_000_000)] = Field(
        default_factory=list
    )


class AuctionSettings(Strict):
    """When CDP auctions fail under stress (MODEL.md §3 cdp; 12 March 2020)."""

    max_slippage: Fraction = Field(
        1.0,
        description="Bidders vanish when selling the round's lot on the market would lose more "
        "than this fraction of its value (1: auctions never fail).",
    )
    zero_bid_discount: Fraction = Field(
        1.0,
        description="Then keepers win the lot for (1 - discount) of its value; 1 means bids "
        "of zero, as on 12 March 2020.",
    )


class CdpPosition(Strict):
    account: Name | None = None
    collateral: Annotated[dict[Name, Units], Field(min_length=1)]
    debt: Usd = Field(description="Debt in units of the protocol's stablecoin.")


class CdpProtocol(ProtocolBase):
    """Maker-style vaults: whole-vault auctions below the liquidation ratio."""

    type: Literal["cdp"]
    stablecoin: Name = Field(description="The asset the vaults' debt is denominated in.")
    liquidation_ratio: Annotated[float, Field(ge=1, le=10, allow_inf_nan=False)] = Field(
        description="Minimum collateral value / debt value (Maker ETH-A: 1.5)."
    )
    penalty: Bonus = Field(0.13, description="Liquidation penalty added to the debt (tab).")
    auction: AuctionSettings = Field(default_factory=AuctionSettings)
    positions: Annotated[list[CdpPosition], Field(max_length=5_000_000)] = Field(
        default_factory=list
    )


class PerpPosition(Strict):
    account: Name | None = None
    asset: Name
    size: Annotated[float, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False)] = Field(
        description="Signed units: positive long, negative short."
    )
    entry_price: Price
    margin: Usd = Field(description="Collateral posted, USD.")


class PerpProtocol(ProtocolBase):
    """Perpetual-futures DEX: liquidation at maintenance margin, insurance fund, ADL."""

    type: Literal["perp"]
    maintenance_margin: OpenFraction = Field(
        description="Liquidated when equity < maintenance_margin x |size| x price."
    )
    liquidation_fee: Annotated[float, Field(ge=0, lt=0.5, allow_inf_nan=False)] = Field(
        0.0, description="Fraction of the closed notional paid to the insurance fund."
    )
    positions: Annotated[list[PerpPosition], Field(max_length=5_000_000)] = Field(
        default_factory=list
    )


class LeveragedPosition(Strict):
    account: Name | None = None
    holdings: Annotated[dict[Name, Units], Field(min_length=1)]
    debt_usd: Usd


class LeveragedProtocol(ProtocolBase):
    """Leveraged tokens, looping vaults, funds with a leverage target (fire sales)."""

    type: Literal["leveraged"]
    max_leverage: Annotated[float, Field(gt=1, le=1000, allow_inf_nan=False)] = Field(
        description="Above this leverage (holdings / equity) the vault deleverages."
    )
    target_leverage: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)] = Field(
        description="The leverage a deleveraging sale returns to."
    )
    lender: Name | None = Field(
        None,
        description="A protocol of the scenario that lent the debt: what the vaults cannot "
        "repay is its credit loss (it counts toward its insolvency and haircut).",
    )
    positions: Annotated[list[LeveragedPosition], Field(max_length=5_000_000)] = Field(
        default_factory=list
    )


class OptionPosition(Strict):
    asset: Name = Field(description="The underlying.")
    kind: Literal["put", "call"]
    strike: Price
    expiry_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)]
    units: Units = Field(description="Options written (the vault is short them).")
    vol: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = Field(
        description="Annualised volatility for Black–Scholes."
    )


class OptionsProtocol(ProtocolBase):
    """A vault that writes options and delta-hedges them on the underlying's market."""

    type: Literal["options"]
    rebalance_band: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)] = Field(
        0.02,
        description="Re-hedge when the hedge is off its target by more than this fraction of "
        "the book's units.",
    )
    rate: Annotated[float, Field(ge=-0.5, le=1, allow_inf_nan=False)] = Field(
        0.0, description="Risk-free rate (annual) in the Black–Scholes formulas."
    )
    positions: Annotated[list[OptionPosition], Field(max_length=5_000_000)] = Field(
        default_factory=list
    )


Protocol = Annotated[
    LendingProtocol | CdpProtocol | PerpProtocol | LeveragedProtocol | OptionsProtocol,
    Field(discriminator="type"),
]


# --- shocks ------------------------------------------------------------------------------------
class ShockStep(Strict):
    """One step of the path: ``asset: return`` pairs, and optional liquidity multipliers."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)
    __pydantic_extra__: dict[ShockKey, Return] = Field(init=False)  # type: ignore[assignment]

    liquidity: dict[ShockKey, LiquidityMultiplier] = Field(
        default_factory=dict,
        description="Multiplier of an asset's market liquidity from this step on (0.5 halves it).",
    )

    @property
    def returns(self) -> dict[str, float]:
        return dict(self.__pydantic_extra__ or {})


#: The shock path: a list of steps, or a Monte Carlo model of random paths (stochastic.py).
ShockPath = Annotated[
    Annotated[list[ShockStep], Field(min_length=1, max_length=MAX_STEPS), Tag(PATH_TAG)]
    | Annotated[MonteCarloModel, Tag(MONTE_CARLO_TAG)],
    Discriminator(
        shock_kind, custom_error_type="shocks_type", custom_error_message=SHOCKS_TYPE_MESSAGE
    ),
]


# --- coordination ------------------------------------------------------------------------------
class Coordination(Strict):
    """Protocols that share risk data tighten the margins of over-levered entities before the
    shock (docs/model.md 3k)."""

    enabled: bool = Field(True, description="false: as if there were no coordination block.")
    max_entity_leverage: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)] = Field(
        description="Aggregate leverage (exposure / equity across all protocols) above which an "
        "entity is asked for more margin."
    )
    margin_add_per_leverage: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = Field(
        description="Extra margin per unit of leverage above the maximum (LT lowered, "
        "liquidation ratio and maintenance margin raised by it)."
    )
    max_margin_add: OpenFraction = Field(0.25, description="Largest extra margin.")
    protocols: Annotated[list[Name], Field(min_length=1, max_length=1000)] | None = Field(
        None,
        description="The participating protocols (default: every lending, cdp and perp protocol).",
    )


# --- scenario ----------------------------------------------------------------------------------
class Scenario(Strict):
    """A stress scenario: assets and their markets, protocols and positions, a shock path."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    description: str | None = None
    settings: Settings = Field(default_factory=Settings)
    assets: Annotated[dict[Name, Asset], Field(min_length=1, max_length=1000)]
    protocols: Annotated[dict[Name, Protocol], Field(min_length=1, max_length=1000)]
    shocks: ShockPath
    coordination: Coordination | None = Field(
        None, description="The cross-protocol risk coordination layer (docs/model.md 3k)."
    )
    expected: Expectations | None = Field(
        None,
        description="The documented outcome of a historical event: checks on the run's metrics "
        "that `contagion run` compares with under the report (schema/expected.py).",
    )

    #: The rows of each protocol's ``positions_file``, read by the loader (load/scenario.py) once
    #: the file is valid; not part of the file's schema, and the schema never reads a file.
    _books: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("expected")
    @classmethod
    def _expected_names(cls, value: Any, info: ValidationInfo) -> Any:
        return check_names(value, info.data)

    def positions_book(self, protocol: str) -> Any:
        """The rows the loader read from ``protocol``'s positions_file (None: not read)."""
        return self._books.get(protocol)

    def release_books(self) -> None:
        """Forget the rows read from positions files, for a caller that has compiled the
        scenario and needs them no more (``contagion run``: on a book of 10^7 positions
        they are ~0.5 GB that would otherwise stay through the run; the compiled arrays are
        copies). Compiling the scenario again afterwards is a caller's bug and says so."""
        self._books.clear()


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files (for editors: yaml-language-server, VS Code)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "contagion scenario"
    return schema
