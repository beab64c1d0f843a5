"""The kernel against radCAD, the generic simulation framework a risk team would otherwise pick
(issue 14): the peer model ``../shared/peers/radcad_cascade.py`` (the lending cascade of
MODEL.md written as radCAD blocks) runs the same book as the kernel, in radCAD's own virtual
environment, and the results must agree before a ratio is reported.

radCAD 0.14 pins numpy < 1.26.4, which this project's environment cannot have, so the peer runs
as a subprocess of a virtual environment of its own (:func:`ensure_venv` builds it once, in a
cache folder, with pip). Where the model file is missing or the environment cannot be built
(no network, no pip), the row says why instead of failing the benchmark.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contagion_cli.compile.compiler import Compiled
from contagion_cli.generate import write

from . import books
from .timing import KernelRun, kernel

ROOT = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).resolve().parent / "radcad_driver.py"
#: The peer model: ``shared/peers`` beside the checkout (``CONTAGION_RADCAD_MODEL`` elsewhere).
MODEL = ROOT.parent / "shared" / "peers" / "radcad_cascade.py"
#: What the peer's README installs; radCAD pins numpy itself.
REQUIREMENTS = ("radcad==0.14.0", "typing_extensions")
#: Marks a finished installation (a venv interrupted half-way is rebuilt).
STAMP = ".contagion-bench-ready"
#: Amounts agree within the test suite's tolerance: the peer sums in another order (numpy
#: reductions per round), so the last bits differ; counts and rounds must be equal.
PEER_REL = 1e-9
PIP_TIMEOUT_S = 900
RUN_TIMEOUT_S = 1800


@dataclass(frozen=True)
class PeerRun:
    """One book through radCAD and through the kernel; ``error`` says why radCAD did not run."""

    positions: int
    kernel: KernelRun
    error: str | None = None
    radcad_version: str | None = None
    setup_s: float | None = None  # the model's compile_scenario: the dict of positions to arrays
    run_s: float | None = None  # simulate + summarise, deep copies off (best of ``runs``)
    runs: int = 0
    differences: tuple[str, ...] = ()  # what disagrees (empty: the same results)
    largest_rel: float | None = None  # the largest relative difference of an amount

    @property
    def ratio(self) -> float | None:
        """How many times faster the kernel runs the cascade than radCAD."""
        if self.run_s is None:
            return None
        return self.run_s / self.kernel.timed.seconds

    @property
    def same(self) -> bool | None:
        return None if self.run_s is None else not self.differences


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "contagion-bench"


def venv_dir() -> Path:
    """``CONTAGION_RADCAD_VENV``, else a folder of the user's cache."""
    chosen = os.environ.get("CONTAGION_RADCAD_VENV")
    return Path(chosen) if chosen else cache_dir() / "radcad-0.14"


def model_path() -> Path:
    chosen = os.environ.get("CONTAGION_RADCAD_MODEL")
    return Path(chosen) if chosen else MODEL


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


@functools.cache
def ensure_venv(venv: Path) -> str | None:
    """Build radCAD's virtual environment unless it is complete; None, or why it failed (once
    per process: a machine without network is not asked again for the next book)."""
    if (venv / STAMP).exists() and _python(venv).exists():
        return None
    if venv.exists():
        shutil.rmtree(venv)  # an earlier build stopped half-way
    pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", *REQUIREMENTS]
    steps = [
        ("python -m venv", [sys.executable, "-m", "venv", str(venv)]),
        ("pip install " + " ".join(REQUIREMENTS), [str(_python(venv)), *pip]),
    ]
    for what, argv in steps:
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"could not build radCAD's environment in {venv} ({what}): {exc}"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            return (
                f"could not build radCAD's environment in {venv} ({what}, exit "
                f"{done.returncode}): {last}"
            )
    (venv / STAMP).write_text(" ".join(REQUIREMENTS) + "\n")
    return None


