"""``contagion simulate``: run Monte Carlo paths through the cascade and summarise the risk.

Path ``i`` is drawn from ``(seed, i)`` alone (:mod:`.sampler`) and run on its own copy of the
state (:mod:`.batch`), so a simulation gives the same numbers on any number of cores, and a
base and a candidate scenario run on the same paths see the same prices (common random
numbers: a diff measures the parameter change, not sampling noise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..compile.compiler import Compiled
from ..errors import InputError, Location, known_names_hint, quote
from ..results.metrics import Metric, default_columns, parse_metric
from ..schema.metric_names import METRIC_ALIASES
from ..schema.stochastic import MAX_PATHS, MAX_SEED, MonteCarloModel
from .pool import Batch, Point, Runner, run_batch
from .risk_metrics import RISK_METRICS, STATISTICS, Distribution, RiskSummary, probability


@dataclass(frozen=True)
class ProtocolRisk:
    """One protocol over all paths."""

    p_insolvent: float
    p_bad_debt: float
    bad_debt_usd: Distribution

    def to_dict(self) -> dict[str, Any]:
        return {
            "p_insolvent": self.p_insolvent,
            "p_bad_debt": self.p_bad_debt,
            "bad_debt_usd": self.bad_debt_usd.to_dict(),
        }


@dataclass(frozen=True)
class SimulationResult:
    """Risk metrics of a simulation, and the per-path values they were computed from."""

    scenario: str
    model: MonteCarloModel
    paths: int
    seed: int
    loss_metric: str  # the metric VaR, EVaR and ES are taken of (default bad_debt_usd)
    risk: RiskSummary
    metrics: dict[str, Distribution]  # every numeric column over the paths
    protocols: dict[str, ProtocolRisk]
    not_converged: int  # paths with a step that hit max_rounds
    columns: tuple[Metric, ...]
    values: np.ndarray  # [paths, columns]: row i is path i

    def column(self, name: str) -> np.ndarray:
        for j, metric in enumerate(self.columns):
            if metric.name == name:
                return self.values[:, j]
        raise KeyError(name)

    def lookup(self, name: str) -> float:
        """A simulation metric by name: ``var95``, ``bad_debt_usd.p99``,
        ``protocols.aave.p_insolvent``, ``protocols.aave.bad_debt_usd.mean`` ..."""
        if name in RISK_METRICS:
            return float(getattr(self.risk, name))
        if name.startswith("protocols.") and name.endswith(".p_insolvent"):
            proto = name[len("protocols.") : -len(".p_insolvent")]
            if proto in self.protocols:
                return self.protocols[proto].p_insolvent
        base, _, statistic = name.rpartition(".")
        base = METRIC_ALIASES.get(base, base)
        if base in self.metrics and statistic in STATISTICS:
            return self.metrics[base].get(statistic)
        raise KeyError(name)

    def metric_names(self) -> list[str]:
        """Every name :meth:`lookup` accepts."""
        names = list(RISK_METRICS)
        names += [f"protocols.{p}.p_insolvent" for p in self.protocols]
        names += [f"{m}.{s}" for m in self.metrics for s in STATISTICS]
        return names

    def to_dict(self, include_paths: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "model": self.model.model,
            "paths": self.paths,
            "seed": self.seed,
            "steps": self.model.steps,
            "dt_days": self.model.dt_days,
            "loss_metric": self.loss_metric,
            **self.risk.to_dict(),
            "not_converged_paths": self.not_converged,
            "protocols": {k: v.to_dict() for k, v in self.protocols.items()},
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }
        if include_paths:
            from .sweep import typed

            out["per_path"] = [
                {
                    "path": i,
                    **{m.name: typed(v, m.kind) for m, v in zip(self.columns, row, strict=True)},
                }
                for i, row in enumerate(self.values)
            ]
        return out


def model_of(compiled: Compiled, option: str = "FILE") -> MonteCarloModel:
    """The scenario's Monte Carlo model, or a clear error when it has a fixed path."""
    shocks = compiled.scenario.shocks
    if not isinstance(shocks, MonteCarloModel):
        raise InputError.single(
            "the scenario has a fixed shock path, not a Monte Carlo model",
            Location(option),
            hint="give the file 'shocks: {model: gbm, assets: {ETH: {volatility: 0.8}}}' "
            "(docs/sweeps.md, 'Monte Carlo')",
        )
    return shocks


