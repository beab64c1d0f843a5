"""``contagion sweep``: one row of summary metrics per point of a grid of shocks, liquidity
multipliers and parameter values, run in one process on all cores (:mod:`.batch`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, Location
from ..load.files import Sandbox
from ..results.metrics import Metric, default_columns, parse_metric
from . import grid
from .grid import Axis
from .points import grid_points
from .pool import Batch, Runner, run_batch
from .variants import load_variants


@dataclass(frozen=True)
class SweepResult:
    """The rows of a sweep: coordinates (one value per axis) and metric values per point."""

    scenario: str
    axes: tuple[str, ...]  # axis labels: shock.ETH, liquidity.ETH, set.<path>
    coords: tuple[tuple[Any, ...], ...]  # per point, one value per axis
    columns: tuple[Metric, ...]
    values: np.ndarray  # [points, columns]

    def __len__(self) -> int:
        return len(self.coords)

    def column(self, name: str) -> np.ndarray:
        """The values of one metric column."""
        for j, metric in enumerate(self.columns):
            if metric.name == name:
                return self.values[:, j]
        raise KeyError(name)

    def axis(self, label: str) -> list[Any]:
        j = self.axes.index(label)
        return [c[j] for c in self.coords]

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per point: axis labels, then metric names (JSON-safe values)."""
        out = []
        for coords, values in zip(self.coords, self.values, strict=True):
            row: dict[str, Any] = dict(zip(self.axes, coords, strict=True))
            for metric, value in zip(self.columns, values, strict=True):
                row[metric.name] = typed(value, metric.kind)
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "points": len(self),
            "axes": list(self.axes),
            "columns": [*self.axes, *(m.name for m in self.columns)],
            "rows": self.rows(),
        }


def typed(value: float, kind: str) -> Any:
    """A float cell as its JSON type: int, bool, float, or None for NaN."""
    if not math.isfinite(value):
        return None
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    return float(value)


def parse_axes(
    shocks: Sequence[str], liquidity: Sequence[str], sets: Sequence[str]
) -> tuple[list[Axis], list[Axis], list[Axis]]:
    """The axes of the command line (each checked for bad values)."""
    shock_axes = [grid.parse_shock_axis(t) for t in shocks]
    liquidity_axes = [grid.parse_liquidity_axis(t) for t in liquidity]
    set_axes = [grid.parse_set_axis(t) for t in sets]
    every = [*shock_axes, *liquidity_axes, *set_axes]
    if not every:
        raise InputError.single(
            "nothing to sweep",
            Location("--shock"),
            hint="give at least one axis: --shock ETH=-0.05:-0.80:0.05, --liquidity ETH=1,0.5 "
            "or --set path=v1,v2",
        )
    grid.check_unique(every)
    grid.check_size(every)
    return shock_axes, liquidity_axes, set_axes


def run_sweep(
    path: str | Path,
    shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
    sets: Sequence[str] = (),
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_plan: Callable[[int], None] | None = None,
    extra_metrics: Sequence[str] = (),
    runner: Runner | None = None,
    sandbox: Sandbox | None = None,
    fixed_sets: Sequence[str] = (),
) -> SweepResult:
    """Run the product grid of the axes; ``on_plan(n_points)`` is called before running.

    ``extra_metrics`` (e.g. ``--metric``) are checked before anything runs and added as
    columns when the default columns lack them.

    Point order: set axes outermost, then liquidity axes, then shock axes, each in the order
    given (the last ``--shock`` varies fastest). ``fixed_sets`` apply to every point
    (``--allow-extreme-shocks``).
    """
    shock_axes, liquidity_axes, set_axes = parse_axes(shocks, liquidity, sets)
    variants = load_variants(path, fixed_sets, set_axes, sandbox)
    base = variants.base
    points, coords, point_variant = grid_points(
        base, shock_axes, liquidity_axes, len(variants.compiled)
    )
    columns = default_columns(
        base.protocol_names, base.asset_names, [a.key for a in shock_axes], aliases=True
    )
    for name in extra_metrics:
        metric = parse_metric(name, base.protocol_names, base.asset_names)
        if metric not in columns:
            columns.append(metric)
    if on_plan is not None:
        on_plan(len(points))
    batch = Batch(variants.compiled, tuple(columns))
    values = run_batch(batch, points, workers, progress, runner)
    labels = [a.label for a in set_axes] + [a.label for a in shock_axes + liquidity_axes]
    full_coords = tuple(
        tuple(set_axes[j].values[k] for j, k in enumerate(variants.combos[v])) + c
        for c, v in zip(coords, point_variant, strict=True)
    )
    return SweepResult(base.scenario.name, tuple(labels), full_coords, tuple(columns), values)
