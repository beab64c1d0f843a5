"""Hypothesis strategies: random but meaningful scenarios (health factors spread around 1)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

RISKY = ["ETH", "WBTC", "SOL"]
START = {"ETH": 3000.0, "WBTC": 60000.0, "SOL": 150.0}


@st.composite
def markets(draw: st.DrawFn, price: float) -> dict[str, Any] | None:
    kind = draw(st.sampled_from(["cpmm", "linear", "exponential", "orderbook", "none"]))
    if kind == "none":
        return None
    depth_usd = draw(st.floats(3e4, 1e7))
    if kind == "cpmm":
        base = depth_usd / price
        return {
            "type": "cpmm",
            "base_reserve": base,
            "quote_reserve": base * price,
            "fee": draw(st.sampled_from([0.0, 0.003, 0.01])),
        }
    if kind == "linear":
        return {"type": "linear", "lambda_per_usd": 1.0 / depth_usd}
    if kind == "exponential":
        if draw(st.booleans()):
            return {"type": "exponential", "depth_usd": depth_usd}
        return {"type": "exponential", "alpha": price / depth_usd}
    n = draw(st.integers(1, 5))
    bids, offset = [], 0.0
    for _ in range(n):
        offset -= draw(st.floats(0.001, 0.05))
        bids.append([offset, draw(st.floats(0.1, 2.0)) * depth_usd / price / n])
    return {"type": "orderbook", "bids": bids}


@st.composite
def lending_protocol(draw: st.DrawFn, assets: list[str], prices: dict[str, float]) -> dict:
    collateral_assets = draw(
        st.lists(st.sampled_from(assets), min_size=1, max_size=len(assets), unique=True)
    )
    collateral = {}
    for a in collateral_assets:
        lt = draw(st.floats(0.5, 0.92))
        collateral[a] = {
            "ltv": lt - draw(st.floats(0.0, 0.05)),
            "liquidation_threshold": lt,
            "liquidation_bonus": draw(st.floats(0.0, 0.15)),
        }
    debt_assets = ["USDC"] + [a for a in assets if a not in collateral_assets]
    positions = []
    for i in range(draw(st.integers(1, 12))):
        cols = draw(
            st.lists(st.sampled_from(collateral_assets), min_size=1, max_size=2, unique=True)
        )
        col = {a: draw(st.floats(0.01, 200.0)) * 3000.0 / prices[a] for a in cols}
        adj = sum(u * prices[a] * collateral[a]["liquidation_threshold"] for a, u in col.items())
        # sometimes exactly at a threshold (eligibility at 1, full close at 0.95 or 0.9): a
        # health factor within settings.tolerance of one is at it (docs/model.md 3)
        hf = draw(st.one_of(st.floats(0.85, 2.5), st.sampled_from([1.0, 0.95, 0.9])))
        debts = draw(st.lists(st.sampled_from(debt_assets), min_size=0, max_size=2, unique=True))
        pos: dict[str, Any] = {"account": f"acct{draw(st.integers(0, 30))}-{i}", "collateral": col}
        if debts:
            total = adj / hf
            weights = [draw(st.floats(0.2, 1.0)) for _ in debts]
            pos["debt"] = {
                d: total * w / sum(weights) / prices[d] for d, w in zip(debts, weights, strict=True)
            }
        positions.append(pos)
    return {
        "type": "lending",
        "reserve_usd": draw(st.sampled_from([0.0, 1e4, 1e6])),
        "close_factor": draw(st.sampled_from([0.5, 1.0, 0.25])),
        "full_close_below_hf": draw(st.sampled_from([0.95, 0.9, 1.0])),
        "collateral": collateral,
        "positions": positions,
    }


@st.composite
def lending_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    risky = draw(st.lists(st.sampled_from(RISKY), min_size=1, max_size=3, unique=True))
    prices = {"USDC": 1.0, **{a: START[a] for a in risky}}
    assets: dict[str, Any] = {"USDC": {"price": 1.0}}
    for a in risky:
        assets[a] = {"price": prices[a]}
        market = draw(markets(prices[a]))
        if market is not None:
            assets[a]["market"] = market
    protocols = {
        f"p{k}": draw(lending_protocol(risky, prices)) for k in range(draw(st.integers(1, 3)))
    }
    shocks = []
    # returns down to -99 %: a path can take a price below eps x its start (shocks are never
    # clamped; the band of a round is eps x its round-start price, docs/model.md 2)
    returns = st.one_of(st.floats(-0.5, 0.1), st.sampled_from([-0.99, -0.9]))
    for _ in range(draw(st.integers(1, 3))):
        step: dict[str, Any] = {a: draw(returns) for a in risky if draw(st.booleans())}
        with_market = [a for a in risky if "market" in assets[a]]
        if with_market and draw(st.booleans()):
            step["liquidity"] = {with_market[0]: draw(st.floats(0.3, 1.5))}
        shocks.append(step)
    return {
        "name": "generated",
        "settings": {
            "max_rounds": 200,
            "recovery": draw(st.sampled_from([0.0, 0.0, 0.5])),
            # a wide band (1e-6) or one that a single round's sales reach (0.3, 0.7)
            "min_price_fraction": draw(st.sampled_from([1e-6, 1e-6, 0.3, 0.7])),
        },
        "assets": assets,
        "protocols": protocols,
        "shocks": shocks,
    }


@st.composite
def cascade_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Several protocols on one thin market, health factors stacked just above the shock:
    the family where contagion (depth >= 1, often >= 2) happens."""
    price = 3000.0
    depth_usd = draw(st.floats(2e5, 3e6))
    kind = draw(st.sampled_from(["cpmm", "exponential", "linear", "orderbook"]))
    market = draw(markets(price).filter(lambda m: m is not None and m["type"] == kind))
    if kind == "cpmm":
        market.update(base_reserve=depth_usd / price, quote_reserve=depth_usd)
    assets = {"USDC": {"price": 1.0}, "ETH": {"price": price, "market": market}}
    shock = draw(st.floats(-0.3, -0.02))
    protocols = {}
    for k in range(draw(st.integers(2, 4))):
        lt = draw(st.floats(0.6, 0.9))
        bonus = draw(st.floats(0.0, 0.12))
        positions = []
        for i in range(draw(st.integers(1, 6))):
            units = draw(st.floats(1.0, 150.0))
            # HF after the shock alone between 0.9 and 1.5: some liquidate at once, others only
            # once someone's selling pushes ETH further down
            hf_after = draw(st.floats(0.9, 1.5))
            debt = units * price * (1 + shock) * lt / hf_after
            positions.append(
                {"account": f"a{i}", "collateral": {"ETH": units}, "debt": {"USDC": debt}}
            )
        protocols[f"p{k}"] = {
            "type": "lending",
            "reserve_usd": draw(st.sampled_from([0.0, 5e4])),
            "close_factor": draw(st.sampled_from([0.5, 1.0])),
            "collateral": {
                "ETH": {"ltv": lt, "liquidation_threshold": lt, "liquidation_bonus": bonus}
            },
            "positions": positions,
            # liquidators of each behaviour (the default: rational)
            "liquidators": {
                "mode": draw(st.sampled_from(["rational", "rational", "atomic", "any_loss"]))
            },
            # a feed that reads older rounds: its contagion sources are the moves it reads
            "oracle": draw(
                st.sampled_from(
                    [
                        {"type": "spot"},
                        {"type": "spot"},
                        {"type": "lagged", "rounds": 1},
                        {"type": "lagged", "rounds": 2},
                        {"type": "twap", "rounds": 2},
                        {"type": "twap", "rounds": 3},
                    ]
                )
            ),
        }
    return {
        "name": "cascade",
        "settings": {
            "max_rounds": 500,
            "min_price_fraction": draw(st.sampled_from([1e-6, 1e-6, 0.5, 0.8])),
        },
        "assets": assets,
        "protocols": protocols,
        "shocks": [{"ETH": shock}],
    }


