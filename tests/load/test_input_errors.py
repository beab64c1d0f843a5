"""Every bad input of issue 2 item 3 gets a message naming file, line and field; exit 2."""

from __future__ import annotations

import pytest
from helpers import assert_error, invoke_on_file
from typer.testing import CliRunner

from contagion_cli.cli.app import app

runner = CliRunner()

VALID = """\
name: ok
assets:
  USDC: {price: 1.0}
  ETH:
    price: 3000
    market: {type: cpmm, base_reserve: 1000, quote_reserve: 3.0e6, fee: 0.003}
  WBTC:
    price: 60000
    market: {type: exponential, depth_usd: 5.0e8}
protocols:
  aave:
    type: lending
    reserve_usd: 1.0e6
    close_factor: 0.5
    collateral:
      ETH: {ltv: 0.80, liquidation_threshold: 0.825, liquidation_bonus: 0.05}
    positions:
      - {account: alice, collateral: {ETH: 10}, debt: {USDC: 16000}}
shocks:
  - {ETH: -0.30}
"""


invoke = invoke_on_file


def test_valid_file_passes(tmp_path):
    result, _ = invoke(tmp_path, VALID)
    assert result.exit_code == 0, result.output
    assert "ok:" in result.output


# (id, replace this, with that, fragments the message must contain: line:col and field)
CASES = [
    (
        "negative price",
        "price: 3000",
        "price: -3000",
        [":5:5:", "assets.ETH.price", "> 0", "-3000"],
    ),
    ("zero price", "price: 3000", "price: 0", [":5:5:", "assets.ETH.price", "> 0"]),
    ("nan price", "price: 3000", "price: .nan", [":5:5:", "finite", "NaN"]),
    ("infinite price", "price: 3000", "price: .inf", [":5:5:", "finite"]),
    ("absurd price", "price: 3000", "price: 1.0e30", [":5:5:", "<= 1e+12"]),
    ("negative amount", "{ETH: 10}", "{ETH: -10}", [":18:", "positions[0].collateral.ETH", "> 0"]),
    ("zero amount", "{ETH: 10}", "{ETH: 0}", [":18:", "positions[0].collateral.ETH"]),
    ("nan amount", "{USDC: 16000}", "{USDC: .nan}", [":18:", "positions[0].debt.USDC", "finite"]),
    ("infinite amount", "{USDC: 16000}", "{USDC: .inf}", [":18:", "finite"]),
    ("absurd amount", "{USDC: 16000}", "{USDC: 1.0e40}", [":18:", "<= 1e+18"]),
    (
        "negative reserve",
        "reserve_usd: 1.0e6",
        "reserve_usd: -5",
        [":13:5:", "protocols.aave.reserve_usd", ">= 0"],
    ),
    ("missing key", "    type: lending\n", "", ["protocols.aave", "missing required key 'type'"]),
    (
        "missing collateral",
        "      - {account: alice, collateral: {ETH: 10}, debt: {USDC: 16000}}",
        "      - {account: alice, debt: {USDC: 16000}}",
        [":18:", "missing required key 'collateral'"],
    ),
    (
        "unknown key",
        "close_factor: 0.5",
        "close_factr: 0.5",
        [":14:5:", "unknown key 'close_factr'", "did you mean 'close_factor'"],
    ),
    (
        "unknown top-level key",
        "name: ok",
        "name: ok\nshock: []",
        [":2:1:", "unknown key 'shock'", "did you mean 'shocks'"],
    ),
    (
        "wrong type: text for number",
        "price: 3000",
        'price: "3000"',
        [":5:5:", "expected a number", "the text '3000'"],
    ),
    (
        "wrong type: bool",
        "close_factor: 0.5",
        "close_factor: yes",
        [":14:5:", "expected a number", "boolean"],
    ),
    (
        "wrong type: list for mapping",
        "    collateral:\n      ETH: {ltv",
        "    collateral: [1]\n    collateral_x:\n      ETH: {ltv",
        [":15:5:", "expected a mapping"],
    ),
    (
        "wrong type: max_rounds",
        "name: ok",
        "name: ok\nsettings: {max_rounds: 2.5}",
        [":2:12:", "settings.max_rounds", "whole number"],
    ),
    (
        "absurd max_rounds",
        "name: ok",
        "name: ok\nsettings: {max_rounds: 100000000}",
        ["settings.max_rounds", "<= 100000"],
    ),
    (
        "unknown asset in a position",
        "collateral: {ETH: 10}, debt: {USDC: 16000}",
        "collateral: {ETH: 10}, debt: {USDT: 16000}",
        [":18:", "positions[0].debt.USDT", "unknown asset 'USDT'", "USDC"],
    ),
    (
        "position collateral not configured",
        "{account: alice, collateral: {ETH: 10}",
        "{account: alice, collateral: {WBTC: 10}",
        [":18:", "not a collateral asset"],
    ),
    (
        "unknown asset in collateral config",
        "      ETH: {ltv: 0.80",
        "      ETH: {ltv: 0.80, liquidation_threshold: 0.825, liquidation_bonus: 0.05}\n"
        "      ETHX: {ltv: 0.80",
        [":17:7:", "collateral.ETHX", "unknown asset 'ETHX'", "did you mean 'ETH'"],
    ),
    (
        "unknown asset in a shock",
        "{ETH: -0.30}",
        "{ETHH: -0.30}",
        [":20:", "shocks[0].ETHH", "unknown asset", "did you mean 'ETH'"],
    ),
    (
        "LT below LTV",
        "ltv: 0.80, liquidation_threshold: 0.825",
        "ltv: 0.90, liquidation_threshold: 0.825",
        [":16:", "liquidation_threshold 0.825 is below ltv 0.9"],
    ),
    ("close factor above 1", "close_factor: 0.5", "close_factor: 1.5", [":14:5:", "<= 1"]),
    ("close factor zero", "close_factor: 0.5", "close_factor: 0", [":14:5:", "> 0"]),
    ("shock of -100%", "{ETH: -0.30}", "{ETH: -1.0}", [":20:", "shocks[0].ETH", "> -1"]),
    ("shock below -100%", "{ETH: -0.30}", "{ETH: -1.5}", [":20:", "> -1"]),
    (
        "empty shock path",
        "shocks:\n  - {ETH: -0.30}",
        "shocks: []",
        [":19:1:", "shocks", "must not be empty"],
    ),
    (
        "missing shock path",
        "shocks:\n  - {ETH: -0.30}\n",
        "",
        [":1:1:", "missing required key 'shocks'"],
    ),
    (
        "only a name",
        None,
        "name: only\n",
        [":1:1:", "missing required key 'assets'", "missing required key 'protocols'"],
    ),
    (
        "market without type",
        "market: {type: cpmm, base_reserve: 1000",
        "market: {base_reserve: 1000",
        [":6:5:", "missing required key 'type'", "'cpmm', 'linear', 'exponential', 'orderbook'"],
    ),
    ("empty name", "name: ok", "name: ''", [":1:1:", "name", "expected a non-empty text"]),
    (
        "reserves inconsistent with price",
        "quote_reserve: 3.0e6",
        "quote_reserve: 2.0e6",
        [
            ":6:",
            "assets.ETH.market.quote_reserve",
            "price the asset at 2000",
            "set quote_reserve: 3e+06",
        ],
    ),
    (
        "duplicate asset name",
        "  WBTC:\n    price: 60000",
        "  ETH:\n    price: 60000",
        [":7:3:", "duplicate key 'ETH'", "first defined at line 4"],
    ),
    (
        "duplicate protocol name",
        "protocols:\n  aave:",
        "protocols:\n  aave: {}\n  aave:",
        [":12:3:", "duplicate key 'aave'"],
    ),
    (
        "duplicate account",
        "debt: {USDC: 16000}}",
        "debt: {USDC: 16000}}\n      - {account: alice, collateral: {ETH: 1}}",
        [":19:", "account 'alice' appears twice"],
    ),
    (
        "invalid name",
        "  WBTC:\n    price: 60000",
        "  W.BTC:\n    price: 60000",
        [":7:3:", "invalid name 'W.BTC'"],
    ),
    (
        "unknown market type",
        "type: exponential",
        "type: exponentail",
        [":9:", "unknown type 'exponentail'", "did you mean 'exponential'"],
    ),
    (
        "exponential without depth",
        "{type: exponential, depth_usd: 5.0e8}",
        "{type: exponential}",
        [":9:", "give exactly one of 'alpha' and 'depth_usd'"],
    ),
    (
        "liquidity on an asset without market",
        "{ETH: -0.30}",
        "{ETH: -0.30, liquidity: {USDC: 0.5}}",
        [":20:", "has no market"],
    ),
    (
        "negative liquidity",
        "{ETH: -0.30}",
        "{ETH: -0.30, liquidity: {ETH: -0.5}}",
        [":20:", "liquidity.ETH", "> 0"],
    ),
    (
        "orderbook out of order",
        "{type: exponential, depth_usd: 5.0e8}",
        "{type: orderbook, bids: [[-0.02, 10], [-0.01, 10]]}",
        ["bids[1]", "ordered best first"],
    ),
    (
        "orderbook positive bid",
        "{type: exponential, depth_usd: 5.0e8}",
        "{type: orderbook, bids: [[0.02, 10]]}",
        ["bids[0]", "in (-1, 0]"],
    ),
    ("fee of 100%", "fee: 0.003", "fee: 1.0", [":6:", "market.fee", "< 1"]),
    ("bonus of 100%", "liquidation_bonus: 0.05", "liquidation_bonus: 1.0", [":16:", "< 1"]),
    (
        "empty assets",
        None,
        "name: x\nassets: {}\nprotocols: {}\nshocks: [{}]\n",
        [":2:", "assets: must not be empty"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_value(tmp_path, case):
    _, old, new, fragments = case
    if old is None:
        text = new
    else:
        assert old in VALID, old
        text = VALID.replace(old, new, 1)
    result, path = invoke(tmp_path, text)
    assert_error(result, path, *fragments)


def test_set_accepts_the_bracket_paths_errors_print(tmp_path):
    """Messages print `positions[0]`; --set takes that form as well as `positions.0`."""
    for path in ("protocols.aave.positions[0].debt.USDC", "protocols.aave.positions.0.debt.USDC"):
        result, _ = invoke(tmp_path, VALID, "--set", f"{path}=-5", command="run")
        assert_error(result, f"--set {path}=-5", "positions[0].debt.USDC")


def test_a_key_invented_by_set_is_blamed_on_the_option(tmp_path):
    result, _ = invoke(tmp_path, VALID, "--set", "protocols.aave.positionz.x=1", command="run")
    assert_error(result, "--set protocols.aave.positionz.x=1", "unknown key 'positionz'")
    assert "scenario.yaml:" not in result.output


def test_a_mapping_given_by_set_is_blamed_on_the_option(tmp_path):
    """The file's lines under the replaced key no longer describe the value."""
    text = VALID.replace(
        "    close_factor: 0.5\n", "    close_factor: 0.5\n    oracle: {type: spot}\n"
    )
    result, _ = invoke(
        tmp_path, text, "--set", "protocols.aave.oracle={type: lagged, steps: -1}", command="run"
    )
    assert_error(result, "--set protocols.aave.oracle=", "oracle.steps", ">= 1")
    assert "scenario.yaml:" not in result.output


def test_run_refuses_an_unwritable_graph_before_running(tmp_path):
    missing = tmp_path / "no-such-folder" / "g.dot"
    result, _ = invoke(tmp_path, VALID, "--graph", str(missing), command="run")
    assert_error(result, "--graph", "does not exist")
    assert "Converged" not in result.output  # no report printed before the refusal


def test_run_reports_the_same_errors(tmp_path):
    result, path = invoke(tmp_path, VALID.replace("price: 3000", "price: -1"), command="run")
    assert_error(result, f"{path}:5:5:", "assets.ETH.price")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty"),
        (b"# only a comment\n", "the file is empty"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", "binary file"),
        (b"\xff\xfe\x00a", "binary file"),
        (b"\xc3\x28 invalid utf8", "not UTF-8"),
        (b"- 1\n- 2\n", "expected a mapping at the top level, found a list"),
        (b"just text\n", "expected a mapping at the top level, found a single value"),
        (b"a: [1, 2\n", "not valid YAML"),
        (b"a: b: c\n", "not valid YAML"),
        (b"a: !!python/object:os.system ls\n", "cannot read value"),
        (b"a: &a [*a]\n", "recursive alias"),
    ],
    ids=[
        "empty",
        "comment-only",
        "binary",
        "utf16",
        "bad-utf8",
        "list",
        "scalar",
        "unclosed",
        "bad-mapping",
        "python-tag",
        "recursive-alias",
    ],
)
def test_bad_files(tmp_path, content, fragment):
    result, path = invoke(tmp_path, content)
    assert_error(result, path, fragment)


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
        prev = name
    result, path = invoke(tmp_path, "\n".join(lines) + "\n")
    assert_error(result, path, "alias bomb")


def test_deep_nesting_is_refused(tmp_path):
    result, path = invoke(tmp_path, "a: " + "[" * 100 + "]" * 100 + "\n")
    assert_error(result, path, "nested more than")


def test_missing_file(tmp_path):
    result = runner.invoke(app, ["validate", str(tmp_path / "nope.yaml")])
    assert_error(result, "nope.yaml", "file not found")


def test_directory(tmp_path):
    result = runner.invoke(app, ["run", str(tmp_path)])
    assert_error(result, "not a regular file: it is a folder")


def test_many_problems_reported_at_once(tmp_path):
    text = VALID.replace("price: 3000", "price: -1").replace("close_factor: 0.5", "close_factor: 7")
    result, _ = invoke(tmp_path, text)
    assert_error(result, "assets.ETH.price", "protocols.aave.close_factor")


def test_yaml_merge_keys_and_exponent_floats_work(tmp_path):
    text = VALID.replace(
        "    collateral:\n      ETH: {ltv: 0.80, liquidation_threshold: 0.825, "
        "liquidation_bonus: 0.05}",
        "    collateral:\n      ETH: &eth {ltv: 0.80, liquidation_threshold: 0.825, "
        "liquidation_bonus: 0.05}\n      WBTC: {<<: *eth, ltv: 0.7}",
    ).replace("quote_reserve: 3.0e6", "quote_reserve: 3e6")
    result, _ = invoke(tmp_path, text)
    assert result.exit_code == 0, result.output


# --- fields of the other protocol types and of issued tokens (issue 3) -------------------------
VALID_TYPES = """\
name: types
assets:
  USDC: {price: 1.0}
  ETH: {price: 3000, market: {type: cpmm, base_reserve: 1000, quote_reserve: 3.0e6}}
  DAI: {issuer: maker}
protocols:
  maker:
    type: cdp
    stablecoin: DAI
    liquidation_ratio: 1.5
    penalty: 0.13
    auction: {max_slippage: 0.2, zero_bid_discount: 1.0}
    positions:
      - {account: v, collateral: {ETH: 10}, debt: 10000}
  perps:
    type: perp
    maintenance_margin: 0.05
    liquidation_fee: 0.01
    positions:
      - {account: t, asset: ETH, size: -2, entry_price: 3000, margin: 1000}
  fund:
    type: leveraged
    max_leverage: 4
    target_leverage: 2
    positions:
      - {account: f, holdings: {ETH: 10}, debt_usd: 15000}
  vault:
    type: options
    reserve_usd: 1.0e6
    rebalance_band: 0.02
    positions:
      - {asset: ETH, kind: put, strike: 2500, expiry_days: 30, units: 100, vol: 0.8}
shocks:
  - {ETH: -0.2}
"""

TYPE_CASES = [
    (
        "cdp: unknown protocol type",
        "type: cdp",
        "type: cpd",
        [":8:5:", "unknown type 'cpd'", "did you mean 'cdp'"],
    ),
    (
        "cdp: missing type",
        "    type: cdp\n",
        "",
        [":7:3:", "missing required key 'type'", "'lending'"],
    ),
    (
        "cdp: unknown stablecoin",
        "stablecoin: DAI",
        "stablecoin: DIA",
        [":9:5:", "protocols.maker.stablecoin", "unknown asset 'DIA'", "did you mean 'DAI'"],
    ),
    ("cdp: ratio below 1", "liquidation_ratio: 1.5", "liquidation_ratio: 0.9", [":10:5:", ">= 1"]),
    ("cdp: negative penalty", "penalty: 0.13", "penalty: -0.1", [":11:5:", ">= 0"]),
    ("cdp: NaN penalty", "penalty: 0.13", "penalty: .nan", [":11:5:", "finite"]),
    (
        "cdp: slippage above 1",
        "max_slippage: 0.2",
        "max_slippage: 1.5",
        [":12:", "auction.max_slippage", "<= 1"],
    ),
    (
        "cdp: discount negative",
        "zero_bid_discount: 1.0",
        "zero_bid_discount: -1",
        [":12:", "zero_bid_discount", ">= 0"],
    ),
    (
        "cdp: unknown auction key",
        "zero_bid_discount: 1.0",
        "zero_bid: 1.0",
        [":12:", "unknown key 'zero_bid'", "did you mean 'zero_bid_discount'"],
    ),
    ("cdp: negative debt", "debt: 10000", "debt: -5", [":14:", "positions[0].debt", ">= 0"]),
    ("cdp: text debt", "debt: 10000", "debt: lots", [":14:", "expected a number"]),
    (
        "cdp: stablecoin as collateral",
        "collateral: {ETH: 10}, debt: 10000",
        "collateral: {DAI: 10}, debt: 10000",
        [":14:", "cannot be its own collateral"],
    ),
    ("perp: zero size", "size: -2", "size: 0", [":20:", "positions[0].size", "must not be 0"]),
    ("perp: absurd size", "size: -2", "size: -1.0e30", [":20:", ">= -1e+18"]),
    ("perp: negative entry", "entry_price: 3000", "entry_price: -3000", [":20:", "> 0"]),
    ("perp: NaN margin", "margin: 1000", "margin: .nan", [":20:", "finite"]),
    (
        "perp: unknown asset",
        "asset: ETH, size",
        "asset: ETC, size",
        [":20:", "positions[0].asset", "unknown asset 'ETC'"],
    ),
    (
        "perp: maintenance 100%",
        "maintenance_margin: 0.05",
        "maintenance_margin: 1.0",
        [":17:5:", "< 1"],
    ),
    ("perp: fee 60%", "liquidation_fee: 0.01", "liquidation_fee: 0.6", [":18:5:", "< 0.5"]),
    ("perp: missing margin", ", margin: 1000}", "}", [":20:", "missing required key 'margin'"]),
    (
        "leveraged: target above max",
        "target_leverage: 2",
        "target_leverage: 5",
        [":24:5:", "target_leverage 5 must be below max_leverage 4"],
    ),
    ("leveraged: max of 1", "max_leverage: 4", "max_leverage: 1", [":23:5:", "> 1"]),
    ("leveraged: negative debt", "debt_usd: 15000", "debt_usd: -1", [":26:", ">= 0"]),
    (
        "leveraged: unknown holding",
        "holdings: {ETH: 10}",
        "holdings: {ETHX: 10}",
        [":26:", "holdings.ETHX", "unknown asset"],
    ),
    (
        "leveraged: empty holdings",
        "holdings: {ETH: 10}",
        "holdings: {}",
        [":26:", "must not be empty"],
    ),
    ("options: unknown kind", "kind: put", "kind: straddle", [":32:", "expected 'put' or 'call'"]),
    ("options: zero strike", "strike: 2500", "strike: 0", [":32:33:", "> 0"]),
    ("options: zero expiry", "expiry_days: 30", "expiry_days: 0", [":32:47:", "> 0"]),
    ("options: absurd expiry", "expiry_days: 30", "expiry_days: 1.0e6", [":32:", "<= 3650"]),
    ("options: negative vol", "vol: 0.8", "vol: -0.8", [":32:76:", "> 0"]),
    ("options: zero band", "rebalance_band: 0.02", "rebalance_band: 0", [":30:5:", "> 0"]),
    (
        "options: account not allowed",
        "{asset: ETH, kind: put",
        "{account: x, asset: ETH, kind: put",
        [":32:10:", "unknown key 'account'"],
    ),
    (
        "issued: unknown issuer",
        "DAI: {issuer: maker}",
        "DAI: {issuer: makr}",
        [":5:", "unknown protocol 'makr'", "did you mean 'maker'"],
    ),
    # an issued token may have a market of its own (issue 15), quoted at its backing's price
    (
        "issued: its pool priced away from its backing",
        "DAI: {issuer: maker}",
        "DAI: {issuer: maker, market: {type: cpmm, base_reserve: 1.0e5, quote_reserve: 9.0e4}}",
        [":5:", "assets.DAI.market.quote_reserve", "price the asset at 0.9", "its price is 1"],
    ),
    (
        "issued: a market of an unknown type",
        "DAI: {issuer: maker}",
        "DAI: {issuer: maker, market: {type: amm}}",
        [":5:", "assets.DAI.market", "'amm'"],
    ),
    (
        "issued: negative reserves of its market",
        "DAI: {issuer: maker}",
        "DAI: {issuer: maker, market: {type: cpmm, base_reserve: -1.0, quote_reserve: 1.0}}",
        [":5:", "assets.DAI.market.base_reserve", "> 0"],
    ),
    (
        "issued: NaN depth of its market",
        "DAI: {issuer: maker}",
        "DAI: {issuer: maker, market: {type: exponential, depth_usd: .nan}}",
        [":5:", "assets.DAI.market.depth_usd", "finite"],
    ),
    (
        "issued: venues",
        "DAI: {issuer: maker}",
        "DAI: {issuer: maker, venues: {a: {type: linear, lambda_per_usd: 1.0e-6}}}",
        [":5:", "assets.DAI.venues", "'venues' cannot be combined with 'issuer'"],
    ),
    (
        "issued: an unknown key in its market",
        "DAI: {issuer: maker}",
        "DAI: {issuer: maker, market: {type: linear, lambda_per_usd: 1.0e-6, depht: 1}}",
        [":5:", "unknown key 'depht'"],
    ),
    (
        "issued: unknown backing",
        "DAI: {issuer: maker}",
        "DAI: {issuer: maker, backing: ETHH}",
        [":5:", "unknown asset 'ETHH'"],
    ),
    (
        "issued: wrong price",
        "DAI: {issuer: maker}",
        "DAI: {issuer: maker, price: 2.0}",
        [":5:", "starts at its backing's price (1)"],
    ),
    (
        "issued: shocked without a market",
        "  - {ETH: -0.2}",
        "  - {ETH: -0.2, DAI: -0.1}",
        [
            ":34:",
            "shocks[0].DAI",
            "is issued by 'maker' and has no market",
            "give the token a market",
        ],
    ),
    ("price missing", "USDC: {price: 1.0}", "USDC: {}", [":3:", "missing required key 'price'"]),
    (
        "backing without issuer",
        "USDC: {price: 1.0}",
        "USDC: {price: 1.0, backing: ETH}",
        [":3:", "'backing' needs 'issuer'"],
    ),
]


@pytest.mark.parametrize("case", TYPE_CASES, ids=[c[0] for c in TYPE_CASES])
def test_bad_value_of_protocol_types(tmp_path, case):
    _, old, new, fragments = case
    assert old in VALID_TYPES, old
    result, path = invoke(tmp_path, VALID_TYPES.replace(old, new, 1))
    assert_error(result, path, *fragments)


def test_valid_types_file_passes(tmp_path):
    result, _ = invoke(tmp_path, VALID_TYPES)
    assert result.exit_code == 0, result.output


# --- levers (issue 4) ---------------------------------------------------------------------------
VALID_LEVERS = """\
name: levers
settings:
  liquidators: {min_profit_usd: 10}
assets:
  USDC: {price: 1.0}
  ETH: {price: 3000, market: {type: cpmm, base_reserve: 1000, quote_reserve: 3.0e6}}
  stETH:
    peg: {to: ETH, ratio: 0.99}
    market: {type: cpmm, base_reserve: 1000, quote_reserve: 990}
protocols:
  lend:
    type: lending
    oracle: {type: lagged, rounds: 2, floor: {ETH: 100}}
    circuit_breaker: {drop: 0.2}
    liquidators: {min_profit_usd: 0, capital_usd_per_round: 1.0e6}
    dynamic_risk: {sensitivity: 1.5, reference_vol: 0.02, max_change: 0.2}
    collateral:
      stETH: {ltv: 0.7, liquidation_threshold: 0.8, liquidation_bonus: 0.05}
    positions:
      - {account: a, collateral: {stETH: 10}, debt: {USDC: 10000}}
  fund:
    type: leveraged
    max_leverage: 4
    target_leverage: 2
    lender: lend
    positions:
      - {account: f, holdings: {ETH: 10}, debt_usd: 15000}
shocks:
  - {ETH: -0.2, stETH: -0.03}
"""

LEVER_CASES = [
    (
        "oracle: unknown type",
        "type: lagged, rounds: 2",
        "type: laggy, rounds: 2",
        [
            ":13:",
            "oracle.type",
            "expected 'spot', 'lagged', 'twap', 'external', 'median' or 'vwap'",
        ],
    ),
    (
        "oracle: lagged without a window",
        "type: lagged, rounds: 2",
        "type: lagged",
        [":13:", "needs exactly one of 'rounds' and 'steps'"],
    ),
    (
        "oracle: twap with steps",
        "type: lagged, rounds: 2",
        "type: twap, steps: 2",
        [":13:", "a twap oracle needs 'rounds'"],
    ),
    (
        "oracle: spot with rounds",
        "type: lagged, rounds: 2",
        "type: spot, rounds: 2",
        [":13:", "a spot oracle takes no 'rounds'"],
    ),
    ("oracle: zero rounds", "rounds: 2", "rounds: 0", [":13:", "oracle.rounds", ">= 1"]),
    (
        "oracle: floor of an unknown asset",
        "floor: {ETH: 100}",
        "floor: {ETC: 100}",
        [":13:", "oracle.floor.ETC", "unknown asset"],
    ),
    ("oracle: negative floor", "floor: {ETH: 100}", "floor: {ETH: -1}", [":13:", "> 0"]),
    ("breaker: zero drop", "drop: 0.2", "drop: 0", [":14:", "circuit_breaker.drop", "> 0"]),
    ("breaker: drop of 150%", "drop: 0.2", "drop: 1.5", [":14:", "< 1"]),
    (
        "liquidators: negative profit",
        "min_profit_usd: 0,",
        "min_profit_usd: -5,",
        [":15:", "liquidators.min_profit_usd", ">= 0"],
    ),
    (
        "liquidators: zero capital",
        "capital_usd_per_round: 1.0e6",
        "capital_usd_per_round: 0",
        [":15:", "> 0"],
    ),
    (
        "liquidators: text",
        "min_profit_usd: 0,",
        "min_profit_usd: lots,",
        [":15:", "expected a number"],
    ),
    (
        "settings liquidators: NaN",
        "liquidators: {min_profit_usd: 10}",
        "liquidators: {min_profit_usd: .nan}",
        [":3:", "settings.liquidators", "finite"],
    ),
    (
        "dynamic risk: absurd sensitivity",
        "sensitivity: 1.5",
        "sensitivity: 1.0e9",
        [":16:", "<= 100"],
    ),
    ("dynamic risk: max change 100%", "max_change: 0.2", "max_change: 1.0", [":16:", "< 1"]),
    (
        "dynamic risk: missing sensitivity",
        "sensitivity: 1.5, ",
        "",
        [":16:", "missing required key 'sensitivity'"],
    ),
    (
        "dynamic risk on a leveraged vault",
        "    lender: lend\n",
        "    lender: lend\n    dynamic_risk: {sensitivity: 1}\n",
        ["protocols.fund.dynamic_risk", "no liquidation threshold"],
    ),
    (
        "liquidators on a leveraged vault",
        "    lender: lend\n",
        "    lender: lend\n    liquidators: {min_profit_usd: 1}\n",
        ["protocols.fund.liquidators", "applies to lending"],
    ),
    (
        "breaker on a leveraged vault",
        "    lender: lend\n",
        "    lender: lend\n    circuit_breaker: {drop: 0.1}\n",
        ["protocols.fund.circuit_breaker", "does not liquidate"],
    ),
    (
        "lender: unknown",
        "lender: lend",
        "lender: lent",
        [":25:", "unknown protocol 'lent'", "did you mean 'lend'"],
    ),
    ("lender: itself", "lender: lend", "lender: fund", [":25:", "cannot lend to itself"]),
    (
        "peg: unknown target",
        "peg: {to: ETH, ratio: 0.99}",
        "peg: {to: ETC, ratio: 0.99}",
        [":8:", "peg.to", "unknown asset 'ETC'"],
    ),
    (
        "peg: to itself",
        "peg: {to: ETH, ratio: 0.99}",
        "peg: {to: stETH, ratio: 0.99}",
        [":8:", "own price"],
    ),
    ("peg: zero ratio", "ratio: 0.99}", "ratio: 0}", [":8:", "peg.ratio", "> 0"]),
    ("peg: ratio text", "ratio: 0.99}", "ratio: par}", [":8:", "expected a number"]),
    (
        "peg: wrong price",
        "peg: {to: ETH, ratio: 0.99}",
        "peg: {to: ETH, ratio: 0.99}\n    price: 2000",
        [":9:", "starts at ratio x the price of 'ETH' (2970)"],
    ),
    (
        "peg: pool off the ratio",
        "quote_reserve: 990}",
        "quote_reserve: 900}",
        [":9:", "prices the ratio at 0.9", "peg.ratio is 0.99"],
    ),
    (
        "peg and issuer",
        "peg: {to: ETH, ratio: 0.99}",
        "peg: {to: ETH, ratio: 0.99}\n    issuer: lend",
        [":", "either issued ('issuer') or pegged ('peg')"],
    ),
    (
        "peg: unknown key",
        "ratio: 0.99}",
        "ratio: 0.99, rato: 1}",
        [":8:", "unknown key 'rato'", "did you mean 'ratio'"],
    ),
]


@pytest.mark.parametrize("case", LEVER_CASES, ids=[c[0] for c in LEVER_CASES])
def test_bad_value_of_levers(tmp_path, case):
    _, old, new, fragments = case
    assert old in VALID_LEVERS, old
    result, path = invoke(tmp_path, VALID_LEVERS.replace(old, new, 1))
    assert_error(result, path, *fragments)


def test_valid_levers_file_passes(tmp_path):
    result, _ = invoke(tmp_path, VALID_LEVERS)
    assert result.exit_code == 0, result.output
