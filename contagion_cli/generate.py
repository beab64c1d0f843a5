"""Seeded synthetic scenarios: large books for benchmarks and demos (``contagion generate``).

N positions over M protocols and K collateral assets; sizes heavy-tailed (Pareto), health
factors spread above 1 with a thin tail below (log-normal), a share of accounts present in
several protocols, markets sized against the book. Everything is drawn from one seeded numpy
generator, so a seed reproduces the files byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from . import atomic

ASSET_NAMES = ["ETH", "WBTC", "SOL", "LINK", "ARB", "OP", "AVAX", "UNI", "AAVE", "MKR"]
ASSET_PRICES = [3000.0, 60000.0, 150.0, 15.0, 1.0, 2.0, 30.0, 8.0, 100.0, 1500.0]


@dataclass(frozen=True)
class Spec:
    positions: int = 100_000
    protocols: int = 3
    assets: int = 3
    seed: int = 0
    shared: float = 0.2  # share of positions whose account also appears in another protocol
    shock: float = -0.30  # return of the first asset in the one-step shock path
    market_share: float = 2.0  # pool depth (USD each side) / collateral value of the asset

    def check(self) -> list[str]:
        problems = []
        if not 1 <= self.positions <= 50_000_000:
            problems.append("--positions must be between 1 and 50,000,000")
        if not 1 <= self.protocols <= 100:
            problems.append("--protocols must be between 1 and 100")
        if not 1 <= self.assets <= len(ASSET_NAMES):
            problems.append(f"--assets must be between 1 and {len(ASSET_NAMES)}")
        if not 0.0 <= self.shared <= 1.0:
            problems.append("--shared must be between 0 and 1")
        if not -0.99 <= self.shock <= 1.0:
            problems.append("--shock must be between -0.99 and 1")
        if not 0.0 < self.market_share <= 10.0:
            problems.append("--market-share must be in (0, 10]")
        return problems


@dataclass(frozen=True)
class Generated:
    scenario: dict
    books: dict[str, dict[str, np.ndarray]]  # protocol -> column -> values


def generate(spec: Spec) -> Generated:
    """The scenario (a YAML-ready dict) and one book (columns) per protocol."""
    rng = np.random.default_rng(spec.seed)
    names = ASSET_NAMES[: spec.assets]
    prices = np.array(ASSET_PRICES[: spec.assets])
    n = spec.positions
    protocol = rng.integers(0, spec.protocols, n)
    # collateral: one asset per position (weighted toward the first), heavy-tailed USD size
    weights = 1.0 / np.arange(1, spec.assets + 1)
    asset = rng.choice(spec.assets, n, p=weights / weights.sum())
    usd = 2_000.0 * (rng.pareto(1.5, n) + 1.0)
    usd = np.minimum(usd, 5e8)
    units = usd / prices[asset]
    lt = np.array([0.86, 0.78, 0.70, 0.68, 0.65, 0.65, 0.70, 0.68, 0.70, 0.70])[: spec.assets]
    # health factors above 1 with a thin tail below: 1 + lognormal
    hf = 1.0 + rng.lognormal(np.log(0.9), 0.6, n) - 0.02
    debt = usd * lt[asset] / hf
    # accounts: a share reuse the account of another position (maybe in another protocol)
    ids = np.arange(n)
    shared = rng.random(n) < spec.shared
    ids[shared] = rng.integers(0, n, shared.sum())
    accounts = np.char.add("acct-", ids.astype(str))
    books: dict[str, dict[str, np.ndarray]] = {}
    protocols: dict[str, dict] = {}
    for m in range(spec.protocols):
        name = f"lender-{m}"
        rows = np.flatnonzero(protocol == m)
        # one position per account and protocol: keep the first of repeated accounts
        _, first = np.unique(accounts[rows], return_index=True)
        rows = rows[np.sort(first)]
        columns: dict[str, np.ndarray] = {"account": accounts[rows]}
        for k, a in enumerate(names):
            columns[f"collateral.{a}"] = np.where(asset[rows] == k, units[rows], 0.0)
        columns["debt.USDC"] = debt[rows]
        books[name] = columns
        protocols[name] = {
            "type": "lending",
            "reserve_usd": float(np.round(0.01 * debt[rows].sum(), 2)),
            "close_factor": 0.5,
            "collateral": {
                a: {
                    "ltv": float(round(lt[k] - 0.03, 4)),
                    "liquidation_threshold": float(lt[k]),
                    "liquidation_bonus": 0.05 + 0.01 * k,
                }
                for k, a in enumerate(names)
            },
        }
    assets: dict[str, dict] = {"USDC": {"price": 1.0}}
    for k, a in enumerate(names):
        depth_usd = max(1e6, spec.market_share * float(usd[asset == k].sum()))
        base = depth_usd / prices[k]
        assets[a] = {
            "price": float(prices[k]),
            "market": {
                "type": "cpmm",
                "base_reserve": float(base),
                "quote_reserve": float(base * prices[k]),
                "fee": 0.003,
            },
        }
    scenario = {
        "name": f"generated-{n}-seed{spec.seed}",
        "description": f"Synthetic book: {n:,} positions, {spec.protocols} protocols, "
        f"{spec.assets} collateral assets, seed {spec.seed} (contagion generate).",
        "settings": {"max_rounds": 1000},
        "assets": assets,
        "protocols": protocols,
        "shocks": [{names[0]: spec.shock}],
    }
    return Generated(scenario, books)


def write(generated: Generated, directory: Path, fmt: str) -> list[Path]:
    """Write ``scenario.yaml`` and one positions file per protocol into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    scenario = dict(generated.scenario)
    protocols = {}
    for name, proto in scenario["protocols"].items():
        file = f"{name}.{'parquet' if fmt == 'parquet' else 'csv'}"
        protocols[name] = {**proto, "positions_file": file}
        path = directory / file
        with atomic.replacing(path) as temp:  # a full disk leaves no half-written book
            _write_book(generated.books[name], temp, fmt)
        written.append(path)
    scenario["protocols"] = protocols
    path = directory / "scenario.yaml"
    atomic.write_text(
        path,
        "# Generated by `contagion generate`: a synthetic book, not market data.\n"
        + yaml.safe_dump(scenario, sort_keys=False, width=100),
    )
    written.insert(0, path)
    return written


def _write_book(columns: dict[str, np.ndarray], path: Path, fmt: str) -> None:
    try:
        import pyarrow as pa
    except ImportError:
        pa = None
    if fmt == "parquet":
        if pa is None:
            raise RuntimeError("parquet needs pyarrow")  # the CLI checks this first
        import pyarrow.parquet as pq

        pq.write_table(pa.table(columns), path)
        return
    if pa is not None:
        import pyarrow.csv as pacsv

        pacsv.write_csv(pa.table(columns), path)
        return
    header = ",".join(columns)
    cols = list(columns.values())
    with path.open("w") as fh:
        fh.write(header + "\n")
        for row in zip(*cols, strict=True):
            fh.write(",".join(str(v) for v in row) + "\n")