@st.composite
def mixed_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Every protocol type on one shared ETH market, a CDP stablecoin that can depeg, a receipt
    token of a lending market used as collateral elsewhere, shocks up and down."""
    price = 3000.0
    depth_usd = draw(st.floats(3e5, 5e6))
    kind = draw(st.sampled_from(["cpmm", "exponential", "linear", "orderbook"]))
    market = draw(markets(price).filter(lambda m: m is not None and m["type"] == kind))
    if kind == "cpmm":
        market.update(base_reserve=depth_usd / price, quote_reserve=depth_usd)
    assets: dict[str, Any] = {
        "USDC": {"price": 1.0},
        "ETH": {"price": price, "market": market},
        "DAI": {"issuer": "maker"},
        "aETH": {"issuer": "lend", "backing": "ETH"},
    }
    shock = draw(st.floats(-0.35, 0.25))
    lt = draw(st.floats(0.7, 0.88))
    lend_positions = []
    for i in range(draw(st.integers(1, 5))):
        units = draw(st.floats(1.0, 100.0))
        hf = draw(st.floats(0.9, 1.6))
        lend_positions.append(
            {
                "account": f"u{i}",
                "collateral": {"ETH": units},
                "debt": {"USDC": units * price * lt / hf},
            }
        )
    protocols: dict[str, Any] = {
        "lend": {
            "type": "lending",
            "reserve_usd": draw(st.sampled_from([0.0, 2e4])),
            "collateral": {
                "ETH": {
                    "ltv": lt,
                    "liquidation_threshold": lt,
                    "liquidation_bonus": draw(st.floats(0.02, 0.1)),
                }
            },
            "positions": lend_positions,
        },
    }
    if draw(st.booleans()):
        protocols["second"] = {
            "type": "lending",
            "collateral": {
                "aETH": {"ltv": 0.7, "liquidation_threshold": 0.75, "liquidation_bonus": 0.05}
            },
            "positions": [
                {
                    "account": f"u{i}",
                    "collateral": {"aETH": draw(st.floats(1, 50))},
                    "debt": {"USDC": draw(st.floats(1e3, 1.2e5))},
                }
                for i in range(draw(st.integers(1, 3)))
            ],
        }
    protocols["maker"] = {
        "type": "cdp",
        "stablecoin": "DAI",
        "reserve_usd": draw(st.sampled_from([0.0, 1e4])),
        "liquidation_ratio": draw(st.floats(1.2, 1.7)),
        "penalty": draw(st.floats(0.0, 0.15)),
        "auction": {
            "max_slippage": draw(st.floats(0.02, 1.0)),
            "zero_bid_discount": draw(st.sampled_from([1.0, 0.5, 0.2])),
        },
        "positions": [
            {
                "account": f"v{i}",
                "collateral": {"ETH": draw(st.floats(1, 80))},
                "debt": draw(st.floats(1e3, 1.5e5)),
            }
            for i in range(draw(st.integers(1, 5)))
        ],
    }
    perps = []
    for i in range(draw(st.integers(2, 6))):
        size = draw(st.floats(0.5, 80.0)) * draw(st.sampled_from([1.0, -1.0]))
        entry = price * draw(st.floats(0.9, 1.1))
        perps.append(
            {
                "account": f"t{i}",
                "asset": "ETH",
                "size": size,
                "entry_price": entry,
                "margin": abs(size) * entry * draw(st.floats(0.03, 0.4)),
            }
        )
    protocols["perps"] = {
        "type": "perp",
        "reserve_usd": draw(st.sampled_from([0.0, 1e3, 1e5])),
        "maintenance_margin": draw(st.floats(0.02, 0.1)),
        "liquidation_fee": draw(st.floats(0.0, 0.02)),
        "positions": perps,
    }
    # always a leveraged fund: drawn only half the time, hypothesis's early (simplest)
    # examples left it out of almost every mixed scenario
    protocols["fund"] = {
        "type": "leveraged",
        "max_leverage": draw(st.floats(2.5, 5.0)),
        "target_leverage": draw(st.floats(1.2, 2.4)),
        "positions": [
            {
                "account": f"f{i}",
                "holdings": {"ETH": draw(st.floats(5, 100))},
                "debt_usd": draw(st.floats(5e3, 2.4e5)),
            }
            for i in range(draw(st.integers(1, 3)))
        ],
    }
    if draw(st.booleans()):
        protocols["vault"] = {
            "type": "options",
            "reserve_usd": draw(st.floats(1e4, 1e6)),
            "rebalance_band": draw(st.floats(0.01, 0.2)),
            "positions": [
                {
                    "asset": "ETH",
                    "kind": draw(st.sampled_from(["put", "call"])),
                    "strike": price * draw(st.floats(0.7, 1.3)),
                    "expiry_days": draw(st.floats(1, 90)),
                    "units": draw(st.floats(1, 200)),
                    "vol": draw(st.floats(0.3, 1.2)),
                }
                for _ in range(draw(st.integers(1, 3)))
            ],
        }
    if draw(st.booleans()):
        # DAI with a pool of its own: the CDP's deficit depegs it through the pool, the
        # liquidators of a market that takes DAI as collateral sell into it, a shock can hit it
        depth = draw(st.floats(2e4, 5e5))
        assets["DAI"]["market"] = {"type": "cpmm", "base_reserve": depth, "quote_reserve": depth}
        protocols["dai-lend"] = {
            "type": "lending",
            "collateral": {
                "DAI": {"ltv": 0.75, "liquidation_threshold": 0.8, "liquidation_bonus": 0.05}
            },
            "positions": [
                {
                    "account": f"d{i}",
                    "collateral": {"DAI": units},
                    "debt": {"USDC": units * 0.8 / draw(st.floats(0.9, 1.4))},
                }
                for i, units in enumerate(
                    draw(st.lists(st.floats(1e3, 5e4), min_size=1, max_size=3))
                )
            ],
        }
    shocks = [{"ETH": shock}]
    if "market" in assets["DAI"] and draw(st.booleans()):
        shocks[0]["DAI"] = draw(st.floats(-0.15, 0.02))
    if draw(st.booleans()):
        shocks.append({"ETH": draw(st.floats(-0.2, 0.2))})
    return {
        "name": "mixed",
        "settings": {"max_rounds": 300},
        "assets": assets,
        "protocols": protocols,
        "shocks": shocks,
    }


@st.composite
def oracle_settings(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["spot", "spot", "lagged", "lagged-steps", "twap", "external"]))
    out: dict[str, Any] = {}
    if kind == "lagged":
        out = {"type": "lagged", "rounds": draw(st.integers(1, 3))}
    elif kind == "lagged-steps":
        out = {"type": "lagged", "steps": 1}
    elif kind == "twap":
        out = {"type": "twap", "rounds": draw(st.integers(1, 4))}
    elif kind == "external":
        out = {"type": "external"}
    else:
        out = {"type": "spot"}
    if draw(st.booleans()):
        out["floor"] = {"ETH": draw(st.floats(1000.0, 2800.0))}
    return out


#: A health factor away from the knife edges 0.95 (full close) and 1 (eligible), where the last
#: bit of a product decides (kernel and reference may round it differently)...
AWAY_FROM_EDGES = st.floats(0.82, 1.4).filter(
    lambda h: abs(h - 0.95) > 1e-6 and abs(h - 1.0) > 1e-6
)
#: ... or exactly on one: within settings.tolerance of a threshold, a health is at it, so the
#: last bit decides nothing there either (docs/model.md 3)
AT_OR_AWAY_FROM_EDGES = st.one_of(AWAY_FROM_EDGES, st.sampled_from([1.0, 0.95]))


def liquidators_block(draw: st.DrawFn, debt_usd: float) -> dict[str, Any]:
    """Liquidators of each behaviour (rational, atomic, any_loss: docs/model.md 3i), with a
    profit floor where it applies; in 3 of 4 a capital limit, mostly one that binds (a share of
    the debt the protocol could liquidate at once)."""
    mode = draw(st.sampled_from(["rational", "rational", "atomic", "any_loss"]))
    out: dict[str, Any] = {"mode": mode}
    if mode != "any_loss":
        out["min_profit_usd"] = draw(st.sampled_from([0.0, 0.0, 100.0, 2000.0]))
    if draw(st.integers(0, 3)):
        out["capital_usd_per_round"] = max(1.0, debt_usd * draw(st.floats(0.02, 0.3)))
    return out


def risk_levers(draw: st.DrawFn, proto: dict[str, Any]) -> None:
    """A circuit breaker, dynamic risk and a (often non-spot) oracle, each in half the draws."""
    proto["oracle"] = draw(oracle_settings())
    if draw(st.booleans()):
        proto["circuit_breaker"] = {"drop": draw(st.floats(0.05, 0.3))}
    if draw(st.booleans()):
        proto["dynamic_risk"] = {
            "sensitivity": draw(st.floats(-2.0, 2.0)),
            "reference_vol": draw(st.floats(0.0, 0.1)),
            "max_change": draw(st.floats(0.05, 0.3)),
        }


@st.composite
def lever_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Every lever of issue 4 on lending, cdp and perp protocols: oracles (lagged by rounds or
    steps, twap, external, floored), circuit breakers, dynamic risk; liquidators with profit and
    capital limits per protocol and in `settings.liquidators`; a pegged LST with its own ratio
    pool used as collateral; a leveraged vault that borrows from a lending protocol of the
    scenario; the receipt token of that lender held elsewhere (`liabilities_usd` set or not).

    Health factors are drawn *after the first shock* around 1, so that liquidations (and with
    them the capital limit and the profit check) happen in most draws, and the holder of the
    receipt token starts healthy, so that what reaches it comes through the token."""
    price = 3000.0
    depth_usd = draw(st.floats(3e5, 5e6))
    kind = draw(st.sampled_from(["cpmm", "exponential", "linear", "orderbook"]))
    market = draw(markets(price).filter(lambda m: m is not None and m["type"] == kind))
    if kind == "cpmm":
        market.update(base_reserve=depth_usd / price, quote_reserve=depth_usd)
    ratio = draw(st.floats(0.95, 1.0))
    lst_market: dict[str, Any] | None = None
    if draw(st.booleans()):
        base = draw(st.floats(50.0, 2000.0))
        lst_market = {
            "type": "cpmm",
            "base_reserve": base,
            "quote_reserve": base * ratio,
            "fee": draw(st.sampled_from([0.0, 0.0004])),
        }
    lst: dict[str, Any] = {"peg": {"to": "ETH", "ratio": ratio, "sell_target": draw(st.booleans())}}
    if lst_market is not None:
        lst["market"] = lst_market
    assets: dict[str, Any] = {
        "USDC": {"price": 1.0},
        "ETH": {"price": price, "market": market},
        "LST": lst,
        "aUSD": {"issuer": "lend"},
    }
    first = draw(st.floats(-0.3, 0.05))
    after = price * (1 + first)  # ETH after the first shock (before any impact)
    settings: dict[str, Any] = {"max_rounds": 300, "recovery": draw(st.sampled_from([0.0, 0.3]))}
    protocols: dict[str, Any] = {}
    for name in ["lend", "lend2"][: draw(st.integers(1, 2))]:
        lt = draw(st.floats(0.7, 0.88))
        positions = []
        for i in range(draw(st.integers(2, 7))):
            col = draw(st.sampled_from(["ETH", "LST"]))
            units = draw(st.floats(1.0, 120.0))
            value = units * after * (ratio if col == "LST" else 1.0)
            positions.append(
                {
                    "account": f"{name}-u{i}",
                    "collateral": {col: units},
                    "debt": {"USDC": value * lt / draw(AT_OR_AWAY_FROM_EDGES)},
                }
            )
        debt_usd = sum(p["debt"]["USDC"] for p in positions)
        proto: dict[str, Any] = {
            "type": "lending",
            "reserve_usd": draw(st.sampled_from([0.0, 5e4])),
            "close_factor": draw(st.sampled_from([0.5, 1.0])),
            "collateral": {
                a: {
                    "ltv": lt,
                    "liquidation_threshold": lt,
                    "liquidation_bonus": draw(st.floats(0.02, 0.12)),
                }
                for a in ("ETH", "LST")
            },
            "positions": positions,
        }
        risk_levers(draw, proto)
        if draw(st.booleans()):
            proto["liquidators"] = liquidators_block(draw, debt_usd)
        if draw(st.integers(0, 2)) == 0:  # claims larger or smaller than the debt owed to it
            proto["liabilities_usd"] = debt_usd * draw(st.floats(0.2, 2.0))
        protocols[name] = proto
    if draw(st.integers(0, 2)) == 0:  # the default of every lending protocol without its own
        lend_debt = sum(q["debt"]["USDC"] for q in protocols["lend"]["positions"])
        settings["liquidators"] = liquidators_block(draw, lend_debt)
    if draw(st.booleans()):
        vault: dict[str, Any] = {
            "type": "leveraged",
            "max_leverage": 5.0,
            "target_leverage": 3.0,
            "lender": "lend",
            "positions": [
                {
                    "account": f"lev{i}",
                    "holdings": {"ETH": draw(st.floats(5, 60))},
                    "debt_usd": draw(st.floats(2e4, 1.5e5)),
                }
                for i in range(draw(st.integers(1, 3)))
            ],
        }
        if draw(st.booleans()):
            vault["oracle"] = draw(oracle_settings())
        protocols["vault"] = vault
    if draw(st.integers(0, 3)):  # the issued token of `lend` held as collateral elsewhere
        holder_positions = []
        for i in range(draw(st.integers(1, 3))):
            units = draw(st.floats(1e4, 1e5))
            hf = draw(st.floats(1.001, 1.15))  # healthy at par: only the haircut can hurt it
            holder_positions.append(
                {
                    "account": f"h{i}",
                    "collateral": {"aUSD": units},
                    "debt": {"USDC": units * 0.85 / hf},
                }
            )
        holder: dict[str, Any] = {
            "type": "lending",
            "collateral": {
                "aUSD": {"ltv": 0.8, "liquidation_threshold": 0.85, "liquidation_bonus": 0.05}
            },
            "positions": holder_positions,
        }
        if draw(st.booleans()):
            holder["oracle"] = draw(oracle_settings().filter(lambda o: "floor" not in o))
        protocols["holder"] = holder
    if draw(st.booleans()):  # CDP vaults with the levers of their type
        assets["DAI"] = {"issuer": "maker"}
        lr = draw(st.floats(1.2, 1.7))
        maker: dict[str, Any] = {
            "type": "cdp",
            "stablecoin": "DAI",
            "reserve_usd": draw(st.sampled_from([0.0, 1e4])),
            "liquidation_ratio": lr,
            "penalty": draw(st.floats(0.0, 0.15)),
            "auction": {
                "max_slippage": draw(st.floats(0.02, 1.0)),
                "zero_bid_discount": draw(st.sampled_from([1.0, 0.5, 0.2])),
            },
            "positions": [],
        }
        for i in range(draw(st.integers(1, 5))):
            units = draw(st.floats(1, 80))
            # collateral ratio after the first shock, as a multiple of the liquidation ratio
            mult = draw(AT_OR_AWAY_FROM_EDGES)
            maker["positions"].append(
                {
                    "account": f"v{i}",
                    "collateral": {"ETH": units},
                    "debt": units * after / (lr * mult),
                }
            )
        risk_levers(draw, maker)
        if draw(st.integers(0, 2)) == 0:
            maker["liabilities_usd"] = draw(st.floats(1e4, 1e6))
        protocols["maker"] = maker
    if draw(st.booleans()):  # a perp venue with the levers of its type
        mm = draw(st.floats(0.02, 0.1))
        perps = []
        for i in range(draw(st.integers(1, 6))):
            size = draw(st.floats(0.5, 80.0)) * draw(st.sampled_from([1.0, -1.0]))
            entry = price * draw(st.floats(0.95, 1.05))
            # equity after the first shock, as a multiple of the maintenance requirement
            need = mm * abs(size) * after
            equity = need * draw(
                st.one_of(st.floats(0.3, 2.5).filter(lambda m: abs(m - 1.0) > 1e-6), st.just(1.0))
            )
            margin = max(1.0, equity - size * (after - entry))
            perps.append(
                {
                    "account": f"t{i}",
                    "asset": "ETH",
                    "size": size,
                    "entry_price": entry,
                    "margin": margin,
                }
            )
        perp: dict[str, Any] = {
            "type": "perp",
            "reserve_usd": draw(st.sampled_from([0.0, 1e3, 1e5])),
            "maintenance_margin": mm,
            "liquidation_fee": draw(st.floats(0.0, 0.02)),
            "positions": perps,
        }
        risk_levers(draw, perp)
        if draw(st.integers(0, 2)) == 0:
            perp["liabilities_usd"] = draw(st.floats(1e4, 1e6))
        protocols["perps"] = perp
    shocks = []
    for t in range(draw(st.integers(1, 3))):
        step: dict[str, Any] = {"ETH": first if t == 0 else draw(st.floats(-0.3, 0.1))}
        if draw(st.booleans()):
            step["LST"] = draw(st.floats(-0.1, 0.0))
        shocks.append(step)
    return {
        "name": "levers",
        "settings": settings,
        "assets": assets,
        "protocols": protocols,
        "shocks": shocks,
    }


