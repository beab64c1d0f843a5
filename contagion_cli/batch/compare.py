"""``contagion compare``: several scenario files - designs of one market - side by side.

Each file runs the normal way (load -> ``--set`` / ``--shock`` -> validate -> compile -> run),
one after the other; the result keeps, per design, the headline figures of its run and every
protocol's bad debt. Designs are meant to face the same market event: with ``--shock`` every
file runs the same one-step path; without it each runs its own path, and
:attr:`CompareResult.same_shocks` says whether those paths are the same.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError, Location, Problem, quote
from ..load.files import Sandbox
from ..results.run import RunResult
from ..schema.models import LIQUIDITY_KEY, Scenario, ShockStep
from ..timings import phase

#: The headline figures of a design, in the order the reports show them (JSON keys of ``run``,
#: plus ``slippage_usd``, ``reserve_usd`` and ``uncovered_usd`` summed over assets / protocols).
HEADLINE = (
    "converged",
    "rounds",
    "liquidations",
    "liquidated_usd",
    "slippage_usd",
    "bad_debt_usd",
    "shortfall_usd",
    "reserve_usd",
    "uncovered_usd",
    "insolvent_protocols",
    "propagation_depth",
    "amplification",
)


@dataclass(frozen=True)
class Design:
    """One scenario file and its run."""

    label: str
    file: str
    shocks: str  # the shock path it ran on, in words
    result: RunResult

    @property
    def slippage_usd(self) -> float:
        """Slippage of every asset's liquidation flow (USD)."""
        return sum(a.slippage_usd for a in self.result.assets.values())

    @property
    def reserve_usd(self) -> float:
        """Reserves of all its protocols together at the start (USD)."""
        return sum(p.reserve_usd for p in self.result.protocols.values())

    @property
    def uncovered_usd(self) -> float:
        """Losses beyond the reserves, summed over its protocols: what depositors bear."""
        return sum(p.uncovered_usd for p in self.result.protocols.values())

    def value(self, name: str) -> Any:
        """A headline figure by its name in :data:`HEADLINE`."""
        if name in ("slippage_usd", "reserve_usd", "uncovered_usd"):
            return getattr(self, name)
        if name == "insolvent_protocols":
            return list(self.result.insolvent_protocols)
        return getattr(self.result, name)

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {
            "label": self.label,
            "file": self.file,
            "scenario": r.scenario,
            "shocks": self.shocks,
        }
        out.update({name: self.value(name) for name in HEADLINE})
        out["amplification_asset"] = r.amplification_asset
        c = r.coordination
        out["coordination"] = (
            None
            if c is None
            else {
                "adjusted_entities": c.adjusted_entities,
                "adjusted_positions": c.adjusted_positions,
                "without": c.without,
            }
        )
        out["protocols"] = {
            name: {
                "type": p.type,
                "liquidations": p.liquidations,
                "bad_debt_usd": p.bad_debt_usd,
                "shortfall_usd": p.shortfall_usd,
                "reserve_usd": p.reserve_usd,
                "uncovered_usd": p.uncovered_usd,
                "insolvent": p.insolvent,
                "depth": p.depth,
            }
            for name, p in r.protocols.items()
        }
        return _json_safe(out)


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null (strict JSON, as ``run`` writes it)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


@dataclass(frozen=True)
class CompareResult:
    """The designs in the order given, and the shocks they faced."""

    designs: tuple[Design, ...]
    on: str  # what they ran on, in words
    same_shocks: bool  # every design ran on the same shock path

    @property
    def protocols(self) -> list[str]:
        """Every protocol name of any design, in the order they first appear."""
        names: list[str] = []
        for d in self.designs:
            names += [n for n in d.result.protocols if n not in names]
        return names

    def to_dict(self) -> dict[str, Any]:
        return {
            "on": self.on,
            "same_shocks": self.same_shocks,
            "labels": [d.label for d in self.designs],
            "designs": [d.to_dict() for d in self.designs],
        }

    def columns(self) -> list[str]:
        """Columns of :meth:`rows` (one row per design)."""
        cols = ["label", "file", "scenario", "shocks", *HEADLINE, "amplification_asset"]
        if any(d.result.coordination is not None for d in self.designs):
            cols += ["coordination.adjusted_entities", "coordination.without.bad_debt_usd"]
        for name in self.protocols:
            cols += [f"protocols.{name}.bad_debt_usd", f"protocols.{name}.insolvent"]
        return cols

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per design (CSV); a protocol the design lacks is an empty cell."""
        rows = []
        for d in self.designs:
            data = d.to_dict()
            row = {k: v for k, v in data.items() if k not in ("protocols", "coordination")}
            if data["coordination"] is not None:
                row["coordination.adjusted_entities"] = data["coordination"]["adjusted_entities"]
                row["coordination.without.bad_debt_usd"] = data["coordination"]["without"][
                    "bad_debt_usd"
                ]
            row["insolvent_protocols"] = ";".join(data["insolvent_protocols"])
            for name, p in data["protocols"].items():
                row[f"protocols.{name}.bad_debt_usd"] = p["bad_debt_usd"]
                row[f"protocols.{name}.insolvent"] = p["insolvent"]
            rows.append(row)
        return rows


def shock_words(scenario: Scenario) -> str:
    """A scenario's shock path in words: ``ETH -20%, liquidity ETH x0.5; ETH -10%``."""
    shocks = scenario.shocks
    if not isinstance(shocks, list):
        return f"Monte Carlo ({type(shocks).__name__}): path 0"
    return "; ".join(_step_words(step) for step in shocks)