def measure(positions: int, directory: Path, budget_s: float = 2.0) -> PeerRun:
    """Write the peer cascade of ``positions``, run the kernel on it (loaded the way
    ``contagion run`` loads it) and radCAD on the same rows; compare."""
    generated = books.peer_cascade(positions)
    scenario_path = write(generated, directory, books.book_format())[0]
    compiled, _ = books.compile_file(scenario_path)
    # one run each at the largest sizes: the kernel is compared, not profiled
    run = kernel(compiled, index=True, budget_s=budget_s)
    model = model_path()
    if not model.exists():
        return PeerRun(positions, run, error=f"the peer model {model} is not there")
    venv = venv_dir()
    failed = ensure_venv(venv)
    if failed:
        return PeerRun(positions, run, error=failed)
    scenario = {k: v for k, v in generated.scenario.items()}
    scenario["protocols"] = {
        name: {k: v for k, v in proto.items() if k != "positions"}
        for name, proto in generated.scenario["protocols"].items()
    }
    columns = {
        f"{name}/{column}": values
        for name, book in generated.books.items()
        for column, values in book.items()
        if column != "account"  # the model keys nothing by account
    }
    with tempfile.TemporaryDirectory(prefix="contagion-radcad-") as tmp:
        scenario_json = Path(tmp) / "scenario.json"
        scenario_json.write_text(json.dumps(scenario))
        book_npz = Path(tmp) / "book.npz"
        np.savez(book_npz, **columns)
        # -I: neither this folder nor the user's site-packages on the child's sys.path
        argv = [str(_python(venv)), "-I", str(DRIVER), str(model), str(scenario_json)]
        argv += [str(book_npz), "--budget", str(budget_s)]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return PeerRun(positions, run, error=f"radCAD ran over {RUN_TIMEOUT_S} s")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return PeerRun(positions, run, error=f"radCAD failed (exit {done.returncode}): {last}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return PeerRun(
        positions=positions,
        kernel=run,
        radcad_version=f"radCAD {data['radcad']}, numpy {data['numpy']}",
        setup_s=data["setup_s"],
        run_s=data["run_s"],
        runs=data["runs"],
        differences=tuple(differences(data["summary"], run, compiled)),
        largest_rel=largest_relative(data["summary"], run, compiled),
    )


def _amounts(summary: dict, run: KernelRun, compiled: Compiled) -> list[tuple[str, float, float]]:
    """(what, radCAD, kernel) for every amount compared."""
    out = run.outputs
    pairs = []
    for p, name in enumerate(compiled.protocol_names):
        theirs = summary["protocols"][name]
        for key, mine in (
            ("repaid_usd", out.repaid_usd[p]),
            ("bad_debt_usd", out.bad_debt_usd[p]),
            ("shortfall_usd", out.shortfall_usd[p]),
        ):
            pairs.append((f"{name} {key}", float(theirs[key]), float(mine)))
    for a, name in enumerate(compiled.asset_names):
        theirs = summary["assets"][name]["final_price"]
        pairs.append((f"{name} final price", float(theirs), float(out.final_price[a])))
    return pairs


def largest_relative(summary: dict, run: KernelRun, compiled: Compiled) -> float:
    return max(
        (
            abs(m - t) / max(abs(m), abs(t))
            for _, t, m in _amounts(summary, run, compiled)
            if m or t
        ),
        default=0.0,
    )


def differences(summary: dict, run: KernelRun, compiled: Compiled) -> list[str]:
    """What the peer's summary and the kernel's outputs disagree on: rounds, convergence and
    liquidations exactly; repaid, bad debt, shortfall and final prices within PEER_REL."""
    out = run.outputs
    found = []
    if not summary["converged"]:
        found.append("radCAD did not reach the fixed point")
    if summary["rounds"] != run.acting_rounds:
        found.append(f"rounds: radCAD {summary['rounds']}, kernel {run.acting_rounds}")
    for p, name in enumerate(compiled.protocol_names):
        theirs = summary["protocols"][name]
        if theirs["liquidations"] != int(out.liquidations[p]):
            found.append(
                f"{name} liquidations: radCAD {theirs['liquidations']}, "
                f"kernel {int(out.liquidations[p])}"
            )
    for what, theirs, mine in _amounts(summary, run, compiled):
        if not math.isclose(mine, theirs, rel_tol=PEER_REL, abs_tol=1e-6):
            found.append(f"{what}: radCAD {theirs!r}, kernel {mine!r}")
    return found
