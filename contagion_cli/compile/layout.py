"""The array layout shared by the compiler and the kernel: named tuples of C-contiguous arrays.

This module decides every dtype and shape (float64 values; int64 indices, except the lending
book's, which are compact: a pass over 10^6 positions streams their bytes through memory, and
int32 / int8 halve them), so that the kernel sees one type signature whatever the scenario: one
compilation per specialised kernel (:data:`KERNEL_VARIANTS`), a warm cache. It holds no logic;
:mod:`.compiler` fills these, :mod:`.kernel` reads and mutates them.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import numpy as np

F8 = np.float64
I8 = np.int64
I4 = np.int32  # lending positions and legs (a book holds at most 10^7 rows: load/files.py)
I1 = np.int8  # lending status

# Asset kinds.
ASSET_FIXED = 0  # no market: the price moves only with the shock path (a numeraire stays put)
ASSET_MARKET = 1  # liquidation flow executes on its venue(s)
ASSET_PEGGED = 2  # ratio x the price of the asset it is pegged to; the ratio may have a market
ASSET_ISSUED = 3  # a protocol's token: backing price x (1 - the issuer's haircut)

# Oracle kinds (per protocol).
ORACLE_SPOT = 0
ORACLE_LAG_ROUNDS = 1
ORACLE_LAG_STEPS = 2
ORACLE_TWAP = 3
ORACLE_EXTERNAL = 4
ORACLE_MEDIAN = 5  # median over the asset's venues (those the protocol lists)
ORACLE_VWAP = 6  # weighted mean over the venues, weights `volume_usd`

# Venue (market) kinds, MODEL.md §2.
VENUE_CPMM = 0
VENUE_LINEAR = 1
VENUE_EXPONENTIAL = 2
VENUE_ORDERBOOK = 3

# Protocol kinds, MODEL.md §3.
PROTO_LENDING = 0
PROTO_CDP = 1
PROTO_PERP = 2
PROTO_LEVERAGED = 3
PROTO_OPTIONS = 4

# Position status.
POS_OPEN = 0
POS_CLOSED = 1  # liquidated or written off: nothing left to decide
POS_AUCTION = 2  # cdp: the vault is being auctioned

# Liquidator behaviour (per lending protocol, docs/model.md 3i).
LIQ_RATIONAL = 0  # liquidate when profitable at the market; sell down to cost, hold the rest
LIQ_ATOMIC = 1  # liquidate when selling the whole seizure now covers the repayment; sell it all
LIQ_ANY_LOSS = 2  # liquidate every eligible position and sell the whole seizure, at any loss

# Option kinds.
OPT_PUT = 0
OPT_CALL = 1

#: An auction whose remaining tab is below this fraction of its starting tab is complete (the
#: rest is waived): chasing a fee or slippage geometrically would never end.
AUCTION_DUST = 1e-6

# Kernel status codes.
STATUS_CONVERGED = 0
STATUS_NOT_CONVERGED = 1
STATUS_OVER_BUDGET = 2  # stopped early: more work than Params.work_budget (state is partial)
STATUS_UNSUPPORTED = 3  # a specialised kernel was given a scenario it was not built for

# What a scenario uses beyond lending: the kernel is specialised to these (engine.kernels). A
# specialised copy of kernel.py is compiled with the branches of what it leaves out removed
# (numba prunes ``if HAS_CDP:`` on a module constant before typing: the code is never compiled).
FEATURE_CDP = 1
FEATURE_PERP = 2
FEATURE_LEVERAGED = 4
FEATURE_OPTIONS = 8
FEATURE_VENUES = 16  # an asset with several venues: routing, arbitrage, venue oracles
FEATURE_CAPITAL = 32  # liquidators with limited capital per round
FEATURE_PEGS = 64  # pegged assets, issued tokens
FEATURE_BOOKS = 128  # order-book venues
FEATURE_FEEDS = 256  # oracles other than spot: lagged, twap, external, median, vwap
FEATURES_ALL = 511

#: The specialised kernels, smallest first: a scenario runs on the first that has every feature
#: it needs. Few on purpose: each is compiled (and cached) on its own.
KERNEL_VARIANTS: tuple[tuple[str, int], ...] = (("lending", 0), ("all", FEATURES_ALL))


# Records, not named tuples of arrays, for per-asset, per-venue and per-protocol data: numba
# passes a named tuple by value, one argument per array field, and compile time grows with
# every field of every tuple every helper receives (a 50-field tuple through 40 helpers took
# minutes). A record array is one argument.
#: Per asset ``a`` (a record array): ``price`` and ``peg_ratio`` are state.
ASSET_DTYPE = np.dtype(
    [
        ("price", F8),
        ("start_price", F8),
        ("kind", I8),  # ASSET_*
        ("venue_start", I8),  # first venue of the asset
        ("venue_count", I8),  # number of venues (0 for ASSET_FIXED)
        ("issuer", I8),  # ASSET_ISSUED: issuing protocol; -1 otherwise
        ("backing", I8),  # ASSET_ISSUED: backing asset; -1 = the numeraire (1 USD)
        ("peg_to", I8),  # ASSET_PEGGED: the asset it is pegged to; -1 otherwise
        ("peg_ratio", F8),  # ASSET_PEGGED: state: units of `peg_to` per unit
        ("peg_route", I8),  # ASSET_PEGGED: 1 sell the `peg_to` units a sale yields
        ("arb_speed", F8),  # share of the arbitrage trade done per round (several venues)
        ("arb_cost", F8),  # relative gap arbitrage leaves open
        # ASSET_ISSUED with a market: state: backing price x (1 - haircut) its market was last
        # centred on (a change re-centres the market, docs/model.md 3f)
        ("fundamental", F8),
    ],
    align=True,
)

#: Per venue ``v`` (a market where an asset trades): reserves and price are state.
VENUE_DTYPE = np.dtype(
    [
        ("asset", I8),
        ("kind", I8),  # VENUE_*
        ("price", F8),  # current mid / last traded price
        ("lo", F8),  # lowest price a trade can reach (the venue's shocked price x eps)
        ("hi", F8),  # highest price (shocked price / eps)
        ("x", F8),  # cpmm base reserve (units)
        ("y", F8),  # cpmm quote reserve (USD)
        ("fee", F8),  # cpmm fee
        ("lam", F8),  # linear: lambda per USD
        ("alpha", F8),  # exponential: impact per unit
        ("anchor", F8),  # orderbook: mid price the levels are quoted around this step
        ("bid_start", I8),  # first bid level in Book
        ("bid_count", I8),
        ("ask_start", I8),
        ("ask_count", I8),
        ("shocked", F8),  # state: the venue's exogenous price (start x prod (1 + r)(1 + r_venue))
        ("weight", F8),  # vwap oracle weight (volume_usd; 1 when the asset's venues give none)
        ("before", F8),  # scratch: price before this round's trade
    ],
    align=True,
)

#: Per protocol ``p`` parameters (read-only).
PROTOCOL_DTYPE = np.dtype(
    [
        ("kind", I8),  # PROTO_*
        ("reserve", F8),  # reserve_usd
        ("liabilities", F8),  # haircut denominator (USD)
        ("close_factor", F8),  # lending
        ("full_close_hf", F8),  # lending
        ("stablecoin", I8),  # cdp: the asset its debt is denominated in (-1 otherwise)
        ("liq_ratio", F8),  # cdp
        ("penalty", F8),  # cdp
        ("auction_max_slippage", F8),  # cdp: above this expected slippage bids vanish
        ("auction_discount", F8),  # cdp: keepers' discount then (1 = zero bids)
        ("maintenance", F8),  # perp: maintenance margin fraction
        ("liq_fee", F8),  # perp: liquidation fee fraction of notional
        ("max_leverage", F8),  # leveraged
        ("target_leverage", F8),  # leveraged
        ("band", F8),  # options: rebalance band (fraction of the book's units)
        ("rate", F8),  # options: risk-free rate
        ("oracle_kind", I8),  # ORACLE_*
        ("oracle_n", I8),  # lag or window (rounds, or steps for ORACLE_LAG_STEPS)
        ("breaker_drop", F8),  # circuit breaker: pause after this drop (0: none)
        ("liq_mode", I8),  # LIQ_*: how liquidators decide (lending)
        ("min_profit", F8),  # liquidators' minimum profit per liquidation (USD)
        ("capital", F8),  # liquidators' capital per round (USD; inf: unlimited)
        ("risk_k", F8),  # dynamic risk: sensitivity to realised volatility (0: off)
        ("risk_ref_vol", F8),
        ("risk_max", F8),
        ("lender", I8),  # leveraged: the protocol that lent its debt (-1: outside)
    ],
    align=True,
)

#: Per protocol results the kernel fills.
OUT_PROTOCOL_DTYPE = np.dtype(
    [
        ("liquidations", I8),  # liquidations, auctions started, perps closed, deleveragings
        ("liquidated_usd", F8),  # debt repaid / notional closed / holdings sold
        ("repaid_usd", F8),  # debt repaid (lending, cdp, leveraged)
        ("seized_usd", F8),  # collateral seized, at the oracle price of its round
        ("proceeds_usd", F8),  # what selling the seized collateral raised
        ("bad_debt_usd", F8),
        ("shortfall_usd", F8),  # at the end of the run, at its oracle
        ("market_shortfall_usd", F8),  # ... at market prices
        ("credit_losses_usd", F8),  # what protocols it lent to could not repay
        ("skipped_unprofitable", I8),  # liquidations liquidators declined (no profit)
        ("skipped_capital", I8),  # liquidations skipped for lack of liquidator capital
        ("paused_rounds", I8),  # rounds with the circuit breaker tripped
        ("deferred_liquidations", I8),  # eligible positions waiting when a paused step ended
        ("deferred_debt_usd", F8),  # their debt
        ("income_usd", F8),  # cdp penalties, perp liquidation fees: added to the reserve
        ("auctions", I8),  # cdp auctions started
        ("zero_bid_auctions", I8),  # cdp auction lots won by keepers at a discount
        ("zero_bid_usd", F8),  # cdp: market value of collateral given away that way
        ("auction_raised_usd", F8),  # cdp: USD raised by auctions (market and keepers)
        ("returned_usd", F8),  # cdp: raised beyond the tab; leveraged: beyond the debt
        ("keeper_paid_usd", F8),  # cdp: what keepers paid for lots they won at a discount
        ("debt_cost_usd", F8),  # lending: what liquidators paid for the debt they repaid
        ("deficit_usd", F8),  # perp: negative equity of closed positions (after fees)
        ("adl_usd", F8),  # perp: deficit socialised by auto-deleveraging
        # perp: notional of the bankrupt positions behind that deficit (per pool, in the share
        # the cuts paid): what a venue that closes winners against them would close
        ("adl_notional_usd", F8),
        ("hedge_units", F8),  # options: gross units of the underlying traded
        ("sales_usd", F8),  # leveraged: proceeds of deleveraging sales
        ("haircut", F8),  # issuer haircut at the end
        ("closed_positions", I8),  # positions closed with bad debt
        ("first_distress_round", I8),  # global round, -1 never
        ("first_distress_step", I8),  # step (0-based), -1 never
        ("depth", I8),  # propagation depth, -1 never distressed
    ],
    align=True,
)

#: Per asset results the kernel fills.
OUT_ASSET_DTYPE = np.dtype(
    [
        ("shocked_price", F8),  # start x prod(1 + r_t): the exogenous path alone
        ("final_price", F8),  # market price at the end of the run
        ("sold_units", F8),  # units sold (filled, crossed included): each unit once
        ("bought_units", F8),  # units bought (filled)
        ("sale_proceeds_usd", F8),
        ("purchase_cost_usd", F8),
        ("traded_notional_usd", F8),  # units traded x their price before the trade
        ("slippage_usd", F8),
        # orders the market could not absorb and that are not offered again: lending
        # liquidators keep them, a perp venue closes them at the batch price
        ("unfilled_units", F8),
        ("arbitrage_profit_usd", F8),  # what arbitrage between its venues earned
    ],
    align=True,
)

#: Per venue results the kernel fills.
OUT_VENUE_DTYPE = np.dtype(
    [
        ("sold_units", F8),  # units the round's net sales put on this venue (filled)
        ("bought_units", F8),
        ("proceeds_usd", F8),
        ("cost_usd", F8),
        ("slippage_usd", F8),  # against the venue's own price before each trade
        ("arb_sold_units", F8),  # units arbitrageurs sold here
        ("arb_bought_units", F8),
    ],
    align=True,
)

#: Per step results.
STEP_DTYPE = np.dtype([("rounds", I8), ("converged", I8)], align=True)

#: Per protocol working values of a round.
X_PROTOCOL_DTYPE = np.dtype(
    [
        ("par", F8),  # cdp: its stablecoin at par
        ("shortfall", F8),  # measured at this round's start
        ("acted", I8),
        ("credit_now", I8),  # protocol defaulted on its lender this round
        ("credit_prev", I8),
        ("opt_value", F8),
        ("deferred_n", I8),  # eligible positions a tripped breaker held back this round
        ("deferred_usd", F8),
        # the cascade's own per-protocol working values (kept here, not allocated by the
        # kernel: its entry point then runs without reference counting, a smaller compile)
        ("stress_prev", F8),  # shortfall + credit losses, at the previous round's start
        ("bad_start", F8),  # bad debt, credit losses and income at the round's start
        ("credit_start", F8),
        ("income_start", F8),
        ("haircut_changed", I8),  # the issuer's haircut changed this round
    ],
    align=True,
)

#: Per asset working values of a round.
X_ASSET_DTYPE = np.dtype(
    [
        ("vol2", F8),  # sum of squared log returns in this step
        ("last_price", F8),  # price at the previous round start
        ("sell_fill", F8),  # share of the units ordered that filled
        ("sell_avg", F8),  # USD per filled unit
        ("buy_fill", F8),
        ("buy_avg", F8),
        ("routed", F8),  # pegged: units of the peg target sold (+) or bought (-)
        ("crossed", F8),  # units crossed at the round-start price
        ("filled_s", F8),  # pegged: units of the sell side filled
        ("filled_b", F8),
        ("price_before", F8),  # price at the start of execution
        ("shocked", F8),  # the exogenous path alone
        ("shocked_ratio", F8),  # pegged: the exogenous path of the ratio
    ],
    align=True,
)

#: A liquidation waiting for liquidator capital (lending).
CANDIDATE_DTYPE = np.dtype(
    [
        ("pos", I8),
        ("j", I8),  # debt leg
        ("k", I8),  # collateral leg
        ("repay_units", F8),
        ("seize", F8),
        ("repay_usd", F8),
        ("profit", F8),
        ("sell", F8),  # units of the seizure the liquidators sell (the rest they hold)
        ("buy", F8),  # units of the debt asset they buy to repay it
    ],
    align=True,
)

#: A rational liquidation waiting for the round's allocation of sales (lending).
RATIONAL_DTYPE = np.dtype(
    [
        ("protocol", I8),
        ("asset", I8),  # the seized collateral
        ("seize", F8),  # units seized
        ("cost", F8),  # what a unit must fetch (cost per unit, within the tolerance)
    ],
    align=True,
)

# Layers of ``Scratch.pa`` (f8[P, A] working arrays) and ``Scratch.pai`` (i8[P, A]).
PA_ORACLE = 0  # each protocol's oracle prices this round
PA_REF_ORACLE = 1  # the oracle before the step's shock (circuit breakers)
PA_ADJ = 2  # dynamic risk adjustment (+ tightens)
PA_ORDERS = 3  # signed units each protocol ordered (+ sell, - buy)
PA_FLOW = 4  # orders plus routed flow (a pegged sale sells its peg target)
PA_LOT = 5  # cdp auction lots
PA_HEDGE_PENDING = 6  # options
PA_OPT_TARGET = 7  #
PA_OPT_UNITS = 8  #
PA_SELLS = 9  # units each protocol itself offered for sale this round (gross, its own orders)
PA_BUYS = 10  # units each protocol itself ordered to buy this round (gross)
PA_REPAY = 11  # lending: units of debt its liquidators repaid this round
PAI_MOVED_NOW = 0  # protocol moved the asset's price this round
PAI_STRESSED = 1  # cdp auction stress


#: Type names of the record arrays (for annotations).
Assets = np.recarray  # ASSET_DTYPE[A]
Venues = np.recarray  # VENUE_DTYPE[V]


def records(dtype: np.dtype, n: int) -> np.recarray:
    """A zeroed record array (attribute access per element works in numba and in Python)."""
    return np.zeros(n, dtype=dtype).view(np.recarray)


def workspace(dtype: np.dtype, n: int) -> np.recarray:
    """A record array the kernel writes before it reads (a list with its own count): not
    zeroed, so that a run of a large book does not clear megabytes it may never use."""
    return np.empty(n, dtype=dtype).view(np.recarray)


class Book(NamedTuple):
    """Order-book levels of all orderbook venues, bids and asks, best first."""

    offset: np.ndarray  # f8[L] price offset from the anchor (fraction)
    depth: np.ndarray  # f8[L] units quoted at the level (after liquidity multipliers)
    remaining: np.ndarray  # f8[L] state: units not yet taken this step


class Lending(NamedTuple):
    """All lending positions of all lending protocols, legs in CSR form (sorted by asset).

    Positions are grouped by protocol and, within a protocol, ordered by (collateral asset,
    debt asset, trigger price) (the compiler): the positions one price move makes eligible are
    then neighbours in memory, and a round reads them with few cache misses."""

    protocol: np.ndarray  # i4[N] protocol index
    status: np.ndarray  # i1[N] state: POS_*
    col_start: np.ndarray  # i4[N+1] collateral legs of position i: col_start[i]:col_start[i+1]
    col_asset: np.ndarray  # i4[M]
    col_units: np.ndarray  # f8[M] state
    debt_start: np.ndarray  # i4[N+1]
    debt_asset: np.ndarray  # i4[K]
    debt_units: np.ndarray  # f8[K] state
    rank: np.ndarray  # i8[N] order of (protocol, account) names: the tie-break of liquidators
    # coordination: subtracted from every liquidation threshold; f8[0] without coordination
    lt_cut: np.ndarray  # f8[N] or f8[0]


class Cdp(NamedTuple):
    """Vaults of all cdp protocols: collateral legs in CSR form, debt in stablecoin units."""

    protocol: np.ndarray  # i8[N]
    status: np.ndarray  # i8[N] POS_OPEN / POS_AUCTION / POS_CLOSED
    col_start: np.ndarray  # i8[N+1]
    col_asset: np.ndarray  # i8[M]
    col_units: np.ndarray  # f8[M] state
    col_pending: np.ndarray  # f8[M] scratch: units sent to market this round
    debt: np.ndarray  # f8[N] state: stablecoin units still owed
    tab: np.ndarray  # f8[N] state: stablecoin units the auction still has to raise
    tab0: np.ndarray  # f8[N] state: the tab when the auction started
    raised: np.ndarray  # f8[N] scratch: USD raised this round (zero-bid lots, then sales)
    ratio_add: np.ndarray  # f8[N] coordination: added to the liquidation ratio


class Perp(NamedTuple):
    """Positions of all perp protocols (one asset each)."""

    protocol: np.ndarray  # i8[N]
    status: np.ndarray  # i8[N]
    asset: np.ndarray  # i8[N]
    size: np.ndarray  # f8[N] signed units (negative: short)
    entry: np.ndarray  # f8[N] state: entry price (ADL moves it toward the mark)
    margin: np.ndarray  # f8[N] USD margin
    adl_cut: np.ndarray  # f8[N] state: USD taken by auto-deleveraging
    realized: np.ndarray  # f8[N] state: USD returned to the owner when it was closed
    pending: np.ndarray  # f8[N] scratch: signed units being closed this round
    mm_add: np.ndarray  # f8[N] coordination: added to the maintenance margin


class Leveraged(NamedTuple):
    """Positions of all leveraged protocols: holdings legs in CSR form, USD debt."""

    protocol: np.ndarray  # i8[N]
    status: np.ndarray  # i8[N]
    hold_start: np.ndarray  # i8[N+1]
    hold_asset: np.ndarray  # i8[M]
    hold_units: np.ndarray  # f8[M] state
    hold_pending: np.ndarray  # f8[M] scratch: units sent to market this round
    debt: np.ndarray  # f8[N] state: USD owed
    cash: np.ndarray  # f8[N] state: sale proceeds beyond the debt, kept by the owner


class Options(NamedTuple):
    """Written options of all option vaults (the vault is short every option)."""

    protocol: np.ndarray  # i8[N]
    asset: np.ndarray  # i8[N] underlying
    kind: np.ndarray  # i8[N] OPT_PUT / OPT_CALL
    strike: np.ndarray  # f8[N]
    tau: np.ndarray  # f8[N] years to expiry
    units: np.ndarray  # f8[N] > 0
    vol: np.ndarray  # f8[N] annualised volatility


class ProtocolState(NamedTuple):
    """Per protocol state that evolves during a run."""

    haircut: np.ndarray  # f8[P] issuer haircut: uncovered loss / liabilities
    hedge: np.ndarray  # f8[P, A] options: units of the underlying held (negative: short)
    hedge_cash: np.ndarray  # f8[P] options: USD from hedge trades (initial hedge included)
    liability0: np.ndarray  # f8[P] options: value of the written book at the start
    paused: np.ndarray  # i8[P] circuit breaker tripped in this step


class Path(NamedTuple):
    """The exogenous shock path: per step ``t`` and asset ``a`` (and venue ``v``)."""

    returns: np.ndarray  # f8[T, A]
    liquidity: np.ndarray  # f8[T, A] multiplier of market liquidity (1 = unchanged)
    # ``ASSET@VENUE`` keys: one venue's extra return and multiplier. None (sweeps, Monte Carlo
    # paths) means none; :func:`with_venues` fills them in before the kernel sees the path.
    venue_returns: np.ndarray | None = None  # f8[T, V]
    venue_liquidity: np.ndarray | None = None  # f8[T, V]


def with_venues(path: Path, n_venues: int) -> Path:
    """The path with venue arrays (zeros and ones when it has none): one kernel signature."""
    if path.venue_returns is not None and path.venue_liquidity is not None:
        return path
    n_t = path.returns.shape[0]
    return path._replace(
        venue_returns=np.zeros((n_t, n_venues), F8), venue_liquidity=np.ones((n_t, n_venues), F8)
    )


#: Health buckets of the position index: bucket k holds health in [e^(kw), e^((k+1)w)) with
#: w = ln(10) / (NB - 1): 0.23% wide, up to a health of 10; the last bucket is "never".
INDEX_BUCKETS = 1024


class Params(NamedTuple):
    """Scalars of a run (settings); arguments, not globals, so the cache never goes stale."""

    max_rounds: int
    recovery: float
    tol: float
    min_price_fraction: float
    trace_cap: int
    work_budget: int  # stop (STATUS_OVER_BUDGET) after this many position visits; 0: no limit
    use_index: int  # 1: visit only positions a price move can have made eligible; 0: all


class Protocols(NamedTuple):
    """Protocol parameters (read-only): scalars per protocol, tables per (protocol, asset)."""

    rec: np.recarray  # PROTOCOL_DTYPE[P]
    lt: np.ndarray  # f8[P, A] lending: liquidation threshold (0 where not collateral)
    bonus: np.ndarray  # f8[P, A] lending: liquidation bonus
    oracle_floor: np.ndarray  # f8[P, A] the feed never reports below this (0: no floor)
    uses: np.ndarray  # i8[P, A+1] 1 where the protocol depends on the asset's price; column A:
    # it lent to a protocol of the scenario ("credit")
    oracle_venue: np.ndarray  # i8[P, V] 1 for the venues its oracle lists (none listed: all)
    route: np.ndarray  # f8[P, V] fixed route: share of its flow sent to each venue
    route_on: np.ndarray  # i8[P, A] 1 where the route applies (the asset has all its venues)


class Outputs(NamedTuple):
    """Preallocated results the kernel fills (read them through :class:`OutputView`)."""

    p: np.recarray  # OUT_PROTOCOL_DTYPE[P]
    a: np.recarray  # OUT_ASSET_DTYPE[A]
    v: np.recarray  # OUT_VENUE_DTYPE[V]
    seized_units: np.ndarray  # f8[P, A]
    repaid_units: np.ndarray  # f8[P, A]
    written_off_units: np.ndarray  # f8[P, A]
    # units liquidators (lending) and keepers (cdp) hold at the end: seized and not sold (by
    # choice or because the market could not take them), or won in a keeper auction
    held_units: np.ndarray  # f8[P, A]
    steps: np.recarray  # STEP_DTYPE[T]
    edges: np.ndarray  # i8[E, 4] contagion edges: source, target, asset (A: "credit"), round
    trace_idx: np.ndarray  # i8[R, 2] (step, global round) of each recorded round
    trace_price: np.ndarray  # f8[R, A] price at the end of the round
    trace_net_units: np.ndarray  # f8[R, A] net units sold (negative: bought) on the market
    trace_liquidations: np.ndarray  # i8[R, P]
    trace_repaid_usd: np.ndarray  # f8[R, P]
    trace_skipped: np.ndarray  # i8[R, P] liquidations skipped so far (unprofitable + unfunded)
    trace_flow_units: np.ndarray  # f8[R, P, A] units each protocol sent to market (- bought)
    counters: np.ndarray  # i8[4]: n_edges, n_trace, total rounds (quiet included), acting rounds


class OutputView:
    """Named read access to :class:`Outputs` for Python code (``view.liquidations`` is the
    ``liquidations`` column of the per-protocol records)."""

    _P: ClassVar[frozenset[str]] = frozenset(OUT_PROTOCOL_DTYPE.names or ())
    _A: ClassVar[frozenset[str]] = frozenset(OUT_ASSET_DTYPE.names or ())
    _V: ClassVar[frozenset[str]] = frozenset(f"venue_{n}" for n in OUT_VENUE_DTYPE.names or ())
    _SPLIT: ClassVar[dict[str, tuple[str, str]]] = {
        "step_rounds": ("steps", "rounds"),
        "step_converged": ("steps", "converged"),
    }
    _COLUMNS: ClassVar[dict[str, tuple[str, int]]] = {
        "edge_src": ("edges", 0),
        "edge_dst": ("edges", 1),
        "edge_asset": ("edges", 2),
        "edge_round": ("edges", 3),
        "trace_step": ("trace_idx", 0),
        "trace_round": ("trace_idx", 1),
    }

    def __init__(self, raw: Outputs) -> None:
        self.raw = raw

    def __getattr__(self, name: str) -> np.ndarray:
        raw = self.__dict__["raw"]
        if name in self._P:
            return np.asarray(raw.p[name])
        if name in self._A:
            return np.asarray(raw.a[name])
        if name in self._V:
            return np.asarray(raw.v[name.removeprefix("venue_")])
        if name in self._SPLIT:
            table, field = self._SPLIT[name]
            return np.asarray(getattr(raw, table)[field])
        if name in self._COLUMNS:
            table, col = self._COLUMNS[name]
            return getattr(raw, table)[:, col]
        return getattr(raw, name)


def empty_outputs(
    n_protocols: int, n_assets: int, n_steps: int, trace_cap: int, n_venues: int
) -> Outputs:
    """Zeroed outputs sized for a scenario (distress markers start at -1)."""
    P, A, T, R = n_protocols, n_assets, n_steps, trace_cap
    E = max(1, P * max(P - 1, 0) * (A + 1))  # A + 1: the "credit" channel
    p = records(OUT_PROTOCOL_DTYPE, P)
    p.first_distress_round[:] = -1
    p.first_distress_step[:] = -1
    p.depth[:] = -1
    return Outputs(
        p=p,
        a=records(OUT_ASSET_DTYPE, A),
        v=records(OUT_VENUE_DTYPE, n_venues),
        seized_units=np.zeros((P, A), F8),
        repaid_units=np.zeros((P, A), F8),
        written_off_units=np.zeros((P, A), F8),
        held_units=np.zeros((P, A), F8),
        steps=records(STEP_DTYPE, T),
        edges=np.zeros((E, 4), I8),
        trace_idx=np.zeros((R, 2), I8),
        trace_price=np.zeros((R, A), F8),
        trace_net_units=np.zeros((R, A), F8),
        trace_liquidations=np.zeros((R, P), I8),
        trace_repaid_usd=np.zeros((R, P), F8),
        trace_skipped=np.zeros((R, P), I8),
        trace_flow_units=np.zeros((R, P, A), F8),
        counters=np.zeros(4, I8),
    )


class Scratch(NamedTuple):
    """Per-round working arrays of the kernel (created once per run, inside the kernel)."""

    p: np.recarray  # X_PROTOCOL_DTYPE[P]
    a: np.recarray  # X_ASSET_DTYPE[A]
    sell: np.ndarray  # f8[A] units ordered (Neumaier sum and its compensation)
    sell_c: np.ndarray  # f8[A]
    buy: np.ndarray  # f8[A]
    buy_c: np.ndarray  # f8[A]
    pa: np.ndarray  # f8[PA_*, P, A] working tables (oracle prices, orders, ...)
    pai: np.ndarray  # i8[PAI_*, P, A] flags (moved this round, ...)
    # f8[P, A, 4] perp deficits by side of the bankrupt (0 long, 1 short), and the notional of
    # the bankrupt positions behind them (2 long, 3 short)
    deficit: np.ndarray
    cand: np.recarray  # CANDIDATE_DTYPE[N] capital-limited liquidation candidates (lending)
    cand_count: np.ndarray  # i8[1]
    rat: np.recarray  # RATIONAL_DTYPE[N] rational liquidations of the round (lending)
    rat_count: np.ndarray  # i8[1]
    hist: np.ndarray  # f8[H, A] round-start prices, a ring (lagged and twap oracles)
    hist_count: np.ndarray  # i8[1]
    # who moved which price in the last H + 1 rounds, a ring by global round: the rounds a
    # protocol's oracle reads decide its contagion sources (docs/model.md 4)
    moved: np.ndarray  # i1[H+1, P, A]
    step_end: np.ndarray  # f8[T+1, A] prices at the end of each step (row 0: the start)
    # the health index of the cdp, perp and leveraged books (docs/performance.md; lending has
    # its trigger index, :class:`Triggers`): their positions numbered one after the other
    # (``ix_offsets``)
    health: np.ndarray  # f8[N] health at the index's reference oracle (< 1: must act)
    items: np.ndarray  # i8[N] positions sorted into health buckets (counting sort)
    bucket_start: np.ndarray  # i8[NB+2] first item of each bucket (the last: never)
    active: np.ndarray  # i8[N] positions visited this step, ascending
    marked: np.ndarray  # i1[N] 1 for the positions in ``active``
    ix_meta: np.ndarray  # i8[3]: active count, last bucket included, rebuild requested
    # i8[5]: first position of cdp, perp, leveraged in that numbering (entry 0, lending, is
    # 0 and empty), then the total
    ix_offsets: np.ndarray
    ix_ref: np.ndarray  # f8[P, A] oracle prices the health was measured at
    vq: np.ndarray  # f8[2, V] units per venue: fixed routes (row 0), the optimal split (row 1)
    vtmp: np.ndarray  # f8[V] venue prices being aggregated (median)


def new_scratch(
    protocols: Protocols,
    n_assets: int,
    n_venues: int,
    sizes: tuple[int, int, int, int],
    n_steps: int,
) -> Scratch:
    """Working arrays of one run; the price history is as long as the longest oracle window.
    ``sizes``: positions of the lending, cdp, perp and leveraged books."""
    P, A = protocols.rec.shape[0], n_assets
    n_lending = sizes[0]
    offsets = np.zeros(5, I8)
    np.cumsum((0, *sizes[1:]), out=offsets[1:])  # the health index: cdp, perp, leveraged
    N = int(offsets[-1])
    rec = protocols.rec
    windowed = (rec.oracle_kind == ORACLE_LAG_ROUNDS) | (rec.oracle_kind == ORACLE_TWAP)
    n_hist = int(max(1, (rec.oracle_n[windowed] + 1).max(initial=1)))
    return Scratch(
        p=records(X_PROTOCOL_DTYPE, P),
        a=records(X_ASSET_DTYPE, A),
        sell=np.zeros(A, F8),
        sell_c=np.zeros(A, F8),
        buy=np.zeros(A, F8),
        buy_c=np.zeros(A, F8),
        pa=np.zeros((len(_PA), P, A), F8),
        pai=np.zeros((len(_PAI), P, A), I8),
        deficit=np.zeros((P, A, 4), F8),
        cand=workspace(CANDIDATE_DTYPE, n_lending),  # X.cand_count of them are set
        cand_count=np.zeros(1, I8),
        rat=workspace(RATIONAL_DTYPE, n_lending),  # X.rat_count of them are set
        rat_count=np.zeros(1, I8),
        hist=np.zeros((n_hist, A), F8),
        hist_count=np.zeros(1, I8),
        moved=np.zeros((n_hist + 1, P, A), np.int8),
        step_end=np.zeros((n_steps + 1, A), F8),
        health=np.zeros(N, F8),
        items=np.zeros(N, I8),
        bucket_start=np.zeros(INDEX_BUCKETS + 2, I8),
        active=np.zeros(N, I8),
        marked=np.zeros(N, np.int8),
        ix_meta=np.zeros(3, I8),
        ix_offsets=offsets,
        ix_ref=np.zeros((P, A), F8),
        vq=np.zeros((2, n_venues), F8),
        vtmp=np.zeros(max(1, n_venues), F8),
    )


#: Lending positions per trigger bucket the index aims for (a round scans at most one bucket
#: member by member per group).
TRIGGER_BUCKET = 4

# Columns of ``Triggers.groups`` (one row per group: protocol, collateral asset, debt asset).
TG_P = 0  # protocol
TG_C = 1  # collateral asset
TG_D = 2  # debt asset
TG_B0 = 3  # first bucket of the group
TG_NB = 4  # buckets of the group
TG_LO = 5  # IEEE bits of the lowest trigger (the lower edge of bucket 0)
TG_SHIFT = 6  # a bucket spans 2^shift bit patterns
TG_CUR = 7  # cursor: every bucket from here up is empty (drained)

# Entries of ``Triggers.meta``.
TGM_BUILT = 0  # 1 once built (from the start state: the engine caches it per scenario)
TGM_GROUPS = 1
TGM_HOT = 2  # candidates of the last round, in ``hot``
TGM_ALWAYS = 3  # positions in ``always``
TGM_BUCKETS = 4


class Triggers(NamedTuple):
    """The trigger index of the lending book (docs/performance.md).

    A lending position with one collateral leg c and one debt leg d, in a protocol without
    dynamic risk, is eligible exactly when its protocol's oracle ratio O_c / O_d falls below its
    trigger T = debt units / (collateral units x effective threshold). Per group (protocol, c,
    d) positions are bucketed by T, so a round visits only the buckets the ratio has passed,
    last round's candidates ("hot"), and the positions a trigger cannot describe ("always":
    several legs, dynamic risk)."""

    T: np.ndarray  # f8[N] trigger (0: no debt, never eligible; inf: always a candidate)
    group: np.ndarray  # i4[N] group of the position; -1 never visited, -2 always visited
    items: np.ndarray  # i4[N] positions by bucket: bucket b holds items[start[b]:end[b]]
    start: np.ndarray  # i4[NB]
    end: np.ndarray  # i4[NB]
    head: np.ndarray  # i4[NB] first of the bucket's overflow list (re-inserted), -1: none
    nxt: np.ndarray  # i4[N] next of the overflow lists
    hot: np.ndarray  # i4[N] last round's candidates
    always: np.ndarray  # i4[N] positions visited every round
    visit: np.ndarray  # i4[N] this round's positions, ascending
    bitmap: np.ndarray  # i8[N / 64 + 1] the positions to visit, one bit each
    groups: np.ndarray  # i8[G, 8] TG_* per group
    lte: np.ndarray  # f8[G] the largest effective threshold of the group (shortfall bound)
    rbits: np.ndarray  # i8[G] IEEE bits of this round's ratio / (1 + delta): candidates above
    gid: np.ndarray  # i4[P, A, A] group of (protocol, collateral, debt); -1: none yet
    meta: np.ndarray  # i8[5] TGM_*


def new_triggers(n_lending: int, n_protocols: int, n_assets: int) -> Triggers:
    """An empty trigger index (the kernel builds it from the start state when not built)."""
    n = n_lending
    g = max(1, min(n, n_protocols * n_assets * n_assets))
    buckets = n // TRIGGER_BUCKET + g + 1
    return Triggers(
        T=np.empty(n, F8),
        group=np.empty(n, I4),
        items=np.empty(n, I4),
        start=np.empty(buckets, I4),
        end=np.empty(buckets, I4),
        head=np.empty(buckets, I4),
        nxt=np.empty(n, I4),
        hot=np.empty(n, I4),
        always=np.empty(n, I4),
        visit=np.empty(n, I4),
        bitmap=np.zeros(n // 64 + 1, I8),
        groups=np.empty((g, 8), I8),
        lte=np.empty(g, F8),
        rbits=np.empty(g, I8),
        gid=np.empty((n_protocols, n_assets, n_assets), I4),
        meta=np.zeros(5, I8),
    )


def fresh_triggers(built: Triggers) -> Triggers:
    """A run's own copy of a built index: what a run changes is copied, the rest shared."""
    return built._replace(
        T=built.T.copy(),
        group=built.group.copy(),
        items=built.items.copy(),
        start=built.start.copy(),
        end=built.end.copy(),
        head=np.full_like(built.head, -1),
        nxt=np.empty_like(built.nxt),
        hot=np.empty_like(built.hot),
        visit=np.empty_like(built.visit),
        bitmap=np.zeros_like(built.bitmap),
        groups=built.groups.copy(),
        rbits=np.empty_like(built.rbits),
        meta=built.meta.copy(),
    )


_PA = [name for name in dir() if name.startswith("PA_") and not name.startswith("PAI_")]
_PAI = [name for name in dir() if name.startswith("PAI_")]