# --- venues, routing, arbitrage, aggregated oracles (docs/model.md 3j) -------------------------

VENUE_TYPES = ["cpmm", "linear", "exponential", "orderbook"]


@st.composite
def venue(draw: st.DrawFn, price: float, kind: str, volume: bool) -> dict[str, Any]:
    """One venue of an asset at ``price``, of the given market type."""
    depth_usd = draw(st.floats(2e5, 5e6))
    out: dict[str, Any]
    if kind == "cpmm":
        base = depth_usd / price
        out = {
            "type": "cpmm",
            "base_reserve": base,
            "quote_reserve": base * price,
            "fee": draw(st.sampled_from([0.0, 0.0, 0.003, 0.01])),
        }
    elif kind == "linear":
        out = {"type": "linear", "lambda_per_usd": 1.0 / depth_usd}
    elif kind == "exponential":
        out = (
            {"type": "exponential", "depth_usd": depth_usd}
            if draw(st.booleans())
            else {"type": "exponential", "alpha": price / depth_usd}
        )
    else:
        bids, offset = [], 0.0
        n = draw(st.integers(1, 5))
        for _ in range(n):
            offset -= draw(st.floats(0.001, 0.04))
            bids.append([offset, draw(st.floats(0.2, 2.0)) * depth_usd / price / n])
        out = {"type": "orderbook", "bids": bids}
    if volume:
        out["volume_usd"] = draw(st.floats(1e5, 1e8))
    return out


