"""Seeded books for the benchmarks: the generator of ``contagion generate``, written to files and
read back the way ``contagion run`` reads them (load -> validate -> compile)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import yaml

from contagion_cli.compile.compiler import Compiled, compile_scenario
from contagion_cli.compile.layout import Path as ShockPath
from contagion_cli.generate import Generated, Spec, generate, write
from contagion_cli.load.scenario import load_scenario

#: The generator's default shock (ETH -30 %): on 10^6 positions it sets off a cascade of about
#: 50 rounds, the long cascade of issue 6 item 4.
SHOCK = -0.30
SEED = 0


def classic(generated: Generated) -> Generated:
    """The book with liquidators that sell every seizure at any loss
    (``settings.liquidators: {mode: any_loss}``): the cascade the numpy baseline implements
    and BENCHMARKS.md has always measured (the default before issue 15; the default now,
    rational liquidators, sells less and adds a quote per liquidation)."""
    scenario = dict(generated.scenario)
    scenario["settings"] = {**scenario.get("settings", {}), "liquidators": {"mode": "any_loss"}}
    return dataclasses.replace(generated, scenario=scenario)


def spec(positions: int) -> Spec:
    # no shared accounts: the generator keeps one position per account and protocol, so shared
    # accounts would drop rows; without them a book of 10^6 has exactly 10^6 positions
    return Spec(positions=positions, seed=SEED, shared=0.0, shock=SHOCK)


def book_format() -> str:
    """Parquet when pyarrow is installed (``make bench`` installs it), else CSV."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "csv"
    return "parquet"


def write_files(positions: int, directory: Path) -> Path:
    """``scenario.yaml`` and one positions file per protocol; returns the scenario's path."""
    return write(classic(generate(spec(positions))), directory, book_format())[0]


def write_inline(positions: int, directory: Path) -> Path:
    """The same book with its positions inline in the YAML file: the plain-Python reference
    reads inline positions only."""
    generated = classic(generate(spec(positions)))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "scenario.yaml"
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    path.write_text(
        yaml.dump(inline_scenario(generated), Dumper=dumper, sort_keys=False, width=100)
    )
    return path


def inline_scenario(generated: Generated) -> dict:
    """The scenario dict of ``generated`` with the rows of its lending books (``account``,
    ``collateral.<ASSET>``, ``debt.<ASSET>`` columns) as inline positions, with the liquidators
    of :func:`classic`."""
    scenario = dict(classic(generated).scenario)
    protocols = {}
    for name, proto in scenario["protocols"].items():
        columns = generated.books[name]
        legs = {
            prefix: {k.split(".", 1)[1]: v for k, v in columns.items() if k.startswith(prefix)}
            for prefix in ("collateral.", "debt.")
        }
        positions = [
            {
                "account": str(account),
                **{
                    prefix[:-1]: {a: float(units[i]) for a, units in table.items() if units[i] > 0}
                    for prefix, table in legs.items()
                },
            }
            for i, account in enumerate(columns["account"])
        ]
        protocols[name] = {**proto, "positions": positions}
    scenario["protocols"] = protocols
    return scenario


def compile_file(path: Path) -> tuple[Compiled, float]:
    """Load, validate and compile a scenario file, as ``contagion run`` does; and the seconds
    that took."""
    start = time.perf_counter()
    compiled = compile_scenario(load_scenario(path))
    return compiled, time.perf_counter() - start


def positions(compiled: Compiled) -> int:
    return int(compiled.position_counts.sum())


def one_pass(compiled: Compiled) -> Compiled:
    """The same book with no shock and one round at most: a run that checks every position
    once (what "one pass over the book" costs, with the measurements every run makes)."""
    path = ShockPath(np.zeros_like(compiled.path.returns), np.ones_like(compiled.path.liquidity))
    params = compiled.params._replace(max_rounds=1)
    return dataclasses.replace(compiled, path=path, params=params)


#: The peer cascade (issue 14): one lending market, ETH collateral on a constant-product pool,
#: USDC debt, ETH -10 %. The generator's books either stop after a few rounds or collapse the
#: price (its health factors thin out near 1 and thicken further up, so a cascade that gets
#: going feeds itself); this book spreads health factors evenly over [1, 2), and a pool 2.6
#: times the collateral makes the cascade on 10^6 positions settle after about 20 rounds with
#: about 0.4 liquidations per position, the size of the issue's comparison with radCAD.
PEER_SHOCK = -0.10
PEER_POOL_SHARE = 2.6  # pool base reserve / collateral units of the book
PEER_LT = 0.86
PEER_PRICE = 3000.0


def peer_cascade(positions: int) -> Generated:
    """The peer cascade's scenario and book (seeded, as ``contagion generate`` writes them)."""
    rng = np.random.default_rng(SEED)
    usd = np.minimum(2_000.0 * (rng.pareto(1.5, positions) + 1.0), 5e8)
    units = usd / PEER_PRICE
    debt = usd * PEER_LT / rng.uniform(1.0, 2.0, positions)
    base = float(PEER_POOL_SHARE * units.sum())
    scenario = {
        "name": f"peer-cascade-{positions}",
        "description": "One lending market, ETH on a cpmm, ETH -10 % (benchmarks, issue 14).",
        # the peer model's liquidators sell every seizure, whatever it fetches: any_loss here
        # (the default, rational liquidators, would hold part of it and the results differ)
        "settings": {"max_rounds": 1000, "liquidators": {"mode": "any_loss"}},
        "assets": {
            "USDC": {"price": 1.0},
            "ETH": {
                "price": PEER_PRICE,
                "market": {
                    "type": "cpmm",
                    "base_reserve": base,
                    "quote_reserve": base * PEER_PRICE,
                    "fee": 0.003,
                },
            },
        },
        "protocols": {
            "lender": {
                "type": "lending",
                "reserve_usd": float(np.round(0.01 * debt.sum(), 2)),
                "close_factor": 0.5,
                "full_close_below_hf": 0.95,
                "collateral": {
                    "ETH": {
                        "ltv": 0.83,
                        "liquidation_threshold": PEER_LT,
                        "liquidation_bonus": 0.05,
                    }
                },
            }
        },
        "shocks": [{"ETH": PEER_SHOCK}],
    }
    accounts = np.char.add("acct-", np.arange(positions).astype(str))
    book = {"account": accounts, "collateral.ETH": units, "debt.USDC": debt}
    return Generated(scenario, {"lender": book})
