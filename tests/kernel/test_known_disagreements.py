"""Kernel/reference disagreements found by random examples and not fixed yet, kept as strict
expected failures: each is a reproducer, and the test fails (so the mark must go) the day the
two agree. Both predate the changes that found them (present at 5be4b30)."""

from __future__ import annotations

import pytest
from agreement import assert_agree

#: A three-round TWAP oracle (p2) keeps moving after the last liquidation: the kernel counts 8
#: rounds in all, the reference 10. Every liquidation, amount and price agrees; only the quiet
#: rounds before the oracles count as settled differ.
TWAP_QUIET_ROUNDS = {
    "name": "cascade",
    "settings": {"max_rounds": 500, "min_price_fraction": 1e-06},
    "assets": {
        "USDC": {"price": 1.0},
        "ETH": {"price": 3000.0, "market": {"type": "exponential", "alpha": 0.1}},
    },
    "protocols": {
        "p0": {
            "type": "lending",
            "reserve_usd": 0.0,
            "close_factor": 0.5,
            "collateral": {
                "ETH": {"ltv": 0.75, "liquidation_threshold": 0.75, "liquidation_bonus": 0.0}
            },
            "positions": [
                {"account": "a0", "collateral": {"ETH": 1.0}, "debt": {"USDC": 1898.4375}},
                {"account": "a1", "collateral": {"ETH": 1.0}, "debt": {"USDC": 1898.4375}},
                {"account": "a2", "collateral": {"ETH": 1.0}, "debt": {"USDC": 1898.4375}},
                {"account": "a3", "collateral": {"ETH": 1.0}, "debt": {"USDC": 1898.4375}},
            ],
            "liquidators": {"mode": "rational"},
            "oracle": {"type": "spot"},
        },
        "p1": {
            "type": "lending",
            "reserve_usd": 0.0,
            "close_factor": 0.5,
            "collateral": {
                "ETH": {
                    "ltv": 0.8505788874609894,
                    "liquidation_threshold": 0.8505788874609894,
                    "liquidation_bonus": 0.07254977854987621,
                }
            },
            "positions": [
                {"account": "a0", "collateral": {"ETH": 85.5}, "debt": {"USDC": 190022.0672616478}},
                {"account": "a1", "collateral": {"ETH": 1.0}, "debt": {"USDC": 2072.086913814741}},
                {"account": "a2", "collateral": {"ETH": 4.0}, "debt": {"USDC": 8612.111235542518}},
                {"account": "a3", "collateral": {"ETH": 1.0}, "debt": {"USDC": 2296.562996144671}},
                {"account": "a4", "collateral": {"ETH": 1.0}, "debt": {"USDC": 1435.3518725904196}},
            ],
            "liquidators": {"mode": "rational"},
            "oracle": {"type": "spot"},
        },
        "p2": {
            "type": "lending",
            "reserve_usd": 0.0,
            "close_factor": 0.5,
            "collateral": {
                "ETH": {"ltv": 0.75, "liquidation_threshold": 0.75, "liquidation_bonus": 0.0}
            },
            "positions": [
                {"account": "a0", "collateral": {"ETH": 1.0}, "debt": {"USDC": 1898.4375}}
            ],
            "liquidators": {"mode": "rational"},
            "oracle": {"type": "twap", "rounds": 3},
        },
    },
    "shocks": [{"ETH": -0.15625}],
}

