"""``contagion diff``: a base and a candidate scenario on the same shocks or the same paths.

The candidate runs on the *base's* shock path (or ``--shock``), mapped by asset name, so that a
diff measures the change of the book or of the parameters, never a change of scenario. In
simulation mode both run the same Monte Carlo paths (the base's model: common random numbers).
``--fail-if 'bad_debt_usd>+5%'`` turns the diff into a gate.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

import numpy as np

from ..compile.compiler import Compiled
from ..compile.layout import F8, Path
from ..errors import InputError, Location, known_names_hint
from ..load.files import Sandbox
from ..load.overrides import parse_number
from ..results.metrics import default_columns, parse_metric
from ..schema.stochastic import MonteCarloModel
from ..timings import phase
from . import grid
from .points import asset_index
from .pool import Point, Runner, run_point
from .risk_metrics import RISK_METRICS
from .simulate import SimulationResult, is_simulation_metric, simulate, simulation_metric_names

#: Simulation metrics a diff tabulates besides the headline ones (each as .mean and .p95).
SIM_TABLE_METRICS = ("bad_debt_usd", "liquidated_usd", "shortfall_usd", "insolvent_count")


@dataclass(frozen=True)
class Change:
    """One metric in both scenarios."""

    metric: str
    base: float | None
    candidate: float | None

    @property
    def change(self) -> float | None:
        if self.base is None or self.candidate is None:
            return None
        return self.candidate - self.base

    @property
    def relative(self) -> float | None:
        """``change / |base|``; ±inf when the base is 0 and the candidate is not."""
        change = self.change
        if change is None or self.base is None:
            return None
        if self.base == 0:
            return 0.0 if change == 0 else math.copysign(math.inf, change)
        return change / abs(self.base)

    def to_dict(self) -> dict[str, Any]:
        rel = self.relative
        return {
            "metric": self.metric,
            "base": self.base,
            "candidate": self.candidate,
            "change": self.change,
            "relative_change": rel if rel is None or math.isfinite(rel) else None,
            "relative_change_text": _pct(rel),
        }


@dataclass(frozen=True)
class FailIf:
    """``METRIC OP CHANGE``: fail when the change of METRIC compares true (``%``: relative)."""

    metric: str
    op: str
    amount: float
    relative: bool
    text: str

    def fails(self, change: Change) -> bool:
        delta = change.relative if self.relative else change.change
        if delta is None or math.isnan(delta):
            return False
        return {
            ">": delta > self.amount,
            ">=": delta >= self.amount,
            "<": delta < self.amount,
            "<=": delta <= self.amount,
        }[self.op]


@dataclass(frozen=True)
class FailIfResult:
    rule: FailIf
    change: Change
    failed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule.text, "failed": self.failed, **self.change.to_dict()}


@dataclass(frozen=True)
class DiffResult:
    base: str
    candidate: str
    mode: str  # "path" (the base's own path), "shock" (--shock) or "simulate"
    on: str  # what both ran on, in words
    changes: tuple[Change, ...]
    rules: tuple[FailIfResult, ...]

    @property
    def failed(self) -> list[FailIfResult]:
        return [r for r in self.rules if r.failed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "candidate": self.candidate,
            "mode": self.mode,
            "on": self.on,
            "failed": bool(self.failed),
            "changes": [c.to_dict() for c in self.changes],
            "fail_if": [r.to_dict() for r in self.rules],
        }


def _pct(rel: float | None) -> str:
    if rel is None:
        return "-"
    if math.isinf(rel):
        return "+inf%" if rel > 0 else "-inf%"
    return f"{rel * 100:+.2f}%"


def parse_fail_if(text: str) -> FailIf:
    """``'bad_debt_usd>+5%'`` -> FailIf (relative); ``'insolvent_count>0'`` (absolute)."""
    match = re.search(r"(>=|<=|>|<)", text)
    where = Location(f"--fail-if {text}")
    if match is None:
        raise InputError.single(
            f"expected METRIC>CHANGE, found {text!r}",
            where,
            hint="for example --fail-if 'bad_debt_usd>+5%' (relative) or "
            "--fail-if 'insolvent_count>0' (absolute); OP is one of >, >=, <, <=",
        )
    metric = text[: match.start()].strip()
    raw = text[match.end() :].strip()
    if not metric:
        raise InputError.single(
            f"expected a metric name before {match.group(1)!r}", where, hint="e.g. bad_debt_usd>+5%"
        )
    relative = raw.endswith("%")
    try:
        amount = parse_number(raw, where.source, metric)
    except InputError:
        raise InputError.single(
            f"expected a change such as +5% or 1e6 after {match.group(1)!r}, found {raw!r}",
            where,
        ) from None
    return FailIf(metric, match.group(1), amount, relative, text.strip())


def remap_path(path: Path, names_from: Sequence[str], names_to: Sequence[str]) -> Path:
    """A path over ``names_from`` as one over ``names_to`` (assets it lacks keep their price)."""
    steps = path.returns.shape[0]
    returns = np.zeros((steps, len(names_to)), F8)
    liquidity = np.ones((steps, len(names_to)), F8)
    index = {n: a for a, n in enumerate(names_from)}
    for b, name in enumerate(names_to):
        a = index.get(name)
        if a is not None:
            returns[:, b] = path.returns[:, a]
            liquidity[:, b] = path.liquidity[:, a]
    return Path(returns, liquidity)


def build_shock_path(
    base: Compiled, shocks: Sequence[str], liquidity: Sequence[str]
) -> tuple[Path | None, str]:
    """The one-step path of ``--shock``/``--liquidity`` (None: the base's own path), in words."""
    if not shocks:
        n = base.n_steps
        return None, f"the base's shock path ({n} step{'s' if n != 1 else ''})"
    returns = np.zeros((1, base.n_assets), F8)
    mult = np.ones((1, base.n_assets), F8)
    words = []
    for option, texts, parse in (
        ("--shock", shocks, grid.parse_shock_axis),
        ("--liquidity", liquidity, grid.parse_liquidity_axis),
    ):
        for text in texts:
            axis = parse(text)
            if len(axis.values) != 1:
                raise InputError.single(
                    f"{axis.key}: expected one value, found {len(axis.values)}",
                    Location(option),
                    hint="diff runs one shock; use sweep for a grid",
                )
            a = asset_index(base, axis.key, option, liquidity=option == "--liquidity")
            if option == "--shock":
                allowed = base.scenario.settings.allow_extreme_shocks
                grid.check_extreme(axis.key, axis.values, allowed, option)
                returns[0, a] = axis.values[0]
                words.append(f"{axis.key} {axis.values[0] * 100:+.4g}%")
            else:
                mult[0, a] = axis.values[0]
                words.append(f"{axis.key} liquidity x{axis.values[0]:g}")
    return Path(returns, mult), ", ".join(words)


def _union_metrics(base: Compiled, cand: Compiled) -> list[str]:
    names: list[str] = []
    for c in (base, cand):
        for m in default_columns(c.protocol_names, c.asset_names, c.asset_names):
            if m.name not in names:
                names.append(m.name)
    return names


def _read(compiled: Compiled, result: Any, name: str) -> float | None:
    try:
        metric = parse_metric(name, compiled.protocol_names, compiled.asset_names)
    except InputError:
        return None
    value = metric.read(result)
    return None if math.isnan(value) else value


def diff_runs(
    base: Compiled,
    cand: Compiled,
    labels: tuple[str, str],
    shock_path: Path | None,
    on: str,
    rules: Sequence[FailIf],
) -> DiffResult:
    """Both scenarios on one deterministic path: the base's own, or ``shock_path``."""
    path = shock_path if shock_path is not None else base.path
    base_run = dataclasses.replace(base, path=remap_path(path, base.asset_names, base.asset_names))
    cand_run = dataclasses.replace(cand, path=remap_path(path, base.asset_names, cand.asset_names))
    rb = run_point(base_run, Point())
    rc = run_point(cand_run, Point())
    names = _union_metrics(base, cand)
    for rule in rules:
        _check_rule_metric(rule, base, cand, simulation=False)
        if rule.metric not in names:
            names.append(rule.metric)
    changes = tuple(Change(n, _read(base, rb, n), _read(cand, rc, n)) for n in names)
    mode = "shock" if shock_path is not None else "path"
    return DiffResult(labels[0], labels[1], mode, on, changes, _apply(rules, changes))


def diff_simulations(
    base: Compiled,
    cand: Compiled,
    labels: tuple[str, str],
    model: MonteCarloModel,
    rules: Sequence[FailIf],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    runner: Runner | None = None,
) -> DiffResult:
    """Both scenarios on the same Monte Carlo paths (``runner``: see :func:`.batch.run_batch`)."""
    for rule in rules:
        _check_rule_metric(rule, base, cand, simulation=True)
    sb = simulate(base, model, workers, progress, runner=runner)
    sc = simulate(cand, model, workers, progress, runner=runner)
    names = list(RISK_METRICS)
    protocols = _ordered(sb.protocols, sc.protocols)
    names += [f"protocols.{p}.p_insolvent" for p in protocols]
    names += [f"{m}.{s}" for m in SIM_TABLE_METRICS for s in ("mean", "p95", "p99")]
    # each protocol's own loss distribution: a change can move one protocol's tail and not
    # the system's
    names += [f"protocols.{p}.bad_debt_usd.{s}" for p in protocols for s in ("mean", "p95", "p99")]
    for rule in rules:
        if rule.metric not in names:
            names.append(rule.metric)
    changes = tuple(Change(n, _lookup(sb, n), _lookup(sc, n)) for n in names)
    for rule in rules:
        change = next(c for c in changes if c.metric == rule.metric)
        if change.base is None and change.candidate is None:
            raise InputError.single(
                f"unknown simulation metric {rule.metric!r}",
                Location(f"--fail-if {rule.text}"),
                hint=known_names_hint(rule.metric, sb.metric_names(), "metrics"),
            )
    on = f"{model.paths:,} Monte Carlo paths ({model.model}, seed {model.seed})"
    return DiffResult(labels[0], labels[1], "simulate", on, changes, _apply(rules, changes))


def _ordered(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return list(a) + [k for k in b if k not in a]


def _lookup(sim: SimulationResult, name: str) -> float | None:
    try:
        value = sim.lookup(name)
    except KeyError:
        return None
    return None if math.isnan(value) else value


def _check_rule_metric(rule: FailIf, base: Compiled, cand: Compiled, simulation: bool) -> None:
    where = Location(f"--fail-if {rule.text}")
    if simulation:
        if not is_simulation_metric(rule.metric):
            if not any(_is_run_metric(rule.metric, c) for c in (base, cand)):
                raise InputError.single(
                    f"unknown simulation metric {rule.metric!r}",
                    where,
                    hint=known_names_hint(rule.metric, simulation_metric_names(base), "metrics"),
                )
            raise InputError.single(
                f"{rule.metric!r} is a metric of one run, but this diff compares simulations",
                where,
                hint=f"use a simulation metric: var95, es95, {rule.metric}.mean, "
                f"{rule.metric}.p95 ...",
            )
        return
    if is_simulation_metric(rule.metric):
        raise InputError.single(
            f"{rule.metric!r} is a simulation metric, but this diff compares single runs",
            where,
            hint="simulation metrics need a Monte Carlo model (and --paths/--seed)",
        )
    problems = []
    for c in (base, cand):
        try:
            parse_metric(rule.metric, c.protocol_names, c.asset_names, option=str(where))
            return
        except InputError as exc:
            problems.append(exc)
    raise problems[0]


def _is_run_metric(name: str, compiled: Compiled) -> bool:
    try:
        parse_metric(name, compiled.protocol_names, compiled.asset_names)
    except InputError:
        return False
    return True


def _apply(rules: Sequence[FailIf], changes: Sequence[Change]) -> tuple[FailIfResult, ...]:
    by_name = {c.metric: c for c in changes}
    return tuple(FailIfResult(r, by_name[r.metric], r.fails(by_name[r.metric])) for r in rules)


def diff_files(
    base: FilePath,
    candidate: FilePath | None,
    sets: Sequence[str],
    shocks: Sequence[str],
    liquidity: Sequence[str],
    paths: int | None,
    seed: int | None,
    rules: Sequence[FailIf],
    workers: int | None = None,
    simulation_context: Callable[[], AbstractContextManager[Any]] | None = None,
    sandbox: Sandbox | None = None,
    both: Sequence[str] = (),
) -> DiffResult:
    """``contagion diff``: the candidate (a file, or the base with ``sets``) against the base,
    on one shock path (``shocks`` or the base's) or on the base's Monte Carlo paths (when
    ``paths``/``seed`` are given or the base's shocks are a model). ``both``: ``--set``s of the
    base and the candidate alike (``--allow-extreme-shocks``).

    ``simulation_context()`` is entered only for a simulation: it yields ``(runner, set_total,
    advance)`` (the cluster of ``--scheduler`` and a progress bar), so that a diff of two runs
    starts neither."""
    from .simulate import model_of, with_overrides
    from .variants import load_compiled

    if candidate is None and not sets:
        raise InputError.single(
            "nothing to compare: give a CANDIDATE file or --set overrides",
            Location("CANDIDATE"),
            hint="e.g. contagion diff base.yaml --set protocols.aave.close_factor=0.4",
        )
    if liquidity and not shocks:
        raise InputError.single(
            "--liquidity needs --shock (it scales liquidity in the one step --shock builds)",
            Location("--liquidity"),
        )
    base_c = load_compiled(base, both, sandbox)
    cand_c = load_compiled(candidate if candidate is not None else base, [*both, *sets], sandbox)
    labels = (str(base), str(candidate) if candidate is not None else f"{base} + --set")
    simulated = (
        paths is not None
        or seed is not None
        or (not shocks and isinstance(base_c.scenario.shocks, MonteCarloModel))
    )
    if not simulated:
        path, on = build_shock_path(base_c, shocks, liquidity)
        with phase("runs", whole=True):
            return diff_runs(base_c, cand_c, labels, path, on, rules)
    if shocks:
        raise InputError.single(
            "--shock and --paths/--seed exclude each other",
            Location("--shock"),
            hint="a diff runs either one shock or the Monte Carlo paths",
        )
    model = with_overrides(model_of(base_c, str(base)), paths, seed)
    with (simulation_context or _no_context)() as (runner, set_total, advance):
        set_total(2 * model.paths)
        with phase("runs", whole=True):
            return diff_simulations(base_c, cand_c, labels, model, rules, workers, advance, runner)


@contextmanager
def _no_context() -> Iterator[tuple[None, Callable[[int], None], Callable[[int], None]]]:
    yield None, (lambda _n: None), (lambda _n: None)
