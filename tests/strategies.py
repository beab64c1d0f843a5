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
        hf = draw(st.floats(0.85, 2.5))
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
    for _ in range(draw(st.integers(1, 3))):
        step: dict[str, Any] = {a: draw(st.floats(-0.5, 0.1)) for a in risky if draw(st.booleans())}
        with_market = [a for a in risky if "market" in assets[a]]
        if with_market and draw(st.booleans()):
            step["liquidity"] = {with_market[0]: draw(st.floats(0.3, 1.5))}
        shocks.append(step)
    return {
        "name": "generated",
        "settings": {"max_rounds": 200, "recovery": draw(st.sampled_from([0.0, 0.0, 0.5]))},
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
        }
    return {
        "name": "cascade",
        "settings": {"max_rounds": 500},
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
    if draw(st.booleans()):
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
    shocks = [{"ETH": shock}]
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


@st.composite
def lever_scenarios(draw: st.DrawFn) -> dict[str, Any]:
    """Lending protocols with every lever of issue 4: oracles, circuit breakers, liquidators
    with profit and capital limits, dynamic risk; a pegged LST with its own ratio pool used as
    collateral; a leveraged vault that borrows from a lending protocol of the scenario."""
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
    protocols: dict[str, Any] = {}
    for name in ["lend", "lend2"][: draw(st.integers(1, 2))]:
        lt = draw(st.floats(0.7, 0.88))
        positions = []
        for i in range(draw(st.integers(1, 6))):
            col = draw(st.sampled_from(["ETH", "LST"]))
            units = draw(st.floats(1.0, 120.0))
            hf = draw(st.floats(0.92, 1.5))
            positions.append(
                {
                    "account": f"{name}-u{i}",
                    "collateral": {col: units},
                    "debt": {"USDC": units * price * lt / hf},
                }
            )
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
            "oracle": draw(oracle_settings()),
        }
        if draw(st.booleans()):
            proto["liquidators"] = {
                "min_profit_usd": draw(st.sampled_from([0.0, 100.0, 5000.0])),
                **(
                    {"capital_usd_per_round": draw(st.floats(1e3, 1e5))}
                    if draw(st.booleans())
                    else {}
                ),
            }
        if draw(st.booleans()):
            proto["circuit_breaker"] = {"drop": draw(st.floats(0.05, 0.3))}
        if draw(st.booleans()):
            proto["dynamic_risk"] = {
                "sensitivity": draw(st.floats(-2.0, 2.0)),
                "reference_vol": draw(st.floats(0.0, 0.1)),
                "max_change": draw(st.floats(0.05, 0.3)),
            }
        protocols[name] = proto
    if draw(st.booleans()):
        protocols["vault"] = {
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
    if draw(st.booleans()):  # the issued token of `lend` held as collateral elsewhere
        protocols["holder"] = {
            "type": "lending",
            "collateral": {
                "aUSD": {"ltv": 0.8, "liquidation_threshold": 0.85, "liquidation_bonus": 0.05}
            },
            "positions": [
                {
                    "account": "h0",
                    "collateral": {"aUSD": draw(st.floats(1e4, 1e5))},
                    "debt": {"USDC": draw(st.floats(5e3, 8e4))},
                }
            ],
        }
    shocks = []
    for _ in range(draw(st.integers(1, 3))):
        step: dict[str, Any] = {"ETH": draw(st.floats(-0.3, 0.05))}
        if draw(st.booleans()):
            step["LST"] = draw(st.floats(-0.1, 0.0))
        shocks.append(step)
    return {
        "name": "levers",
        "settings": {"max_rounds": 300, "recovery": draw(st.sampled_from([0.0, 0.3]))},
        "assets": assets,
        "protocols": protocols,
        "shocks": shocks,
    }
