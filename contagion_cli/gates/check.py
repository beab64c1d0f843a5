"""Evaluate a policy's gates on scenario files: verdicts (pass or fail, by how much, where).

All deterministic points of all gates of one scenario run as one parallel batch; each distinct
simulation runs once however many gates read it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..batch.points import grid_points
from ..batch.pool import Batch, Point, Runner, run_batch
from ..batch.simulate import (
    SimulationResult,
    is_simulation_metric,
    model_of,
    simulate,
    simulation_metric_names,
    with_overrides,
)
from ..compile.compiler import Compiled
from ..errors import InputError, Problem, known_names_hint, quote
from ..results.metrics import Metric, parse_metric
from ..schema.stochastic import MonteCarloModel, reference_problems
from .policy import Gate, Policy
from .verdict import Verdict


@dataclass(frozen=True)
class CheckReport:
    policy: str
    policy_name: str | None
    verdicts: tuple[Verdict, ...]

    @property
    def failed(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    @property
    def passed(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "policy_name": self.policy_name,
            "passed": self.passed,
            "gates": len(self.verdicts),
            "failed": len(self.failed),
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def evaluate(
    policy: Policy,
    compiled: Compiled,
    source: str,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    runner: Runner | None = None,
) -> list[Verdict]:
    """Every gate of ``policy`` on one compiled scenario (``runner``: see
    :func:`.batch.run_batch`)."""
    names = (compiled.protocol_names, compiled.asset_names)
    problems: list[Problem] = []
    run_gates: list[tuple[Gate, Metric]] = []
    sim_gates: list[tuple[Gate, MonteCarloModel]] = []
    # the points of every deterministic gate: (first row, rows, coordinates of each row)
    points: list[Point] = []
    spans: list[tuple[int, int, list[tuple[Any, ...]]]] = []
    for gate in policy.gates:
        where: tuple[str | int, ...] = ("gates", gate.index, "check")
        try:
            if gate.simulate is not None or is_simulation_metric(gate.condition.metric):
                sim_gates.append((gate, _model(gate, compiled)))
                continue
            metric = parse_metric(gate.condition.metric, *names)
            where = ("gates", gate.index, "shock")
            pts, coords, _ = grid_points(compiled, gate.shock_axes, gate.liquidity_axes)
        except InputError as exc:
            problems += [
                Problem(p.message, gate.location, p.path or where, p.hint) for p in exc.problems
            ]
            continue
        run_gates.append((gate, metric))
        spans.append((len(points), len(pts), coords))
        points += pts
    if problems:
        raise InputError(problems)

    # --- deterministic gates: one batch ------------------------------------------------------
    columns: list[Metric] = []
    for _, metric in run_gates:
        if metric not in columns:
            columns.append(metric)
    values = run_batch(Batch((compiled,), tuple(columns)), points, workers, progress, runner)

    verdicts: dict[int, Verdict] = {}
    for (gate, metric), (start, count, coords) in zip(run_gates, spans, strict=True):
        col = values[start : start + count, columns.index(metric)]
        verdicts[gate.index] = _verdict(
            gate, metric.kind, source, compiled, [float(v) for v in col], coords
        )

    # --- simulation gates: one simulation per distinct model ---------------------------------
    sims: dict[str, SimulationResult] = {}
    for gate, model in sim_gates:
        key = model.model_dump_json()
        if key not in sims:
            sims[key] = simulate(compiled, model, workers, runner=runner)
        sim = sims[key]
        try:
            value = sim.lookup(gate.condition.metric)
        except KeyError:
            raise InputError.single(
                f"unknown simulation metric {gate.condition.metric!r}",
                gate.location,
                path=("gates", gate.index, "check"),
                hint=known_names_hint(gate.condition.metric, sim.metric_names(), "metrics"),
            ) from None
        at = f"on {model.paths:,} Monte Carlo paths (seed {model.seed})"
        verdicts[gate.index] = _verdict(gate, "float", source, compiled, [value], [()], at)
    return [verdicts[g.index] for g in policy.gates]


def _model(gate: Gate, compiled: Compiled) -> MonteCarloModel:
    metric = gate.condition.metric
    if not is_simulation_metric(metric):
        try:
            parse_metric(metric, compiled.protocol_names, compiled.asset_names)
        except InputError:
            raise InputError.single(
                f"unknown simulation metric {metric!r}",
                gate.location,
                hint=known_names_hint(metric, simulation_metric_names(compiled), "metrics"),
            ) from None
        raise InputError.single(
            f"{metric!r} is a metric of one run; a simulation gate needs a simulation metric",
            gate.location,
            hint=f"use e.g. {metric}.p95, {metric}.max or var95",
        )
    if isinstance(gate.simulate, MonteCarloModel):
        problems = [
            Problem(message, gate.location, ("gates", gate.index, "simulate", *where), hint)
            for where, message, hint in reference_problems(gate.simulate, compiled.scenario.assets)
        ]
        if problems:
            raise InputError(problems)
        return gate.simulate
    try:
        model = model_of(compiled, compiled.scenario.name)
    except InputError:
        raise InputError.single(
            f"{gate.condition.metric!r} needs Monte Carlo paths, and scenario "
            f"{quote(compiled.scenario.name)} has a fixed shock path",
            gate.location,
            hint="give the gate a whole model: simulate: {model: gbm, assets: {ETH: "
            "{volatility: 0.8}}, paths: 1000}",
        ) from None
    over = gate.simulate
    return with_overrides(
        model,
        over.paths if over is not None else None,
        over.seed if over is not None else None,
    )


def _verdict(
    gate: Gate,
    kind: str,
    source: str,
    compiled: Compiled,
    values: Sequence[float],
    coords: Sequence[tuple[Any, ...]],
    at: str | None = None,
) -> Verdict:
    cond = gate.condition
    k = cond.worst(list(values))
    value = values[k]
    failing = sum(1 for v in values if not cond.holds(v))
    if at is None:
        at = "at " + _describe_point(gate, coords[k]) if coords[k] else "on the file's shock path"
    return Verdict(
        condition=cond,
        kind=kind,
        value=value,
        passed=failing == 0,
        source=gate.name,
        scenario=source,
        scenario_name=compiled.scenario.name,
        at=at,
        points=len(values),
        failing_points=failing,
        line=gate.location.line,
    )


def _describe_point(gate: Gate, coords: tuple[Any, ...]) -> str:
    parts = []
    axes = list(gate.shock_axes) + list(gate.liquidity_axes)
    for axis, value in zip(axes, coords, strict=True):
        if axis.kind == "shock":
            parts.append(f"{axis.key} {value * 100:+.4g}%")
        else:
            parts.append(f"{axis.key} liquidity x{value:g}")
    return ", ".join(parts)


def check_files(
    policy: Policy,
    files: Sequence[tuple[str, Compiled]],
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    runner: Runner | None = None,
) -> CheckReport:
    """Verdicts of every gate on every file."""
    verdicts: list[Verdict] = []
    for source, compiled in files:
        verdicts += evaluate(policy, compiled, source, workers, progress, runner)
    return CheckReport(policy.source, policy.name, tuple(verdicts))