@st.composite
def venue_set(draw: st.DrawFn, price: float, names: list[str]) -> dict[str, Any]:
    """2-4 venues of mixed types; either every venue gives volume_usd or none does."""
    n = draw(st.integers(2, min(4, len(names))))
    volume = draw(st.booleans())
    kinds = [draw(st.sampled_from(VENUE_TYPES)) for _ in range(n)]
    return {names[k]: draw(venue(price, kinds[k], volume)) for k in range(n)}


#: A health factor after the shock alone, away from the knife edges 0.95 (full close) and 1
#: (eligible), where the last bit of a price average decides.
HF_AFTER = st.floats(0.9, 1.5).filter(lambda h: abs(h - 0.95) > 1e-9 and abs(h - 1.0) > 1e-9)

BTC_COLLATERAL = {"ltv": 0.7, "liquidation_threshold": 0.75, "liquidation_bonus": 0.08}

ROUTES = [
    lambda v: {v[0]: 1.0},
    lambda v: {v[1]: 1.0},
    lambda v: {v[0]: 0.5, v[1]: 0.5},
    lambda v: {v[0]: 0.25, v[-1]: 0.75},
]


@st.composite
def venue_oracle(draw: st.DrawFn, venues: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(["spot", "median", "median", "vwap", "spot-venue", "lagged"]))
    if kind == "spot":
        return {"type": "spot"}
    if kind == "lagged":
        return {"type": "lagged", "rounds": draw(st.integers(1, 2))}
    if kind == "spot-venue":
        return {"type": "spot", "venues": [draw(st.sampled_from(venues))]}
    out: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        k = draw(st.integers(1, len(venues)))
        out["venues"] = draw(st.permutations(venues))[:k]
    return out