def with_overrides(
    model: MonteCarloModel, paths: int | None = None, seed: int | None = None
) -> MonteCarloModel:
    """The model with ``--paths`` and ``--seed`` applied (checked like the file's values)."""
    if paths is not None and not 1 <= paths <= MAX_PATHS:
        raise InputError.single(
            f"expected a number of paths from 1 to {MAX_PATHS:,}, found {paths}",
            Location("--paths"),
        )
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise InputError.single(
            f"expected a seed from 0 to 2^63-1, found {seed}", Location("--seed")
        )
    update: dict[str, int] = {}
    if paths is not None:
        update["paths"] = paths
    if seed is not None:
        update["seed"] = seed
    return model.model_copy(update=update) if update else model


def simulate(
    compiled: Compiled,
    model: MonteCarloModel,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    loss_metric: str = "bad_debt_usd",
    runner: Runner | None = None,
) -> SimulationResult:
    """Run paths ``0 … model.paths−1`` of ``model`` through ``compiled`` (``runner``: see
    :func:`.batch.run_batch`)."""
    check_model_assets(model, compiled)
    loss = parse_metric(loss_metric, compiled.protocol_names, compiled.asset_names)
    columns = default_columns(compiled.protocol_names, compiled.asset_names)
    if loss.name not in {c.name for c in columns}:
        columns.append(loss)
    batch = Batch((compiled,), tuple(columns), model)
    points = [Point(0, mc_path=i) for i in range(model.paths)]
    values = run_batch(batch, points, workers, progress, runner)
    return summarise(compiled.scenario.name, model, tuple(columns), values, loss.name)


def check_model_assets(model: MonteCarloModel, compiled: Compiled) -> None:
    """Every asset the model moves must be in the scenario (a diff's candidate may lack one)."""
    for name in list(model.assets) + list(model.liquidity):
        if name not in compiled.asset_names:
            raise InputError.single(
                f"the Monte Carlo model moves {name!r}, which scenario "
                f"{quote(compiled.scenario.name)} does not have",
                Location("shocks.assets"),
                hint=known_names_hint(name, compiled.asset_names, "assets"),
            )


def summarise(
    scenario: str,
    model: MonteCarloModel,
    columns: tuple[Metric, ...],
    values: np.ndarray,
    loss_metric: str = "bad_debt_usd",
) -> SimulationResult:
    """Risk metrics from per-path rows (a pure function; tests recompute it in numpy)."""
    by_name = {m.name: values[:, j] for j, m in enumerate(columns)}
    metrics = {
        m.name: Distribution.of(values[:, j]) for j, m in enumerate(columns) if m.kind != "bool"
    }
    risk = RiskSummary.of(
        by_name[loss_metric],
        by_name["liquidated_usd"],
        by_name["insolvent_count"],
        by_name["bad_debt_usd"],
    )
    protocols = {}
    for m in columns:
        if m.scope == "protocols" and m.field == "insolvent":
            bad = by_name[f"protocols.{m.entity}.bad_debt_usd"]
            protocols[str(m.entity)] = ProtocolRisk(
                p_insolvent=probability(by_name[m.name]),
                p_bad_debt=probability(bad > 0),
                bad_debt_usd=Distribution.of(bad),
            )
    not_converged = int(np.sum(by_name["converged"] < 0.5))
    return SimulationResult(
        scenario=scenario,
        model=model,
        paths=int(values.shape[0]),
        seed=model.seed,
        loss_metric=loss_metric,
        risk=risk,
        metrics=metrics,
        protocols=protocols,
        not_converged=not_converged,
        columns=columns,
        values=values,
    )


def simulation_metric_names(compiled: Compiled) -> list[str]:
    """Every simulation metric name of a scenario (what :meth:`SimulationResult.lookup` takes)."""
    columns = default_columns(compiled.protocol_names, compiled.asset_names)
    names = list(RISK_METRICS)
    names += [f"protocols.{p}.p_insolvent" for p in compiled.protocol_names]
    names += [f"{m.name}.{s}" for m in columns if m.kind != "bool" for s in STATISTICS]
    return names


def is_simulation_metric(name: str) -> bool:
    """Whether a name is a simulation metric (VaR, a percentile ...) rather than a run's."""
    if name in RISK_METRICS or name.endswith(".p_insolvent"):
        return True
    base, _, statistic = name.rpartition(".")
    return bool(base) and statistic in STATISTICS
