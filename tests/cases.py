"""Hand-case scenarios that more than one test file runs."""

#: Two lending protocols on one ETH pool: the first one's liquidations pull the second under
#: (depth 1). tests/kernel/test_hand_cases.py works its numbers out; tests/cli/test_cli.py
#: renders it.
CHAIN = """
name: chain
assets:
  USDC: {price: 1.0}
  ETH:
    price: 1000
    market: {type: cpmm, base_reserve: 1000, quote_reserve: 1.0e6}
protocols:
  first:
    type: lending
    reserve_usd: 1.0e6
    collateral: {ETH: {ltv: 0.8, liquidation_threshold: 0.825, liquidation_bonus: 0.10}}
    positions:
      # HF at 900 = 100 * 900 * 0.825 / 70000 = 1.0607... -> safe; at 800: 0.943 -> liquidated
      # in full; its (rational) liquidators sell the seized ETH down to what it cost them,
      # 800 / 1.10 = 727.27, and keep the rest
      - {account: a, collateral: {ETH: 100}, debt: {USDC: 70000}}
  second:
    type: lending
    reserve_usd: 1.0e6
    collateral: {ETH: {ltv: 0.8, liquidation_threshold: 0.825, liquidation_bonus: 0.05}}
    positions:
      # HF at 800 = 100 * 800 * 0.825 / 62000 = 1.0645 -> safe after the shock alone,
      # liquidated once the first protocol's sale pushes ETH below 751.5
      - {account: b, collateral: {ETH: 100}, debt: {USDC: 62000}}
shocks:
  - {ETH: -0.20}
"""