def _step_words(step: ShockStep) -> str:
    words = [f"{key} {value * 100:+.4g}%" for key, value in step.returns.items()]
    words += [f"{LIQUIDITY_KEY} {key} x{value:g}" for key, value in step.liquidity.items()]
    return ", ".join(words) or "no move"


def _shock_key(scenario: Scenario) -> Any:
    """What two paths must share to be the same event (order of keys aside)."""
    shocks = scenario.shocks
    if not isinstance(shocks, list):
        return repr(shocks)
    return tuple(
        (tuple(sorted(s.returns.items())), tuple(sorted(s.liquidity.items()))) for s in shocks
    )


def labels_for(
    scenarios: Sequence[Scenario], files: Sequence[str], given: Sequence[str]
) -> list[str]:
    """``--label`` values (one per file), or each scenario's ``name``, made unique."""
    if given:
        if len(given) != len(files):
            raise InputError.single(
                f"{len(given)} labels for {len(files)} files",
                Location("--label"),
                hint="give one --label per file, in the order of the files, or none",
            )
        seen: set[str] = set()
        for text in given:
            if not text.strip():
                raise InputError.single("a label is empty", Location("--label"))
            if text in seen:
                raise InputError.single(
                    f"label {quote(text)} is given twice",
                    Location("--label"),
                    hint="labels name the columns of the comparison: make them distinct",
                )
            seen.add(text)
        return list(given)
    names = [s.name for s in scenarios]
    labels = [n if names.count(n) == 1 else f for n, f in zip(names, files, strict=True)]
    out: list[str] = []
    for label in labels:  # the same file twice
        k, unique = 2, label
        while unique in out:
            unique, k = f"{label} ({k})", k + 1
        out.append(unique)
    return out


def load_designs(
    files: Sequence[str | Path],
    sets: Sequence[str] = (),
    shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
    sandbox: Sandbox | None = None,
) -> list[Scenario]:
    """Every file loaded and validated with the overrides (files read within ``sandbox``);
    the problems of all files at once."""
    from ..load.scenario import load_scenario

    scenarios: list[Scenario] = []
    problems: list[Problem] = []
    for file in files:
        try:
            scenarios.append(load_scenario(file, sets, shocks, liquidity, sandbox))
        except InputError as exc:
            problems += [_in_file(p, str(file)) for p in exc.problems]
    if problems:
        raise InputError(problems)
    return scenarios


def _in_file(problem: Problem, file: str) -> Problem:
    """A problem of an option (``--set``, ``--shock``) says which file it was applied to."""
    loc = problem.location
    if loc is None or loc.line is not None or loc.source == file:
        return problem
    return dataclasses.replace(problem, message=f"{problem.message} (in {file})")


def _compiled(scenario: Scenario) -> Any:
    from ..compile.compiler import compile_scenario

    with phase("compile"):
        return compile_scenario(scenario)


def compare(
    files: Sequence[str | Path],
    labels: Sequence[str] = (),
    sets: Sequence[str] = (),
    shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
    sandbox: Sandbox | None = None,
) -> CompareResult:
    """Run every file (with the same overrides; files read within ``sandbox``) and collect
    the designs side by side.

    Raises
    ------
    InputError
        A file or an option is invalid (every file's problems together), or the labels do not
        match the files.
    """
    from ..engine.run import run

    if not files:
        raise InputError.single("no scenario files to compare", Location("FILE"))
    texts = [str(f) for f in files]
    scenarios = load_designs(files, sets, shocks, liquidity, sandbox)
    names = labels_for(scenarios, texts, labels)
    designs = tuple(
        Design(label, text, shock_words(s), run(_compiled(s)))
        for label, text, s in zip(names, texts, scenarios, strict=True)
    )
    same = len({_shock_key(s) for s in scenarios}) == 1
    if shocks:
        on = f"--shock {shock_words(scenarios[0])}"
    elif same:
        on = f"the files' shock path: {designs[0].shocks}"
    else:
        on = "each file's own shock path (they differ)"
    return CompareResult(designs, on, same)
