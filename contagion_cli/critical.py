"""``contagion critical``: the smallest shock to one asset at which a metric crosses a threshold.

A scan of the shock range runs in parallel (:mod:`.batch`) and shows whether the metric is
monotone in the shock; bisection then refines the first scan interval where the threshold is
crossed, to ``tolerance``. When the metric is not monotone the answer is still the first
crossing the scan can see, but a smaller crossing between two scan points cannot be ruled out:
the result says so (``monotone: false`` and where the metric turned), never silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import grid
from .batch import Batch, Point, run_batch, run_point
from .compiler import Compiled
from .errors import InputError, Location
from .metrics import parse_metric
from .points import asset_index

#: Relative slack of the monotonicity check (rounding noise is not a turn).
MONOTONE_RTOL = 1e-9
#: Bisection stops after this many halvings even if the tolerance is tiny.
MAX_BISECTIONS = 60


@dataclass(frozen=True)
class Turn:
    """Where a metric moved against the expected direction: from ``(shock_a, value_a)`` to
    ``(shock_b, value_b)`` with ``|shock_b| > |shock_a|``."""

    shock_a: float
    value_a: float
    shock_b: float
    value_b: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class CriticalResult:
    scenario: str
    asset: str
    metric: str
    direction: str  # "above" or "below"
    threshold: float
    start_price: float
    range_from: float
    range_to: float
    tolerance: float
    status: str  # "found", "at_start" (crossed with no shock) or "not_crossed"
    critical_shock: float | None  # the smallest shock at which the metric crosses
    critical_price: float | None
    value_at_critical: float | None
    last_safe_shock: float | None  # the largest shock (within tolerance) that does not cross
    value_at_safe: float | None
    bisections: int
    monotone: bool
    turns: tuple[Turn, ...]
    scan_shocks: tuple[float, ...] = field(repr=False)
    scan_values: tuple[float, ...] = field(repr=False)

    @property
    def condition(self) -> str:
        op = ">" if self.direction == "above" else "<"
        return f"{self.metric} {op} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        skip = ("turns", "scan_shocks", "scan_values")
        out = {k: _json_safe(v) for k, v in self.__dict__.items() if k not in skip}
        out["condition"] = self.condition
        out["turns"] = [t.to_dict() for t in self.turns]
        out["scan"] = [
            {"shock": s, "value": v if math.isfinite(v) else None}
            for s, v in zip(self.scan_shocks, self.scan_values, strict=True)
        ]
        return out


def find_critical(
    compiled: Compiled,
    asset: str,
    metric: str,
    threshold: float,
    direction: str = "above",
    range_from: float = 0.0,
    range_to: float = -0.99,
    tolerance: float = 1e-4,
    scan: int = 100,
    fixed_shocks: Sequence[str] = (),
    liquidity: Sequence[str] = (),
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> CriticalResult:
    """Scan, check monotonicity, bisect (see the module docstring)."""
    check_options(range_from, range_to, tolerance, scan)
    a = asset_index(compiled, asset, "--asset")
    m = parse_metric(metric, compiled.protocol_names, compiled.asset_names)
    others = []
    for text in fixed_shocks:
        axis = grid.parse_shock_axis(text)
        _single(axis, "--shock")
        if axis.key == asset:
            raise InputError.single(
                f"{asset!r} is the --asset being searched; it cannot also be given a --shock",
                Location("--shock"),
            )
        others.append((asset_index(compiled, axis.key, "--shock"), axis.values[0]))
    liq = []
    for text in liquidity:
        axis = grid.parse_liquidity_axis(text)
        _single(axis, "--liquidity")
        liq.append((asset_index(compiled, axis.key, "--liquidity", liquidity=True), axis.values[0]))

    def point(s: float) -> Point:
        return Point(0, ((a, s), *others), tuple(liq))

    def crossed(v: float) -> bool:
        return v > threshold if direction == "above" else v < threshold

    shocks = [
        round(range_from + (range_to - range_from) * k / (scan - 1), grid.DECIMALS)
        for k in range(scan)
    ]
    batch = Batch((compiled,), (m,))
    values = [
        float(v) for v in run_batch(batch, [point(s) for s in shocks], workers, progress)[:, 0]
    ]
    sign = 1.0 if direction == "above" else -1.0
    turns = _turns(shocks, values, sign)

    def value(s: float) -> float:
        return m.read(run_point(compiled, point(s)))

    first = next((k for k, v in enumerate(values) if crossed(v)), None)
    start_price = float(compiled.scenario.assets[asset].price or 0.0)  # not issued: has a price
    common: dict[str, Any] = dict(
        scenario=compiled.scenario.name,
        asset=asset,
        metric=m.name,
        direction=direction,
        threshold=threshold,
        start_price=start_price,
        range_from=range_from,
        range_to=range_to,
        tolerance=tolerance,
        scan_shocks=tuple(shocks),
        scan_values=tuple(values),
    )
    if first is None:
        return CriticalResult(
            **common,
            status="not_crossed",
            critical_shock=None,
            critical_price=None,
            value_at_critical=None,
            last_safe_shock=shocks[-1],
            value_at_safe=values[-1],
            bisections=0,
            monotone=not turns,
            turns=tuple(turns),
        )
    if first == 0:
        return CriticalResult(
            **common,
            status="at_start",
            critical_shock=shocks[0],
            critical_price=start_price * (1 + shocks[0]),
            value_at_critical=values[0],
            last_safe_shock=None,
            value_at_safe=None,
            bisections=0,
            monotone=not turns,
            turns=tuple(turns),
        )
    lo, hi = shocks[first - 1], shocks[first]
    v_lo, v_hi = values[first - 1], values[first]
    n = 0
    while abs(hi - lo) > tolerance and n < MAX_BISECTIONS:
        mid = (lo + hi) / 2.0
        v_mid = value(mid)
        n += 1
        # inside a monotone bracket the midpoint's value lies between the ends' values
        if sign * (v_mid - v_lo) < -_slack(v_lo):
            turns.append(Turn(lo, v_lo, mid, v_mid))
        elif sign * (v_hi - v_mid) < -_slack(v_mid):
            turns.append(Turn(mid, v_mid, hi, v_hi))
        if crossed(v_mid):
            hi, v_hi = mid, v_mid
        else:
            lo, v_lo = mid, v_mid
    return CriticalResult(
        **common,
        status="found",
        critical_shock=hi,
        critical_price=start_price * (1 + hi),
        value_at_critical=v_hi,
        last_safe_shock=lo,
        value_at_safe=v_lo,
        bisections=n,
        monotone=not turns,
        turns=tuple(turns),
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _slack(v: float) -> float:
    return MONOTONE_RTOL * max(1.0, abs(v))


def _turns(shocks: Sequence[float], values: Sequence[float], sign: float) -> list[Turn]:
    out = []
    for k in range(1, len(values)):
        a, b = values[k - 1], values[k]
        if math.isfinite(a) and math.isfinite(b) and sign * (b - a) < -_slack(a):
            out.append(Turn(shocks[k - 1], a, shocks[k], b))
    return out


def _single(axis: grid.Axis, option: str) -> None:
    if len(axis.values) != 1:
        raise InputError.single(
            f"{axis.key}: expected one value, found {len(axis.values)}",
            Location(option),
            hint="critical searches one asset; other shocks are fixed values",
        )


def check_options(range_from: float, range_to: float, tolerance: float, scan: int) -> None:
    """Bad values of --from, --to, --tolerance and --scan (exit 2)."""
    for value, option in ((range_from, "--from"), (range_to, "--to")):
        if not (math.isfinite(value) and -1.0 < value <= 100.0):
            raise InputError.single(
                f"expected a return > -1 and <= 100, found {value:g}",
                Location(option),
                hint="returns are fractions: -0.99 is a 99% fall",
            )
    if range_from == range_to:
        raise InputError.single(
            f"--from and --to are both {range_from:g}: the range is empty", Location("--to")
        )
    if not (math.isfinite(tolerance) and 0.0 < tolerance < abs(range_to - range_from)):
        raise InputError.single(
            f"expected a tolerance > 0 and smaller than the range, found {tolerance:g}",
            Location("--tolerance"),
            hint="1e-4 finds the shock to 0.01 percentage points",
        )
    if not 3 <= scan <= 100_000:
        raise InputError.single(
            f"expected from 3 to 100,000 scan points, found {scan}", Location("--scan")
        )
