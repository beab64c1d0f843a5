"""``contagion clusters``: the liquidations each price level of one asset would trigger, with and
without the cascade -- where the liquidation walls are.

At each level the asset is shocked in one step (every other price unchanged) and the scenario
runs twice:

* **without the cascade**: the first round only (``max_rounds = 1``): the liquidations the price
  move alone triggers, before any liquidation selling moves a price;
* **with the cascade**: to the fixed point, as ``contagion run --shock ASSET=level`` would.

The *wall* at a level is what crossing into it adds: the first-round liquidations there minus
those at the level before (the first level is compared with no shock at all), i.e. the positions
that become liquidatable between the two prices. A tall wall is a price at which a block of
positions becomes liquidatable at once. (Walls count positions, not dollars: the USD a first
round repays is capped by each position's collateral, so it can shrink at deeper levels.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..compile.compiler import Compiled
from ..errors import InputError, Location
from ..results.metrics import parse_metric
from . import grid
from .points import asset_index
from .pool import Batch, Point, run_batch

DEFAULT_LEVELS = "-0.02:-0.80:0.02"


@dataclass(frozen=True)
class Level:
    shock: float
    price: float
    first_round_liquidations: int
    first_round_repaid_usd: float
    wall_liquidations: int  # first-round liquidations added by crossing into this level
    cascade_liquidations: int
    cascade_repaid_usd: float
    cascade_bad_debt_usd: float
    cascade_final_price: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ClustersResult:
    scenario: str
    asset: str
    start_price: float
    levels: tuple[Level, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "asset": self.asset,
            "start_price": self.start_price,
            "levels": [lv.to_dict() for lv in self.levels],
        }

    def rows(self) -> list[dict[str, Any]]:
        return [lv.to_dict() for lv in self.levels]


def liquidation_clusters(
    compiled: Compiled,
    asset: str,
    levels: str = DEFAULT_LEVELS,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ClustersResult:
    """Both runs at every level of ``levels`` (a grid value list such as ``-0.02:-0.80:0.02``)."""
    a = asset_index(compiled, asset, "--asset")
    shocks = _levels(levels)
    grid.check_extreme(asset, shocks, compiled.scenario.settings.allow_extreme_shocks, "--levels")
    first_round = dataclasses.replace(compiled, params=compiled.params._replace(max_rounds=1))
    names = ["liquidations", "liquidated_usd", "bad_debt_usd", f"assets.{asset}.final_price"]
    columns = tuple(parse_metric(n, compiled.protocol_names, compiled.asset_names) for n in names)
    batch = Batch((compiled, first_round), columns)
    grid_shocks = [0.0, *shocks]
    points = [Point(v, ((a, s),)) for s in grid_shocks for v in (0, 1)]
    values = run_batch(batch, points, workers, progress)
    start = float(compiled.scenario.assets[asset].price or 0.0)
    out = []
    for k in range(1, len(grid_shocks)):
        full, first = values[2 * k], values[2 * k + 1]
        prev_first = values[2 * k - 1]
        out.append(
            Level(
                shock=grid_shocks[k],
                price=start * (1.0 + grid_shocks[k]),
                first_round_liquidations=int(first[0]),
                first_round_repaid_usd=float(first[1]),
                wall_liquidations=int(first[0] - prev_first[0]),
                cascade_liquidations=int(full[0]),
                cascade_repaid_usd=float(full[1]),
                cascade_bad_debt_usd=float(full[2]),
                cascade_final_price=float(full[3]),
            )
        )
    return ClustersResult(compiled.scenario.name, asset, start, tuple(out))


def _levels(text: str) -> Sequence[float]:
    values = grid.parse_values(text, "--levels", "levels")
    for v in values:
        if not -1.0 < v <= 100.0 or v == 0.0:
            raise InputError.single(
                f"a level must be a non-zero return > -1 and <= 100, found {v:g}",
                Location("--levels"),
                hint="levels are shocks of the asset: -0.02:-0.80:0.02 is -2% to -80%",
            )
    ordered = sorted(values, key=abs)
    if list(values) != ordered or len(set(values)) != len(values):
        raise InputError.single(
            "levels must move away from the start price, without repeats",
            Location("--levels"),
            hint="e.g. -0.02:-0.80:0.02 (down) or 0.02:0.50:0.02 (up, for short positions)",
        )
    return values
