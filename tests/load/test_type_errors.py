"""Bad values of the cdp, perp, leveraged and options fields and of order-book asks (issue 3
item 8): exit 2, the message names file, line and field; plus the cross-field rules of the
protocol types (a cdp's stablecoin, positions on an asset whose price never moves)."""

from __future__ import annotations

import pytest
from helpers import assert_error, invoke_on_file

VALID = """\
name: types
assets:
  USDC: {price: 1.0}
  ETH: {price: 3000, market: {type: cpmm, base_reserve: 1000, quote_reserve: 3.0e6}}
  BTC:
    price: 60000
    market: {type: orderbook, bids: [[-0.01, 5], [-0.02, 5]], asks: [[0.01, 5], [0.02, 5]]}
  DAI: {issuer: maker}
protocols:
  maker:
    type: cdp
    stablecoin: DAI
    liabilities_usd: 2.0e4
    liquidation_ratio: 1.5
    penalty: 0.13
    positions:
      - {account: v, collateral: {ETH: 10}, debt: 10000}
  perps:
    type: perp
    maintenance_margin: 0.05
    positions:
      - {account: t, asset: BTC, size: -2, entry_price: 60000, margin: 10000}
  fund:
    type: leveraged
    max_leverage: 4
    target_leverage: 2
    positions:
      - {account: f, holdings: {ETH: 10, BTC: 1}, debt_usd: 15000}
  vault:
    type: options
    reserve_usd: 1.0e6
    rebalance_band: 0.02
    rate: 0.05
    positions:
      - {asset: ETH, kind: put, strike: 2500, expiry_days: 30, units: 100, vol: 0.8}
shocks:
  - {ETH: -0.2, BTC: 0.05}
"""

ASKS = "asks: [[0.01, 5], [0.02, 5]]"


invoke = invoke_on_file


def test_valid_file_passes(tmp_path):
    result, _ = invoke(tmp_path, VALID)
    assert result.exit_code == 0, result.output


