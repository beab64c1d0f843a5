"""Bad values of every field of issue 9 (venues, arbitrage, routes, aggregated oracles,
ASSET@VENUE shocks, coordination): `contagion run` exits 2, without a traceback, with a
message naming file:line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_error, invoke_on_file

VALID = """\
name: ok
assets:
  USDC: {price: 1.0}
  ETH:
    price: 3000
    arbitrage: {speed: 1.0, cost: 0.001}
    venues:
      uni: {type: cpmm, base_reserve: 1000, quote_reserve: 3.0e6, fee: 0.003, volume_usd: 1.0e8}
      book: {type: orderbook, bids: [[-0.01, 50], [-0.02, 100]], volume_usd: 5.0e7}
      cex: {type: exponential, depth_usd: 5.0e8, volume_usd: 1.0e9}
  WBTC:
    price: 60000
    market: {type: exponential, depth_usd: 5.0e8}
  stETH:
    peg: {to: ETH, ratio: 0.99}
protocols:
  aave:
    type: lending
    reserve_usd: 1.0e6
    oracle: {type: median, venues: [uni, cex]}
    route: {uni: 0.7, book: 0.3}
    collateral:
      ETH: {ltv: 0.80, liquidation_threshold: 0.825, liquidation_bonus: 0.05}
    positions:
      - {account: alice, collateral: {ETH: 10}, debt: {USDC: 16000}}
  vault:
    type: leveraged
    max_leverage: 5
    target_leverage: 3
    positions:
      - {account: alice, holdings: {ETH: 10}, debt_usd: 20000}
shocks:
  - {ETH: -0.30, ETH@book: -0.1, liquidity: {ETH@uni: 0.5}}
coordination:
  max_entity_leverage: 3.0
  margin_add_per_leverage: 0.05
  max_margin_add: 0.25
  protocols: [aave]