@st.composite
def venue_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """ETH on 2-4 venues (cpmm, linear, exponential, order book) joined by arbitrage; lending
    protocols whose oracles read a venue, the median or the vwap; fixed routes on some; a perp
    venue whose shorts buy; one-venue shocks (ASSET@VENUE) and venue liquidity."""
    price = 3000.0
    names = ["uni", "curve", "book", "cex"]
    eth_venues = draw(venue_set(price, names))
    vnames = list(eth_venues)
    eth: dict[str, Any] = {"price": price, "venues": eth_venues}
    if draw(st.booleans()):
        arb: dict[str, Any] = {}
        if draw(st.booleans()):
            arb["speed"] = draw(st.sampled_from([1.0, 0.5, 0.8]))
        if draw(st.booleans()):
            arb["cost"] = draw(st.sampled_from([0.0, 0.002, 0.01]))
        eth["arbitrage"] = arb
    assets: dict[str, Any] = {"USDC": {"price": 1.0}, "ETH": eth}
    with_btc = draw(st.booleans())
    if with_btc:
        btc_venues = draw(venue_set(60000.0, ["uni", "curve", "bpool"]))
        assets["WBTC"] = {"price": 60000.0, "venues": btc_venues}
    shock = draw(st.floats(-0.3, -0.02))
    protocols: dict[str, Any] = {}
    for k in range(draw(st.integers(1, 3))):
        lt = draw(st.floats(0.6, 0.9))
        bonus = draw(st.floats(0.01, 0.12))  # > 0: a liquidation is never exactly break-even
        collateral = {"ETH": {"ltv": lt, "liquidation_threshold": lt, "liquidation_bonus": bonus}}
        if with_btc:
            collateral["WBTC"] = {
                "ltv": 0.7,
                "liquidation_threshold": 0.75,
                "liquidation_bonus": 0.08,
            }
        positions = []
        for i in range(draw(st.integers(1, 6))):
            col_asset = draw(st.sampled_from(list(collateral)))
            p0 = price if col_asset == "ETH" else 60000.0
            units = draw(st.floats(1.0, 150.0)) * price / p0
            lt_a = collateral[col_asset]["liquidation_threshold"]
            hf_after = draw(HF_AFTER)
            debt = units * p0 * (1 + shock) * lt_a / hf_after
            positions.append(
                {"account": f"a{i}", "collateral": {col_asset: units}, "debt": {"USDC": debt}}
            )
        proto: dict[str, Any] = {
            "type": "lending",
            "reserve_usd": draw(st.sampled_from([0.0, 5e4])),
            "close_factor": draw(st.sampled_from([0.5, 1.0])),
            "collateral": collateral,
            "positions": positions,
            "oracle": draw(venue_oracle(vnames)),
        }
        if draw(st.booleans()):
            proto["route"] = draw(st.sampled_from(ROUTES))(vnames)
        if draw(st.integers(0, 3)) == 0:  # liquidators quote the seizure across the venues
            proto["liquidators"] = {"min_profit_usd": draw(st.sampled_from([1.0, 100.0]))}
            if draw(st.booleans()):
                proto["liquidators"]["capital_usd_per_round"] = draw(st.floats(1e4, 3e5))
        protocols[f"p{k}"] = proto
    if draw(st.integers(0, 2)) == 0:  # a pegged LST whose flow joins ETH's batch, routed
        ratio = draw(st.floats(0.95, 1.0))
        lst: dict[str, Any] = {"peg": {"to": "ETH", "ratio": ratio}}
        if draw(st.booleans()):
            lst["peg"]["sell_target"] = False
        if draw(st.booleans()):
            base = draw(st.floats(50.0, 2000.0))
            lst["market"] = {"type": "cpmm", "base_reserve": base, "quote_reserve": base * ratio}
        assets["LST"] = lst
        lt = draw(st.floats(0.7, 0.9))
        lst_positions = []
        for i in range(draw(st.integers(1, 3))):
            units = draw(st.floats(1.0, 100.0))
            hf_after = draw(HF_AFTER)
            debt = units * price * ratio * (1 + shock) * lt / hf_after
            lst_positions.append(
                {"account": f"l{i}", "collateral": {"LST": units}, "debt": {"USDC": debt}}
            )
        protocols["lsts"] = {
            "type": "lending",
            "collateral": {
                "LST": {"ltv": lt, "liquidation_threshold": lt, "liquidation_bonus": 0.05}
            },
            "positions": lst_positions,
        }
        if draw(st.booleans()):
            protocols["lsts"]["route"] = draw(st.sampled_from(ROUTES))(vnames)
    if draw(st.integers(0, 2)) == 0:  # CDP auctions: the stress quote routes across venues
        assets["DAI"] = {"issuer": "maker"}
        protocols["maker"] = {
            "type": "cdp",
            "stablecoin": "DAI",
            "liquidation_ratio": draw(st.floats(1.2, 1.6)),
            "penalty": draw(st.floats(0.0, 0.13)),
            "auction": {
                "max_slippage": draw(st.floats(0.01, 1.0)),
                "zero_bid_discount": draw(st.sampled_from([1.0, 0.5])),
            },
            "positions": [
                {
                    "account": f"v{i}",
                    "collateral": {"ETH": draw(st.floats(1, 60))},
                    "debt": draw(st.floats(1e3, 1.2e5)),
                }
                for i in range(draw(st.integers(1, 4)))
            ],
        }
    if draw(st.booleans()):
        perps = []
        for i in range(draw(st.integers(1, 4))):
            size = draw(st.floats(0.5, 60.0)) * draw(st.sampled_from([1.0, -1.0]))
            entry = price * draw(st.floats(0.95, 1.05))
            perps.append(
                {
                    "account": f"t{i}",
                    "asset": "ETH",
                    "size": size,
                    "entry_price": entry,
                    "margin": abs(size) * entry * draw(st.floats(0.03, 0.3)),
                }
            )
        perp: dict[str, Any] = {
            "type": "perp",
            "reserve_usd": draw(st.sampled_from([0.0, 1e5])),
            "maintenance_margin": draw(st.floats(0.02, 0.08)),
            "liquidation_fee": draw(st.floats(0.0, 0.01)),
            "positions": perps,
            "oracle": draw(venue_oracle(vnames)),
        }
        if draw(st.booleans()):
            perp["route"] = draw(st.sampled_from(ROUTES))(vnames)
        protocols["perps"] = perp
    shocks = []
    for t in range(draw(st.integers(1, 2))):
        step: dict[str, Any] = {"ETH": shock if t == 0 else draw(st.floats(-0.15, 0.1))}
        if draw(st.booleans()):
            step[f"ETH@{draw(st.sampled_from(vnames))}"] = draw(st.floats(-0.6, 0.2))
        if with_btc and draw(st.booleans()):
            step["WBTC"] = draw(st.floats(-0.3, 0.0))
        if draw(st.booleans()):
            key = draw(st.sampled_from(["ETH", *[f"ETH@{v}" for v in vnames]]))
            step["liquidity"] = {key: draw(st.floats(0.3, 1.5))}
        shocks.append(step)
    return {
        "name": "venues",
        "settings": {"max_rounds": 500, "recovery": draw(st.sampled_from([0.0, 0.0, 0.5]))},
        "assets": assets,
        "protocols": protocols,
        "shocks": shocks,
    }