# (id, replace this, with that, fragments the message must contain: line:col, field, why)
CASES = [
    (
        "options: rate 5",
        "rate: 0.05",
        "rate: 5",
        [":33:5:", "protocols.vault.rate", "<= 1", "found 5"],
    ),
    ("options: rate NaN", "rate: 0.05", "rate: .nan", [":33:5:", "protocols.vault.rate", "finite"]),
    (
        "options: unknown asset",
        "{asset: ETH, kind: put",
        "{asset: ETX, kind: put",
        [":35:10:", "protocols.vault.positions[0].asset", "unknown asset 'ETX'", "'ETH'"],
    ),
    (
        "options: negative units",
        "units: 100,",
        "units: -100,",
        [":35:64:", "protocols.vault.positions[0].units", "> 0", "-100"],
    ),
    (
        "liabilities_usd negative",
        "liabilities_usd: 2.0e4",
        "liabilities_usd: -5",
        [":13:5:", "protocols.maker.liabilities_usd", "> 0", "-5"],
    ),
    (
        "liabilities_usd zero",
        "liabilities_usd: 2.0e4",
        "liabilities_usd: 0",
        [":13:5:", "protocols.maker.liabilities_usd", "> 0", "found 0"],
    ),
    (
        "liabilities_usd text",
        "liabilities_usd: 2.0e4",
        "liabilities_usd: lots",
        [":13:5:", "protocols.maker.liabilities_usd", "expected a number", "'lots'"],
    ),
    (
        "cdp: unknown collateral asset",
        "collateral: {ETH: 10}",
        "collateral: {ETX: 10}",
        [":17:35:", "protocols.maker.positions[0].collateral.ETX", "unknown asset 'ETX'"],
    ),
    (
        "cdp: negative collateral",
        "collateral: {ETH: 10}",
        "collateral: {ETH: -10}",
        [":17:35:", "protocols.maker.positions[0].collateral.ETH", "> 0", "-10"],
    ),
    (
        "cdp: empty collateral",
        "collateral: {ETH: 10}",
        "collateral: {}",
        [":17:22:", "protocols.maker.positions[0].collateral", "must not be empty"],
    ),
    (
        "leveraged: negative holding",
        "holdings: {ETH: 10, BTC: 1}",
        "holdings: {ETH: -10, BTC: 1}",
        [":28:33:", "protocols.fund.positions[0].holdings.ETH", "> 0", "-10"],
    ),
    (
        "asks: negative offset",
        ASKS,
        "asks: [[-0.02, 5], [0.02, 5]]",
        [":7:70:", "assets.BTC.market.asks[0]", "offset must be in [0, 100]", "-0.02"],
    ),
    (
        "asks: misordered",
        ASKS,
        "asks: [[0.02, 5], [0.01, 5]]",
        [":7:81:", "assets.BTC.market.asks[1]", "ordered best first", "(0.02 then 0.01)"],
    ),
    (
        "asks: negative units",
        ASKS,
        "asks: [[0.01, -5], [0.02, 5]]",
        [":7:70:", "assets.BTC.market.asks[0]", "units must be > 0", "-5"],
    ),
    ("asks: empty", ASKS, "asks: []", [":7:63:", "assets.BTC.market.asks", "must not be empty"]),
    # --- cross-field rules (contagion_cli/semantics.py) ---
    (
        "cdp: stablecoin issued by another protocol",
        "DAI: {issuer: maker}",
        "DAI: {issuer: fund}",
        [
            ":12:5:",
            "protocols.maker.stablecoin",
            "the stablecoin 'DAI' is issued by 'fund', not by this cdp",
            "hint: set assets.DAI.issuer: maker",
        ],
    ),
    (
        "perp: on an asset whose price never moves",
        "asset: BTC, size",
        "asset: USDC, size",
        [
            ":22:22:",
            "protocols.perps.positions[0].asset",
            "'USDC' has a fixed price",
            "a perp on it can never gain or lose",
            "give assets.USDC a market or a shock",
        ],
    ),
    (
        "options: on an asset whose price never moves",
        "{asset: ETH, kind: put",
        "{asset: USDC, kind: put",
        [
            ":35:10:",
            "protocols.vault.positions[0].asset",
            "'USDC' has a fixed price",
            "options on it can never need a hedge",
        ],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_value(tmp_path, case):
    _, old, new, fragments = case
    assert old in VALID, old
    result, path = invoke(tmp_path, VALID.replace(old, new, 1))
    assert_error(result, path, *fragments)


def test_run_reports_them_too(tmp_path):
    result, path = invoke(tmp_path, VALID.replace("rate: 0.05", "rate: 5"), command="run")
    assert_error(result, f"{path}:33:5:", "protocols.vault.rate")


# --- what the cross-field rules still accept (documented in docs/model.md 3b, 3c, 3e) ---------


def test_a_cdp_may_owe_a_plain_priced_asset(tmp_path):
    # scenarios/history/black-thursday-2020.yaml does this on purpose (DAI rose that day): the
    # deficit is then reported (bad debt, haircut) but devalues no token
    result, _ = invoke(tmp_path, VALID.replace("DAI: {issuer: maker}", "DAI: {price: 1.0}"))
    assert result.exit_code == 0, result.output


def test_positions_on_an_asset_without_a_market_that_the_path_moves(tmp_path):
    # no market: trades at the oracle without impact, as scenarios/history/october-2025.yaml
    # and the ADL worked example need; only a price nothing can move is refused
    text = (
        VALID.replace("  DAI: {issuer: maker}", "  DAI: {issuer: maker}\n  SOL: {price: 100}")
        .replace(
            "asset: BTC, size: -2, entry_price: 60000", "asset: SOL, size: -2, entry_price: 100"
        )
        .replace("{asset: ETH, kind: put, strike: 2500", "{asset: SOL, kind: put, strike: 90")
        .replace("BTC: 0.05}", "BTC: 0.05, SOL: -0.1}")
    )
    result, _ = invoke(tmp_path, text)
    assert result.exit_code == 0, result.output
    # without the shock SOL's price is fixed: both positions are refused
    result, _ = invoke(tmp_path, text.replace(", SOL: -0.1}", "}"))
    assert_error(result, "positions[0].asset: 'SOL' has a fixed price")
    assert result.output.count("has a fixed price") == 2