"""

UNI = "uni: {type: cpmm, base_reserve: 1000, quote_reserve: 3.0e6, fee: 0.003, volume_usd: 1.0e8}"
ROUTE = "route: {uni: 0.7, book: 0.3}"
ORACLE = "oracle: {type: median, venues: [uni, cex]}"
ARB = "arbitrage: {speed: 1.0, cost: 0.001}"
SHOCK = "{ETH: -0.30, ETH@book: -0.1, liquidity: {ETH@uni: 0.5}}"
VENUES_BLOCK = VALID[VALID.index("    venues:\n") : VALID.index("  WBTC:\n")]


def invoke(tmp_path: Path, text: str):
    return invoke_on_file(tmp_path, text, "--format", "json", command="run")


def test_valid_file_runs(tmp_path):
    result, _ = invoke(tmp_path, VALID)
    assert result.exit_code == 0, result.output


# (id, replace this, with that, fragments the message must contain: line:col and field)
CASES = [
    # --- venues ---
    (
        "empty venues",
        VENUES_BLOCK,
        "    venues: {}\n",
        [":7:", "assets.ETH.venues", "must not be empty"],
    ),
    (
        "unknown venue market type",
        "type: orderbook",
        "type: orderbok",
        [":9:", "assets.ETH.venues.book", "unknown type 'orderbok'", "did you mean 'orderbook'"],
    ),
    (
        "negative venue reserve",
        "base_reserve: 1000",
        "base_reserve: -1000",
        [":8:", "assets.ETH.venues.uni.base_reserve", "> 0"],
    ),
    (
        "NaN venue reserve",
        "quote_reserve: 3.0e6",
        "quote_reserve: .nan",
        [":8:", "assets.ETH.venues.uni.quote_reserve", "finite"],
    ),
    (
        "venue reserves not matching the price",
        "quote_reserve: 3.0e6",
        "quote_reserve: 2.0e6",
        [":8:", "assets.ETH.venues.uni.quote_reserve", "price the asset at 2000"],
    ),
    (
        "venue depth NaN",
        "depth_usd: 5.0e8, volume_usd",
        "depth_usd: .nan, volume_usd",
        [":10:", "assets.ETH.venues.cex.depth_usd", "finite"],
    ),
    (
        "venues together with market",
        "    venues:\n",
        "    market: {type: linear, lambda_per_usd: 1.0e-6}\n    venues:\n",
        [":8:", "assets.ETH.venues", "'venues' cannot be combined with 'market'"],
    ),
    (
        "venues on a pegged asset",
        "    peg: {to: ETH, ratio: 0.99}",
        "    peg: {to: ETH, ratio: 0.99}\n    venues: {a: {type: linear, lambda_per_usd: 1.0}}",
        [":16:", "assets.stETH.venues", "cannot be combined with 'peg'"],
    ),
    (
        "venues on an issued token",
        "    peg: {to: ETH, ratio: 0.99}",
        "    issuer: aave\n    venues: {a: {type: linear, lambda_per_usd: 1.0}}",
        [":16:", "assets.stETH.venues", "cannot be combined with 'issuer'"],
    ),
    (
        "too many venues",
        VENUES_BLOCK,
        "    venues:\n"
        + "".join(f"      v{k}: {{type: linear, lambda_per_usd: 1.0e-6}}\n" for k in range(17)),
        [":7:", "assets.ETH.venues", "too many entries (17); at most 16"],
    ),
    (
        "negative volume",
        "volume_usd: 5.0e7",
        "volume_usd: -5.0e7",
        [":9:", "assets.ETH.venues.book.volume_usd", "> 0"],
    ),
    (
        "volume on some venues only",
        ", volume_usd: 5.0e7}",
        "}",
        [":9:", "assets.ETH.venues.book", "volume_usd"],
    ),
    # --- arbitrage ---
    ("arbitrage speed 0", ARB, "arbitrage: {speed: 0, cost: 0.001}", [":6:", "speed", "> 0"]),
    (
        "arbitrage speed above 1",
        ARB,
        "arbitrage: {speed: 1.5, cost: 0.001}",
        [":6:", "assets.ETH.arbitrage.speed", "<= 1"],
    ),
    (
        "negative arbitrage cost",
        ARB,
        "arbitrage: {speed: 1.0, cost: -0.01}",
        [":6:", "assets.ETH.arbitrage.cost", ">= 0"],
    ),
    (
        "NaN arbitrage cost",
        ARB,
        "arbitrage: {speed: 1.0, cost: .nan}",
        [":6:", "assets.ETH.arbitrage.cost", "finite"],
    ),
    (
        "arbitrage with one venue",
        "    market: {type: exponential, depth_usd: 5.0e8}",
        "    market: {type: exponential, depth_usd: 5.0e8}\n    arbitrage: {speed: 0.5}",
        [":14:", "assets.WBTC.arbitrage", "at least two"],
    ),
    (
        "unknown arbitrage key",
        ARB,
        "arbitrage: {sped: 1.0, cost: 0.001}",
        [":6:", "unknown key 'sped'", "did you mean 'speed'"],
    ),
    # --- route ---
    (
        "route to an unknown venue",
        ROUTE,
        "route: {unii: 0.7, book: 0.3}",
        [":21:", "protocols.aave.route", "unknown venue 'unii'", "did you mean 'uni'"],
    ),
    (
        "route fractions not summing to 1",
        ROUTE,
        "route: {uni: 0.7, book: 0.2}",
        [":21:", "protocols.aave.route", "sum to 1"],
    ),
    (
        "negative route fraction",
        ROUTE,
        "route: {uni: 1.3, book: -0.3}",
        [":21:", "protocols.aave.route.book", "> 0"],
    ),
    ("empty route", ROUTE, "route: {}", [":21:", "protocols.aave.route", "must not be empty"]),
    (
        "route across two assets' venues",
        ROUTE,
        "route: {uni: 0.5, market: 0.5}",
        [":21:", "protocols.aave.route", "no asset trades on all of these venues"],
    ),
    # --- oracles ---
    (
        "median over an unknown venue",
        ORACLE,
        "oracle: {type: median, venues: [uni, cexx]}",
        [":20:", "protocols.aave.oracle.venues", "unknown venue 'cexx'", "did you mean 'cex'"],
    ),
    (
        "vwap over an unknown venue",
        ORACLE,
        "oracle: {type: vwap, venues: [bok]}",
        [":20:", "unknown venue 'bok'", "did you mean 'book'"],
    ),
    (
        "venues on a lagged oracle",
        ORACLE,
        "oracle: {type: lagged, rounds: 2, venues: [uni]}",
        [":20:", "protocols.aave.oracle", "a lagged oracle reads no venues"],
    ),
    (
        "spot with two venues",
        ORACLE,
        "oracle: {type: spot, venues: [uni, cex]}",
        [":20:", "protocols.aave.oracle", "a spot oracle reads one venue"],
    ),
    (
        "median with rounds",
        ORACLE,
        "oracle: {type: median, rounds: 3}",
        [":20:", "a median oracle takes no 'rounds'"],
    ),
    (
        "oracle venue listed twice",
        ORACLE,
        "oracle: {type: median, venues: [uni, uni]}",
        [":20:", "listed twice"],
    ),
    # --- ASSET@VENUE shocks ---
    (
        "shock on an unknown venue",
        SHOCK,
        "{ETH: -0.30, ETH@bok: -0.1, liquidity: {ETH@uni: 0.5}}",
        [":33:", "ETH@bok", "has no venue 'bok'", "did you mean 'book'"],
    ),
    (
        "shock on a venue of an unknown asset",
        SHOCK,
        "{ETH: -0.30, ETHH@book: -0.1, liquidity: {ETH@uni: 0.5}}",
        [":33:", "ETHH@book", "unknown asset 'ETHH'", "did you mean 'ETH'"],
    ),
    (
        "liquidity of an unknown venue",
        SHOCK,
        "{ETH: -0.30, ETH@book: -0.1, liquidity: {ETH@unii: 0.5}}",
        [":33:", "liquidity.ETH@unii", "has no venue 'unii'", "did you mean 'uni'"],
    ),
    (
        "venue shock of -100%",
        SHOCK,
        "{ETH: -0.30, ETH@book: -1.0, liquidity: {ETH@uni: 0.5}}",
        [":33:", "ETH@book", "> -1"],
    ),
    (
        "venue shock on an asset without venues",
        SHOCK,
        "{ETH: -0.30, WBTC@market: -0.1}",
        [":33:", "WBTC@market", "has no 'venues'"],
    ),
    (
        "malformed venue key",
        SHOCK,
        "{ETH: -0.30, ETH@: -0.1}",
        [":33:", "ETH@"],
    ),
    # --- coordination ---
    (
        "max_entity_leverage below 1",
        "max_entity_leverage: 3.0",
        "max_entity_leverage: 0.5",
        [":35:", "coordination.max_entity_leverage", ">= 1"],
    ),
    (
        "absurd max_entity_leverage",
        "max_entity_leverage: 3.0",
        "max_entity_leverage: 1.0e9",
        [":35:", "coordination.max_entity_leverage", "<= 1000"],
    ),
    (
        "NaN margin_add_per_leverage",
        "margin_add_per_leverage: 0.05",
        "margin_add_per_leverage: .nan",
        [":36:", "coordination.margin_add_per_leverage", "finite"],
    ),
    (
        "margin_add_per_leverage above 1",
        "margin_add_per_leverage: 0.05",
        "margin_add_per_leverage: 1.5",
        [":36:", "coordination.margin_add_per_leverage", "<= 1"],
    ),
    (
        "max_margin_add 0",
        "max_margin_add: 0.25",
        "max_margin_add: 0",
        [":37:", "coordination.max_margin_add", "> 0"],
    ),
    (
        "unknown participant",
        "protocols: [aave]",
        "protocols: [aav]",
        [":38:", "coordination.protocols", "unknown protocol 'aav'", "did you mean 'aave'"],
    ),
    (
        "a leveraged vault as participant",
        "protocols: [aave]",
        "protocols: [aave, vault]",
        [":38:", "coordination.protocols", "leveraged"],
    ),
    (
        "empty participants",
        "protocols: [aave]",
        "protocols: []",
        [":38:", "coordination.protocols", "must not be empty"],
    ),
    (
        "absurd participant list",
        "protocols: [aave]",
        "protocols: [" + ", ".join(["aave"] * 1001) + "]",
        [":38:", "coordination.protocols", "too many entries (1,001); at most 1,000"],
    ),
    (
        "unknown coordination key",
        "max_margin_add: 0.25",
        "max_margin: 0.25",
        [":37:", "unknown key 'max_margin'", "did you mean 'max_margin_add'"],
    ),
    (
        "coordination: text for a number",
        "max_entity_leverage: 3.0",
        'max_entity_leverage: "3"',
        [":35:", "coordination.max_entity_leverage", "expected a number"],
    ),
    (
        "coordination: a list for the block",
        "coordination:\n  max_entity_leverage: 3.0\n  margin_add_per_leverage: 0.05\n"
        "  max_margin_add: 0.25\n  protocols: [aave]\n",
        "coordination: [1, 2]\n",
        [":34:", "coordination", "expected a mapping"],
    ),
    (
        "coordination: enabled not a boolean",
        "max_margin_add: 0.25",
        "max_margin_add: 0.25\n  enabled: 2",
        [":38:", "coordination.enabled"],
    ),
    (
        "coordination: missing max_entity_leverage",
        "  max_entity_leverage: 3.0\n",
        "",
        [":34:", "coordination", "missing required key 'max_entity_leverage'"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_value(tmp_path, case):
    _, old, new, fragments = case
    assert old in VALID, old
    text = VALID.replace(old, new, 1)
    result, path = invoke(tmp_path, text)
    assert_error(result, path, *fragments)
