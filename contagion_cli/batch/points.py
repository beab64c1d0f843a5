"""From grid axes and a compiled scenario to batch points (names checked, indices resolved)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..compile.compiler import Compiled
from ..errors import InputError, Location, known_names_hint
from . import grid
from .grid import Axis
from .pool import Point


def asset_index(compiled: Compiled, name: str, option: str, liquidity: bool = False) -> int:
    """The index of an asset that a shock (or a liquidity multiplier) may name."""
    if name not in compiled.asset_names:
        raise InputError.single(
            f"unknown asset {name!r}",
            Location(option),
            hint=known_names_hint(name, compiled.asset_names, "assets"),
        )
    asset = compiled.scenario.assets[name]
    issuer = getattr(asset, "issuer", None)
    if issuer is not None and not liquidity:
        raise InputError.single(
            f"{name!r} is issued by {issuer!r}: its price follows its backing",
            Location(option),
            hint="shock the backing asset instead",
        )
    if liquidity and asset.market is None and asset.venues is None:
        raise InputError.single(
            f"asset {name!r} has no market, so its liquidity cannot be scaled",
            Location(option),
            hint=f"give assets.{name} a market, or leave it out of {option}",
        )
    return compiled.asset_names.index(name)


def grid_points(
    compiled: Compiled,
    shock_axes: Sequence[Axis],
    liquidity_axes: Sequence[Axis],
    variant_count: int = 1,
) -> tuple[list[Point], list[tuple[Any, ...]], list[int]]:
    """Points of the product grid ``variants x liquidity axes x shock axes`` (row-major).

    Returns the points, each point's coordinates on the shock and liquidity axes (in the order
    shocks, liquidity), and each point's variant index.
    """
    shock_idx = [asset_index(compiled, a.key, "--shock") for a in shock_axes]
    allowed = compiled.scenario.settings.allow_extreme_shocks
    for axis in shock_axes:
        grid.check_extreme(axis.key, axis.values, allowed, "--shock")
    liq_idx = [asset_index(compiled, a.key, "--liquidity", liquidity=True) for a in liquidity_axes]
    points: list[Point] = []
    coords: list[tuple[Any, ...]] = []
    variants: list[int] = []
    for v in range(variant_count):
        for liq in grid.product(liquidity_axes):
            liquidity = tuple((liq_idx[j], liquidity_axes[j].values[k]) for j, k in enumerate(liq))
            for shock in grid.product(shock_axes):
                shocks = tuple((shock_idx[j], shock_axes[j].values[k]) for j, k in enumerate(shock))
                points.append(Point(v, shocks if shock_axes else None, liquidity))
                coords.append(tuple(s for _, s in shocks) + tuple(m for _, m in liquidity))
                variants.append(v)
    return points, coords, variants