# --- the coordination layer (docs/model.md 3k) --------------------------------------------------


@st.composite
def coordination_block(draw: st.DrawFn, participants: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "max_entity_leverage": draw(st.floats(1.2, 5.0)),
        "margin_add_per_leverage": draw(st.floats(0.02, 0.3)),
    }
    if draw(st.booleans()):
        out["max_margin_add"] = draw(st.floats(0.01, 0.4))
    if draw(st.booleans()):
        k = draw(st.integers(1, len(participants)))
        out["protocols"] = draw(st.permutations(participants))[:k]
    if draw(st.integers(0, 5)) == 0:
        out["enabled"] = False
    return out


@st.composite
def coordination_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Entities e0..e5 that borrow on two lending markets, hold CDP vaults and perps (some
    also a leveraged vault), so that their leverage spans protocols; a coordination block."""
    price = 3000.0
    depth_usd = draw(st.floats(5e5, 5e6))
    kind = draw(st.sampled_from(["cpmm", "exponential", "linear", "orderbook"]))
    market = draw(markets(price).filter(lambda m: m is not None and m["type"] == kind))
    if kind == "cpmm":
        market.update(base_reserve=depth_usd / price, quote_reserve=depth_usd)
    assets: dict[str, Any] = {
        "USDC": {"price": 1.0},
        "ETH": {"price": price, "market": market},
        "DAI": {"issuer": "maker"},
    }
    shock = draw(st.floats(-0.3, 0.0))
    n_ent = draw(st.integers(2, 6))
    protocols: dict[str, Any] = {}
    for name in ("aave", "comp"):
        lt = draw(st.floats(0.7, 0.88))
        positions = []
        for i in range(n_ent):
            if not draw(st.booleans()):
                continue
            units = draw(st.floats(1.0, 100.0))
            hf = draw(st.floats(0.95, 1.8))
            positions.append(
                {
                    "account": f"e{i}",
                    "collateral": {"ETH": units},
                    "debt": {"USDC": units * price * lt / hf},
                }
            )
        if not positions:
            positions.append({"account": "e0", "collateral": {"ETH": 10.0}, "debt": {"USDC": 1e4}})
        protocols[name] = {
            "type": "lending",
            "reserve_usd": draw(st.sampled_from([0.0, 5e4])),
            "collateral": {
                "ETH": {
                    "ltv": lt,
                    "liquidation_threshold": lt,
                    "liquidation_bonus": draw(st.floats(0.02, 0.1)),
                }
            },
            "positions": positions,
        }
        if draw(st.booleans()):
            protocols[name]["dynamic_risk"] = {
                "sensitivity": draw(st.floats(-2.0, 2.0)),
                "reference_vol": draw(st.floats(0.0, 0.1)),
                "max_change": draw(st.floats(0.05, 0.3)),
            }
    if draw(st.booleans()):
        protocols["maker"] = {
            "type": "cdp",
            "stablecoin": "DAI",
            "reserve_usd": draw(st.sampled_from([0.0, 1e4])),
            "liquidation_ratio": draw(st.floats(1.2, 1.6)),
            "penalty": draw(st.floats(0.0, 0.13)),
            "positions": [
                {
                    "account": f"e{i}",
                    "collateral": {"ETH": draw(st.floats(1, 60))},
                    "debt": draw(st.floats(1e3, 1.2e5)),
                }
                for i in range(n_ent)
                if draw(st.booleans())
            ]
            or [{"account": "e1", "collateral": {"ETH": 5.0}, "debt": 5e3}],
        }
    else:
        del assets["DAI"]
    if draw(st.booleans()):
        perps = []
        for i in range(n_ent):
            if not draw(st.booleans()):
                continue
            size = draw(st.floats(0.5, 60.0)) * draw(st.sampled_from([1.0, -1.0]))
            entry = price * draw(st.floats(0.95, 1.05))
            perps.append(
                {
                    "account": f"e{i}",
                    "asset": "ETH",
                    "size": size,
                    "entry_price": entry,
                    "margin": abs(size) * entry * draw(st.floats(0.05, 0.4)),
                }
            )
        if perps:
            protocols["perps"] = {
                "type": "perp",
                "reserve_usd": draw(st.sampled_from([0.0, 1e5])),
                "maintenance_margin": draw(st.floats(0.02, 0.08)),
                "liquidation_fee": draw(st.floats(0.0, 0.01)),
                "positions": perps,
            }
    # always a leveraged fund: drawn only half the time, hypothesis's early (simplest)
    # examples left it out of almost every mixed scenario
    protocols["fund"] = {
        "type": "leveraged",
        "max_leverage": 5.0,
        "target_leverage": 3.0,
        "positions": [
            {
                "account": f"e{i}",
                "holdings": {"ETH": draw(st.floats(5, 60))},
                "debt_usd": draw(st.floats(2e4, 1.2e5)),
            }
            for i in range(draw(st.integers(1, 2)))
        ],
    }
    participants = [p for p, v in protocols.items() if v["type"] in ("lending", "cdp", "perp")]
    data: dict[str, Any] = {
        "name": "coordination",
        "settings": {"max_rounds": 300},
        "assets": assets,
        "protocols": protocols,
        "shocks": [{"ETH": shock}],
        "coordination": draw(coordination_block(participants)),
    }
    if draw(st.booleans()):
        data["shocks"].append({"ETH": draw(st.floats(-0.2, 0.1))})
    return data
