"""Every field of issue 4 (levers, derived assets, entities) rejects a bad value with exit 2 and
a message naming the file, the line and the field (style of tests/load/test_input_errors.py)."""

from __future__ import annotations

import pytest
from helpers import assert_error, invoke_on_file

# line numbers matter: every case below names the line of the field it breaks
VALID = """\
name: levers
settings:
  liquidators: {min_profit_usd: 10, capital_usd_per_round: 5.0e6}
assets:
  USDC: {price: 1.0}
  ETH: {price: 3000, market: {type: cpmm, base_reserve: 1000, quote_reserve: 3.0e6}}
  stETH:
    peg: {to: ETH, ratio: 0.99, sell_target: false}
    market: {type: cpmm, base_reserve: 1000, quote_reserve: 990}
  aUSD: {issuer: lend}
protocols:
  lend:
    type: lending
    liabilities_usd: 2.0e6
    oracle: {type: lagged, steps: 1, floor: {ETH: 100}}
    circuit_breaker: {drop: 0.2}
    dynamic_risk: {sensitivity: 1.5, reference_vol: 0.02, max_change: 0.2}
    collateral:
      stETH: {ltv: 0.7, liquidation_threshold: 0.8, liquidation_bonus: 0.05}
    positions:
      - {account: a, collateral: {stETH: 10}, debt: {USDC: 10000}}
  twap:
    type: lending
    oracle: {type: twap, rounds: 3}
    collateral:
      aUSD: {ltv: 0.7, liquidation_threshold: 0.8, liquidation_bonus: 0.05}
    positions:
      - {account: a, collateral: {aUSD: 1.0e4}, debt: {USDC: 5000}}
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


invoke = invoke_on_file


def test_valid_file_passes(tmp_path):
    result, _ = invoke(tmp_path, VALID)
    assert result.exit_code == 0, result.output


def test_valid_file_runs(tmp_path):
    result, _ = invoke(tmp_path, VALID, "--entities", "--top", "1", command="run")
    assert result.exit_code == 0, result.output


# (id, replace this, with that, fragments of the message: file:line and the field)
CASES = [
    # --- liabilities_usd (MODEL.md §2: the haircut's denominator) ---
    (
        "liabilities: zero",
        "liabilities_usd: 2.0e6",
        "liabilities_usd: 0",
        [":14:", "protocols.lend.liabilities_usd", "> 0"],
    ),
    (
        "liabilities: negative",
        "liabilities_usd: 2.0e6",
        "liabilities_usd: -5",
        [":14:", "protocols.lend.liabilities_usd", "> 0", "-5"],
    ),
    (
        "liabilities: text",
        "liabilities_usd: 2.0e6",
        "liabilities_usd: plenty",
        [":14:", "protocols.lend.liabilities_usd", "expected a number", "plenty"],
    ),
    (
        "liabilities: NaN",
        "liabilities_usd: 2.0e6",
        "liabilities_usd: .nan",
        [":14:", "protocols.lend.liabilities_usd", "finite"],
    ),
    # --- peg ---
    (
        "peg: sell_target maybe",
        "sell_target: false",
        "sell_target: maybe",
        [":8:", "assets.stETH.peg.sell_target", "expected true or false", "maybe"],
    ),
    (
        "peg: sell_target 3",
        "sell_target: false",
        "sell_target: 3",
        [":8:", "assets.stETH.peg.sell_target", "expected true or false"],
    ),
    (
        "peg and issuer",
        "peg: {to: ETH, ratio: 0.99, sell_target: false}",
        "peg: {to: ETH, ratio: 0.99, sell_target: false}\n    issuer: lend",
        [":8:", "assets.stETH", "either issued ('issuer') or pegged ('peg')"],
    ),
    # --- oracles ---
    ("oracle: zero steps", "steps: 1,", "steps: 0,", [":15:", "oracle.steps", ">= 1"]),
    ("oracle: negative steps", "steps: 1,", "steps: -1,", [":15:", "oracle.steps", ">= 1"]),
    (
        "oracle: absurd steps",
        "steps: 1,",
        "steps: 100000000,",
        [":15:", "protocols.lend.oracle.steps", "<= 100000"],
    ),
    (
        "oracle: fractional steps",
        "steps: 1,",
        "steps: 1.5,",
        [":15:", "protocols.lend.oracle.steps", "expected a whole number"],
    ),
    (
        "oracle: steps and rounds",
        "steps: 1,",
        "steps: 1, rounds: 2,",
        [":15:", "protocols.lend.oracle", "exactly one of 'rounds' and 'steps'"],
    ),
    (
        "oracle: external with steps",
        "type: lagged, steps: 1,",
        "type: external, steps: 1,",
        [":15:", "protocols.lend.oracle", "an external oracle takes no 'rounds' or 'steps'"],
    ),
    (
        "oracle: external with venues",
        "type: lagged, steps: 1,",
        "type: external, venues: [market],",
        [":15:", "protocols.lend.oracle", "an external oracle reads no venues"],
    ),
    ("oracle: zero rounds", "rounds: 3", "rounds: 0", [":24:", "protocols.twap.oracle.rounds"]),
    (
        "oracle: negative rounds",
        "rounds: 3",
        "rounds: -2",
        [":24:", "protocols.twap.oracle.rounds", ">= 1"],
    ),
    (
        "oracle: absurd rounds",
        "rounds: 3",
        "rounds: 5000",
        [":24:", "protocols.twap.oracle.rounds", "<= 1000"],
    ),
    (
        "oracle: rounds as text",
        "rounds: 3",
        "rounds: three",
        [":24:", "protocols.twap.oracle.rounds", "expected a whole number"],
    ),
    (
        "oracle: twap without rounds",
        "type: twap, rounds: 3",
        "type: twap",
        [":24:", "protocols.twap.oracle", "a twap oracle needs 'rounds'"],
    ),
    # --- dynamic risk ---
    (
        "dynamic risk: negative reference vol",
        "reference_vol: 0.02",
        "reference_vol: -0.1",
        [":17:", "protocols.lend.dynamic_risk.reference_vol", ">= 0"],
    ),
    (
        "dynamic risk: NaN reference vol",
        "reference_vol: 0.02",
        "reference_vol: .nan",
        [":17:", "protocols.lend.dynamic_risk.reference_vol", "finite"],
    ),
    (
        "dynamic risk: zero max change",
        "max_change: 0.2",
        "max_change: 0",
        [":17:", "protocols.lend.dynamic_risk.max_change", "> 0"],
    ),
    (
        "dynamic risk on a leveraged vault",
        "    lender: lend\n",
        "    lender: lend\n    dynamic_risk: {sensitivity: 1}\n",
        [":34:5:", "protocols.fund.dynamic_risk", "no liquidation threshold"],
    ),
    # --- circuit breakers ---
    (
        "breaker: missing drop",
        "circuit_breaker: {drop: 0.2}",
        "circuit_breaker: {}",
        [":16:", "protocols.lend.circuit_breaker", "missing required key 'drop'"],
    ),
    (
        "breaker: negative drop",
        "drop: 0.2",
        "drop: -0.2",
        [":16:", "protocols.lend.circuit_breaker.drop", "> 0"],
    ),
    (
        "breaker: unknown key",
        "circuit_breaker: {drop: 0.2}",
        "circuit_breaker: {dorp: 0.2}",
        [":16:", "unknown key 'dorp'", "did you mean 'drop'"],
    ),
    (
        "breaker on a leveraged vault",
        "    lender: lend\n",
        "    lender: lend\n    circuit_breaker: {drop: 0.1}\n",
        [":34:5:", "protocols.fund.circuit_breaker", "does not liquidate"],
    ),
    # --- liquidators, per protocol and global ---
    (
        "liquidators on a leveraged vault",
        "    lender: lend\n",
        "    lender: lend\n    liquidators: {min_profit_usd: 1}\n",
        [":34:5:", "protocols.fund.liquidators", "applies to lending"],
    ),
    (
        "settings liquidators: negative profit",
        "min_profit_usd: 10,",
        "min_profit_usd: -1,",
        [":3:", "settings.liquidators.min_profit_usd", ">= 0"],
    ),
    (
        "settings liquidators: zero capital",
        "capital_usd_per_round: 5.0e6",
        "capital_usd_per_round: 0",
        [":3:", "settings.liquidators.capital_usd_per_round", "> 0"],
    ),
    (
        "settings liquidators: capital as text",
        "capital_usd_per_round: 5.0e6",
        "capital_usd_per_round: lots",
        [":3:", "settings.liquidators.capital_usd_per_round", "expected a number"],
    ),
    (
        "settings liquidators: infinite capital",
        "capital_usd_per_round: 5.0e6",
        "capital_usd_per_round: .inf",
        [":3:", "settings.liquidators.capital_usd_per_round", "finite"],
    ),
    (
        "settings liquidators: unknown key",
        "min_profit_usd: 10,",
        "min_proft_usd: 10,",
        [
            ":3:17:",
            "settings.liquidators.min_proft_usd",
            "unknown key 'min_proft_usd'",
            "did you mean 'min_profit_usd'",
        ],
    ),
    (
        "settings liquidators: not a mapping",
        "liquidators: {min_profit_usd: 10, capital_usd_per_round: 5.0e6}",
        "liquidators: [10, 5.0e6]",
        [":3:", "settings.liquidators"],
    ),
    # --- liquidators.mode (issue 15): rational, atomic or any_loss ---
    (
        "liquidators: unknown mode",
        "liquidators: {min_profit_usd: 10,",
        "liquidators: {mode: rationnal, min_profit_usd: 10,",
        [":3:", "settings.liquidators.mode", "rationnal", "'rational'", "'any_loss'"],
    ),
    (
        "liquidators: mode as a boolean",
        "liquidators: {min_profit_usd: 10,",
        "liquidators: {mode: false, min_profit_usd: 10,",
        [":3:", "settings.liquidators.mode", "'rational'"],
    ),
    (
        "liquidators: mode as a number",
        "liquidators: {min_profit_usd: 10,",
        "liquidators: {mode: 2, min_profit_usd: 10,",
        [":3:", "settings.liquidators.mode"],
    ),
    (
        "liquidators: empty mode",
        "liquidators: {min_profit_usd: 10,",
        "liquidators: {mode: '', min_profit_usd: 10,",
        [":3:", "settings.liquidators.mode"],
    ),
    (
        "liquidators: a profit floor for liquidators that act at any loss",
        "liquidators: {min_profit_usd: 10,",
        "liquidators: {mode: any_loss, min_profit_usd: 10,",
        [":3:", "settings.liquidators", "any_loss", "min_profit_usd", "no effect"],
    ),
    (
        "liquidators: unknown mode on a protocol",
        "    oracle: {type: twap, rounds: 3}\n",
        "    oracle: {type: twap, rounds: 3}\n    liquidators: {mode: greedy}\n",
        [":25:", "protocols.twap.liquidators.mode", "greedy"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_value_of_a_lever_field(tmp_path, case):
    _, old, new, fragments = case
    assert VALID.count(old) == 1, old
    result, path = invoke(tmp_path, VALID.replace(old, new))
    assert_error(result, f"{path}{fragments[0]}", *fragments[1:])


@pytest.mark.parametrize(
    ("top", "expected"),
    [
        ("0", "greater than or equal to 1"),
        ("-3", "greater than or equal to 1"),
        ("many", "valid integer"),
    ],
)
def test_entities_top_must_be_a_positive_count(tmp_path, top, expected):
    result, _ = invoke(tmp_path, VALID, "--entities", "--top", top, command="run")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "error: --top: " in result.output and expected in result.output
