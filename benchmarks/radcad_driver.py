"""Runs the radCAD peer model (``../shared/peers/radcad_cascade.py``) on a book and prints its
summary and timings as JSON on stdout.

It runs inside radCAD's own virtual environment (radCAD 0.14 pins numpy < 1.26.4), started by
:mod:`benchmarks.radcad_peer` as ``VENV/bin/python -I radcad_driver.py MODEL SCENARIO BOOK``
(``-I``: this folder is not on ``sys.path``, where ``radcad_peer.py`` would pass for radCAD); so
it imports neither contagion nor the benchmarks package, only numpy, radCAD and the model file.

SCENARIO is the scenario as JSON without positions, BOOK an ``.npz`` with one array per
column of the lending book (``collateral.ETH``, ``debt.USDC``, ...) per protocol, keyed
``PROTOCOL/COLUMN``: the model reads scenarios with inline positions, which are built here, in
the child, so that a million positions never travel as text.

Timed: the model's ``compile_scenario`` (scenario dict to arrays, a Python loop over the
positions) and, apart, ``simulate`` plus ``summarise`` with deep copies off, radCAD's fast mode
and the peer's recommended one: the run itself, what the comparison divides by.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np


def load_model(path: Path):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("radcad_cascade", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inline_scenario(scenario: dict, book: dict[str, np.ndarray]) -> dict:
    """The scenario with each protocol's rows as inline positions (legs with units > 0)."""
    out = dict(scenario)
    protocols = {}
    for name, proto in scenario["protocols"].items():
        columns = {
            key.split("/", 1)[1]: values
            for key, values in book.items()
            if key.split("/", 1)[0] == name
        }
        n = len(next(iter(columns.values())))
        legs = {
            prefix: {
                k.split(".", 1)[1]: v.tolist() for k, v in columns.items() if k.startswith(prefix)
            }
            for prefix in ("collateral.", "debt.")
        }
        positions = [
            {
                prefix[:-1]: {a: units[i] for a, units in table.items() if units[i] > 0}
                for prefix, table in legs.items()
            }
            for i in range(n)
        ]
        protocols[name] = {**proto, "positions": positions}
    out["protocols"] = protocols
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("scenario", type=Path)
    parser.add_argument("book", type=Path)
    parser.add_argument("--budget", type=float, default=2.0, help="seconds of repeated runs")
    parser.add_argument("--max-runs", type=int, default=5)
    args = parser.parse_args()
    model = load_model(args.model)
    with np.load(args.book) as data:
        book = {k: data[k] for k in data.files}
    scenario = inline_scenario(json.loads(args.scenario.read_text()), book)
    del book

    setup_best = run_best = float("inf")
    spent = 0.0
    runs = 0
    summary = None
    while True:
        start = time.perf_counter()
        params, state, meta = model.compile_scenario(scenario)
        compiled = time.perf_counter()
        timesteps = meta["n_steps"] * (meta["max_rounds"] + 1)
        history = model.simulate(params, state, timesteps, deepcopy=False)
        used = next((r["timestep"] for r in history if r["done"]), None)
        summary = model.summarise(history[-1], meta, timesteps, used)
        done = time.perf_counter()
        del history, params, state
        setup_best = min(setup_best, compiled - start)
        run_best = min(run_best, done - compiled)
        runs += 1
        spent += done - start
        if runs >= args.max_runs or spent + (done - start) > args.budget:
            break
    print(
        json.dumps(
            {
                "radcad": metadata.version("radcad"),
                "numpy": np.__version__,
                "python": sys.version.split()[0],
                "setup_s": setup_best,
                "run_s": run_best,
                "runs": runs,
                "summary": summary,
            }
        )
    )


if __name__ == "__main__":
    main()