#: The option vault's hedge buys ETH up to its price cap (3e9, 1 / min_price_fraction x 3000).
#: The liquidators of "second" sell every aETH they seized; the kernel leaves them -1.8e-15
#: aETH, the reference 0, and at 3e9 that dust is 5.3e-6 USD of their profit: 1.8e-9 relative,
#: over the 1e-9 of the agreement. A rounding rule for held units is the likely fix.
HELD_DUST_AT_THE_CAP = {
    "name": "mixed",
    "settings": {"max_rounds": 300},
    "assets": {
        "USDC": {"price": 1.0},
        "ETH": {
            "price": 3000.0,
            "market": {
                "type": "cpmm",
                "base_reserve": 100.0,
                "quote_reserve": 300000.0,
                "fee": 0.0,
            },
        },
        "DAI": {"issuer": "maker"},
        "aETH": {"issuer": "lend", "backing": "ETH"},
    },
    "protocols": {
        "lend": {
            "type": "lending",
            "reserve_usd": 0.0,
            "collateral": {
                "ETH": {"ltv": 0.75, "liquidation_threshold": 0.75, "liquidation_bonus": 0.0625}
            },
            "positions": [{"account": "u0", "collateral": {"ETH": 1.0}, "debt": {"USDC": 2250.0}}],
        },
        "second": {
            "type": "lending",
            "collateral": {
                "aETH": {"ltv": 0.7, "liquidation_threshold": 0.75, "liquidation_bonus": 0.05}
            },
            "positions": [
                {"account": "u0", "collateral": {"aETH": 4.75}, "debt": {"USDC": 13408.0}},
                {"account": "u1", "collateral": {"aETH": 1.0}, "debt": {"USDC": 1000.0}},
                {"account": "u2", "collateral": {"aETH": 17.0}, "debt": {"USDC": 45715.0}},
            ],
        },
        "maker": {
            "type": "cdp",
            "stablecoin": "DAI",
            "reserve_usd": 0.0,
            "liquidation_ratio": 1.5,
            "penalty": 0.0,
            "auction": {"max_slippage": 1.0, "zero_bid_discount": 1.0},
            "positions": [
                {"account": "v0", "collateral": {"ETH": 1.0}, "debt": 1000.0},
                {"account": "v1", "collateral": {"ETH": 1.0}, "debt": 1000.0},
                {"account": "v2", "collateral": {"ETH": 1.0}, "debt": 1000.0},
                {"account": "v3", "collateral": {"ETH": 1.0}, "debt": 1000.0},
                {"account": "v4", "collateral": {"ETH": 1.0}, "debt": 1000.0},
            ],
        },
        "perps": {
            "type": "perp",
            "reserve_usd": 0.0,
            "maintenance_margin": 0.0625,
            "liquidation_fee": 0.0,
            "positions": [
                {
                    "account": "t0",
                    "asset": "ETH",
                    "size": -19.0,
                    "entry_price": 2812.5,
                    "margin": 6679.6875,
                },
                {
                    "account": "t1",
                    "asset": "ETH",
                    "size": 1.0,
                    "entry_price": 3000.0,
                    "margin": 750.0,
                },
            ],
        },
        "fund": {
            "type": "leveraged",
            "max_leverage": 3.0,
            "target_leverage": 2.0,
            "positions": [{"account": "f0", "holdings": {"ETH": 5.0}, "debt_usd": 5000.0}],
        },
        "vault": {
            "type": "options",
            "reserve_usd": 10000.0,
            "rebalance_band": 0.125,
            "positions": [
                {
                    "asset": "ETH",
                    "kind": "put",
                    "strike": 3000.0,
                    "expiry_days": 1.0,
                    "units": 41.0,
                    "vol": 1.0,
                },
                {
                    "asset": "ETH",
                    "kind": "put",
                    "strike": 3750.0,
                    "expiry_days": 1.0,
                    "units": 61.0,
                    "vol": 1.0,
                },
            ],
        },
    },
    "shocks": [{"ETH": 0.0}],
}


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="quiet rounds of a TWAP oracle: 8 in the kernel, 10 in the reference",
)
def test_twap_quiet_rounds():
    assert_agree(TWAP_QUIET_ROUNDS)


@pytest.mark.xfail(
    strict=True, raises=AssertionError, reason="-1.8e-15 held units valued at a capped price of 3e9"
)
def test_held_dust_at_the_price_cap():
    assert_agree(HELD_DUST_AT_THE_CAP, mixed=True)
