"""The array layout shared by the compiler and the kernel: named tuples of C-contiguous arrays.

This module decides every dtype and shape (float64 values, int64 indices, structure of arrays),
so that the kernel sees one type signature whatever the scenario: one compilation, a warm cache.
It holds no logic; :mod:`.compiler` fills these, :mod:`.kernel` reads and mutates them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

F8 = np.float64
I8 = np.int64

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


class Assets(NamedTuple):
    """Per asset ``a``. ``price`` is state: the current market price."""

    price: np.ndarray  # f8[A]
    start_price: np.ndarray  # f8[A]
    kind: np.ndarray  # i8[A] ASSET_*
    venue_start: np.ndarray  # i8[A] first venue of the asset
    venue_count: np.ndarray  # i8[A] number of venues (0 for ASSET_FIXED)
    issuer: np.ndarray  # i8[A] ASSET_ISSUED: issuing protocol; -1 otherwise
    backing: np.ndarray  # i8[A] ASSET_ISSUED: backing asset; -1 = the numeraire (1 USD)
    peg_to: np.ndarray  # i8[A] ASSET_PEGGED: the asset it is pegged to; -1 otherwise
    peg_ratio: np.ndarray  # f8[A] ASSET_PEGGED: state: units of `peg_to` per unit
    peg_route: np.ndarray  # i8[A] ASSET_PEGGED: 1 sell the `peg_to` units a sale yields


class Venues(NamedTuple):
    """Per venue ``v`` (a market where an asset trades). Reserves and price are state."""

    asset: np.ndarray  # i8[V]
    kind: np.ndarray  # i8[V] VENUE_*
    price: np.ndarray  # f8[V] current mid / last traded price
    lo: np.ndarray  # f8[V] lowest price the venue can reach (start price x eps)
    hi: np.ndarray  # f8[V] highest price (start price / eps)
    x: np.ndarray  # f8[V] cpmm base reserve (units)
    y: np.ndarray  # f8[V] cpmm quote reserve (USD)
    fee: np.ndarray  # f8[V] cpmm fee
    lam: np.ndarray  # f8[V] linear: lambda per USD
    alpha: np.ndarray  # f8[V] exponential: impact per unit
    anchor: np.ndarray  # f8[V] orderbook: mid price the levels are quoted around this step
    bid_start: np.ndarray  # i8[V] first bid level in Book
    bid_count: np.ndarray  # i8[V]
    ask_start: np.ndarray  # i8[V]
    ask_count: np.ndarray  # i8[V]


class Book(NamedTuple):
    """Order-book levels of all orderbook venues, bids and asks, best first."""

    offset: np.ndarray  # f8[L] price offset from the anchor (fraction)
    depth: np.ndarray  # f8[L] units quoted at the level (after liquidity multipliers)
    remaining: np.ndarray  # f8[L] state: units not yet taken this step


class Lending(NamedTuple):
    """All lending positions of all lending protocols, legs in CSR form (sorted by asset)."""

    protocol: np.ndarray  # i8[N] protocol index
    status: np.ndarray  # i8[N] POS_*
    col_start: np.ndarray  # i8[N+1] collateral legs of position i: col_start[i]:col_start[i+1]
    col_asset: np.ndarray  # i8[M]
    col_units: np.ndarray  # f8[M] state
    debt_start: np.ndarray  # i8[N+1]
    debt_asset: np.ndarray  # i8[K]
    debt_units: np.ndarray  # f8[K] state
    rank: np.ndarray  # i8[N] order of (protocol, account) names: the tie-break of liquidators


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


class Leveraged(NamedTuple):
    """Positions of all leveraged protocols: holdings legs in CSR form, USD debt."""

    protocol: np.ndarray  # i8[N]
    status: np.ndarray  # i8[N]
    hold_start: np.ndarray  # i8[N+1]
    hold_asset: np.ndarray  # i8[M]
    hold_units: np.ndarray  # f8[M] state
    hold_pending: np.ndarray  # f8[M] scratch: units sent to market this round
    debt: np.ndarray  # f8[N] state: USD owed


class Options(NamedTuple):
    """Written options of all option vaults (the vault is short every option)."""

    protocol: np.ndarray  # i8[N]
    asset: np.ndarray  # i8[N] underlying
    kind: np.ndarray  # i8[N] OPT_PUT / OPT_CALL
    strike: np.ndarray  # f8[N]
    tau: np.ndarray  # f8[N] years to expiry
    units: np.ndarray  # f8[N] > 0
    vol: np.ndarray  # f8[N] annualised volatility


class Protocols(NamedTuple):
    """Per protocol ``p`` parameters (read-only); per (protocol, asset) tables are [P, A]."""

    kind: np.ndarray  # i8[P] PROTO_*
    reserve: np.ndarray  # f8[P] reserve_usd
    liabilities: np.ndarray  # f8[P] haircut denominator (USD)
    close_factor: np.ndarray  # f8[P] lending
    full_close_hf: np.ndarray  # f8[P] lending
    lt: np.ndarray  # f8[P, A] lending: liquidation threshold (0 where not collateral)
    bonus: np.ndarray  # f8[P, A] lending: liquidation bonus
    stablecoin: np.ndarray  # i8[P] cdp: the asset its debt is denominated in (-1 otherwise)
    liq_ratio: np.ndarray  # f8[P] cdp
    penalty: np.ndarray  # f8[P] cdp
    auction_max_slippage: np.ndarray  # f8[P] cdp: above this expected slippage bids vanish
    auction_discount: np.ndarray  # f8[P] cdp: keepers' discount then (1 = zero bids)
    maintenance: np.ndarray  # f8[P] perp: maintenance margin fraction
    liq_fee: np.ndarray  # f8[P] perp: liquidation fee fraction of notional
    max_leverage: np.ndarray  # f8[P] leveraged
    target_leverage: np.ndarray  # f8[P] leveraged
    band: np.ndarray  # f8[P] options: rebalance band (fraction of the book's units)
    rate: np.ndarray  # f8[P] options: risk-free rate
    oracle_kind: np.ndarray  # i8[P] ORACLE_*
    oracle_n: np.ndarray  # i8[P] lag or window (rounds, or steps for ORACLE_LAG_STEPS)
    oracle_floor: np.ndarray  # f8[P, A] the feed never reports below this (0: no floor)
    breaker_drop: np.ndarray  # f8[P] circuit breaker: pause after this drop (0: none)
    min_profit: np.ndarray  # f8[P] liquidators' minimum profit per liquidation (USD)
    capital: np.ndarray  # f8[P] liquidators' capital per round (USD; inf: unlimited)
    risk_k: np.ndarray  # f8[P] dynamic risk: sensitivity to realised volatility (0: off)
    risk_ref_vol: np.ndarray  # f8[P]
    risk_max: np.ndarray  # f8[P]
    lender: np.ndarray  # i8[P] leveraged: the protocol that lent its debt (-1: outside)
    uses: np.ndarray  # i8[P, A+1] 1 where the protocol depends on the asset's price; column A:
    # it lent to a protocol of the scenario ("credit")


class ProtocolState(NamedTuple):
    """Per protocol state that evolves during a run."""

    haircut: np.ndarray  # f8[P] issuer haircut: uncovered loss / liabilities
    hedge: np.ndarray  # f8[P, A] options: units of the underlying held (negative: short)
    hedge_cash: np.ndarray  # f8[P] options: USD from hedge trades (initial hedge included)
    liability0: np.ndarray  # f8[P] options: value of the written book at the start
    paused: np.ndarray  # i8[P] circuit breaker tripped in this step


class Path(NamedTuple):
    """The exogenous shock path: per step ``t`` and asset ``a``."""

    returns: np.ndarray  # f8[T, A]
    liquidity: np.ndarray  # f8[T, A] multiplier of market liquidity (1 = unchanged)


class Params(NamedTuple):
    """Scalars of a run (settings); arguments, not globals, so the cache never goes stale."""

    max_rounds: int
    recovery: float
    tol: float
    min_price_fraction: float
    trace_cap: int
    work_budget: int  # stop (STATUS_OVER_BUDGET) after this many position visits; 0: no limit


class Outputs(NamedTuple):
    """Preallocated results the kernel fills. Counters are length-1 arrays."""

    # per protocol
    liquidations: np.ndarray  # i8[P] liquidations, auctions started, perps closed, deleveragings
    liquidated_usd: np.ndarray  # f8[P] debt repaid / notional closed / holdings sold
    repaid_usd: np.ndarray  # f8[P] debt repaid (lending, cdp, leveraged)
    seized_usd: np.ndarray  # f8[P] collateral seized, at the oracle price of its round
    proceeds_usd: np.ndarray  # f8[P] what selling the seized collateral raised
    bad_debt_usd: np.ndarray  # f8[P]
    shortfall_usd: np.ndarray  # f8[P] at the end of the run, at its oracle
    market_shortfall_usd: np.ndarray  # f8[P] ... at market prices
    credit_losses_usd: np.ndarray  # f8[P] what protocols it lent to could not repay
    skipped_unprofitable: np.ndarray  # i8[P] liquidations liquidators declined (no profit)
    skipped_capital: np.ndarray  # i8[P] liquidations skipped for lack of liquidator capital
    paused_rounds: np.ndarray  # i8[P] rounds with the circuit breaker tripped
    deferred_liquidations: np.ndarray  # i8[P] eligible positions waiting when a paused step ended
    deferred_debt_usd: np.ndarray  # f8[P] their debt
    income_usd: np.ndarray  # f8[P] cdp penalties, perp liquidation fees: added to the reserve
    auctions: np.ndarray  # i8[P] cdp auctions started
    zero_bid_auctions: np.ndarray  # i8[P] cdp auction lots won by keepers at a discount
    zero_bid_usd: np.ndarray  # f8[P] cdp: market value of collateral given away that way
    auction_raised_usd: np.ndarray  # f8[P] cdp: USD raised by auctions (market and keepers)
    returned_usd: np.ndarray  # f8[P] cdp: raised beyond the tab, returned to vault owners
    deficit_usd: np.ndarray  # f8[P] perp: negative equity of closed positions (after fees)
    adl_usd: np.ndarray  # f8[P] perp: deficit socialised by auto-deleveraging
    hedge_units: np.ndarray  # f8[P] options: gross units of the underlying traded
    sales_usd: np.ndarray  # f8[P] leveraged: proceeds of deleveraging sales
    haircut: np.ndarray  # f8[P] issuer haircut at the end
    closed_positions: np.ndarray  # i8[P] positions closed with bad debt
    first_distress_round: np.ndarray  # i8[P] global round, -1 never
    first_distress_step: np.ndarray  # i8[P] step (0-based), -1 never
    depth: np.ndarray  # i8[P] propagation depth, -1 never distressed
    # per protocol x asset (conservation)
    seized_units: np.ndarray  # f8[P, A]
    repaid_units: np.ndarray  # f8[P, A]
    written_off_units: np.ndarray  # f8[P, A]
    # per asset
    shocked_price: np.ndarray  # f8[A] start x prod(1 + r_t): the exogenous path alone
    final_price: np.ndarray  # f8[A] market price at the end of the run
    sold_units: np.ndarray  # f8[A] gross sell orders
    bought_units: np.ndarray  # f8[A] gross buy orders
    sale_proceeds_usd: np.ndarray  # f8[A]
    purchase_cost_usd: np.ndarray  # f8[A]
    traded_notional_usd: np.ndarray  # f8[A] gross orders x round-start price
    slippage_usd: np.ndarray  # f8[A]
    unfilled_units: np.ndarray  # f8[A] orders the market could not absorb
    # per step
    step_rounds: np.ndarray  # i8[T] rounds in which any protocol acted
    step_converged: np.ndarray  # i8[T] 1 converged, 0 hit max_rounds
    # contagion graph: edge e is src -> dst through asset, in global round
    edge_src: np.ndarray  # i8[E]
    edge_dst: np.ndarray  # i8[E]
    edge_asset: np.ndarray  # i8[E]
    edge_round: np.ndarray  # i8[E]
    # round-by-round trace (first trace_cap rounds)
    trace_step: np.ndarray  # i8[R]
    trace_round: np.ndarray  # i8[R] global round
    trace_price: np.ndarray  # f8[R, A] price at the end of the round
    trace_net_units: np.ndarray  # f8[R, A] net units sold (negative: bought) on the market
    trace_liquidations: np.ndarray  # i8[R, P]
    trace_repaid_usd: np.ndarray  # f8[R, P]
    trace_flow_units: np.ndarray  # f8[R, P] units each protocol sent to market (sold - bought)
    # counters: [n_edges, n_trace, total_rounds (all, quiet included), acting_rounds]
    counters: np.ndarray  # i8[4]


def empty_outputs(n_protocols: int, n_assets: int, n_steps: int, trace_cap: int) -> Outputs:
    """Zeroed outputs sized for a scenario (distress markers start at -1)."""
    P, A, T, R = n_protocols, n_assets, n_steps, trace_cap
    E = max(1, P * max(P - 1, 0) * (A + 1))  # A + 1: the "credit" channel
    minus = np.full(P, -1, dtype=I8)
    return Outputs(
        liquidations=np.zeros(P, I8),
        liquidated_usd=np.zeros(P, F8),
        repaid_usd=np.zeros(P, F8),
        seized_usd=np.zeros(P, F8),
        proceeds_usd=np.zeros(P, F8),
        bad_debt_usd=np.zeros(P, F8),
        shortfall_usd=np.zeros(P, F8),
        market_shortfall_usd=np.zeros(P, F8),
        credit_losses_usd=np.zeros(P, F8),
        skipped_unprofitable=np.zeros(P, I8),
        skipped_capital=np.zeros(P, I8),
        paused_rounds=np.zeros(P, I8),
        deferred_liquidations=np.zeros(P, I8),
        deferred_debt_usd=np.zeros(P, F8),
        income_usd=np.zeros(P, F8),
        auctions=np.zeros(P, I8),
        zero_bid_auctions=np.zeros(P, I8),
        zero_bid_usd=np.zeros(P, F8),
        auction_raised_usd=np.zeros(P, F8),
        returned_usd=np.zeros(P, F8),
        deficit_usd=np.zeros(P, F8),
        adl_usd=np.zeros(P, F8),
        hedge_units=np.zeros(P, F8),
        sales_usd=np.zeros(P, F8),
        haircut=np.zeros(P, F8),
        closed_positions=np.zeros(P, I8),
        first_distress_round=minus.copy(),
        first_distress_step=minus.copy(),
        depth=minus.copy(),
        seized_units=np.zeros((P, A), F8),
        repaid_units=np.zeros((P, A), F8),
        written_off_units=np.zeros((P, A), F8),
        shocked_price=np.zeros(A, F8),
        final_price=np.zeros(A, F8),
        sold_units=np.zeros(A, F8),
        bought_units=np.zeros(A, F8),
        sale_proceeds_usd=np.zeros(A, F8),
        purchase_cost_usd=np.zeros(A, F8),
        traded_notional_usd=np.zeros(A, F8),
        slippage_usd=np.zeros(A, F8),
        unfilled_units=np.zeros(A, F8),
        step_rounds=np.zeros(T, I8),
        step_converged=np.zeros(T, I8),
        edge_src=np.zeros(E, I8),
        edge_dst=np.zeros(E, I8),
        edge_asset=np.zeros(E, I8),
        edge_round=np.zeros(E, I8),
        trace_step=np.zeros(R, I8),
        trace_round=np.zeros(R, I8),
        trace_price=np.zeros((R, A), F8),
        trace_net_units=np.zeros((R, A), F8),
        trace_liquidations=np.zeros((R, P), I8),
        trace_repaid_usd=np.zeros((R, P), F8),
        trace_flow_units=np.zeros((R, P), F8),
        counters=np.zeros(4, I8),
    )


class Scratch(NamedTuple):
    """Per-round working arrays of the kernel (created once per run, inside the kernel)."""

    oracle: np.ndarray  # f8[P, A] each protocol's oracle prices this round
    ref_oracle: np.ndarray  # f8[P, A] the oracle before the step's shock (circuit breakers)
    par: np.ndarray  # f8[P] cdp: its stablecoin at par
    adj: np.ndarray  # f8[P, A] dynamic risk adjustment (+ tightens)
    vol2: np.ndarray  # f8[A] sum of squared log returns in this step
    last_price: np.ndarray  # f8[A] price at the previous round start
    shortfall: np.ndarray  # f8[P] measured at this round's start
    acted: np.ndarray  # i8[P]
    sell: np.ndarray  # f8[A] units ordered (Neumaier sum and its compensation)
    sell_c: np.ndarray  # f8[A]
    buy: np.ndarray  # f8[A]
    buy_c: np.ndarray  # f8[A]
    sell_fill: np.ndarray  # f8[A] share of the units ordered that filled
    sell_avg: np.ndarray  # f8[A] USD per filled unit
    buy_fill: np.ndarray  # f8[A]
    buy_avg: np.ndarray  # f8[A]
    orders: np.ndarray  # f8[P, A] signed units each protocol ordered (+ sell, - buy)
    flow: np.ndarray  # f8[P, A] orders plus routed flow (a pegged sale sells its peg target)
    routed: np.ndarray  # f8[A] pegged: units of the peg target sold (+) or bought (-)
    crossed: np.ndarray  # f8[A] units crossed at the round-start price
    filled_s: np.ndarray  # f8[A] pegged: units of the sell side filled
    filled_b: np.ndarray  # f8[A]
    price_before: np.ndarray  # f8[A] price at the start of execution
    moved_now: np.ndarray  # i8[P, A] protocol moved the asset's price this round
    moved_prev: np.ndarray  # i8[P, A] ... in the previous round
    credit_now: np.ndarray  # i8[P] protocol defaulted on its lender this round
    credit_prev: np.ndarray  # i8[P]
    lot: np.ndarray  # f8[P, A] cdp auction lots
    stressed: np.ndarray  # i8[P, A] cdp auction stress
    deficit: np.ndarray  # f8[P, A, 2] perp deficits by side
    hedge_pending: np.ndarray  # f8[P, A] options
    opt_target: np.ndarray  # f8[P, A]
    opt_units: np.ndarray  # f8[P, A]
    opt_value: np.ndarray  # f8[P]
    deferred_n: np.ndarray  # i8[P] eligible positions a tripped breaker held back this round
    deferred_usd: np.ndarray  # f8[P]
    cand_pos: np.ndarray  # i8[N] capital-limited liquidation candidates (lending)
    cand_j: np.ndarray  # i8[N]
    cand_k: np.ndarray  # i8[N]
    cand_repay_units: np.ndarray  # f8[N]
    cand_seize: np.ndarray  # f8[N]
    cand_repay_usd: np.ndarray  # f8[N]
    cand_profit: np.ndarray  # f8[N]
    cand_count: np.ndarray  # i8[1]
    hist: np.ndarray  # f8[H, A] round-start prices, a ring (lagged and twap oracles)
    hist_count: np.ndarray  # i8[1]
    step_end: np.ndarray  # f8[T+1, A] prices at the end of each step (row 0: the start)
    shocked: np.ndarray  # f8[A] the exogenous path alone
    shocked_ratio: np.ndarray  # f8[A] pegged: the exogenous path of the ratio
