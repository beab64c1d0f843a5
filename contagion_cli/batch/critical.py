"""``contagion critical``: the smallest shock to one asset at which a metric crosses a threshold.

A scan of the shock range runs in parallel (:mod:`.batch`) and shows whether the metric is
monotone in the shock; bisection then refines the first scan interval where the threshold is
crossed, to ``tolerance``.

When the metric is not monotone, a crossing can hide between two scan points (a cascade can
put bad debt in a window narrower than the scan's spacing). The search then **refines**: it
rescans ``[from, answer]`` at ten times the density, bisects the first crossing it finds, and
repeats until a rescan no longer moves the answer, the spacing would drop below the tolerance,
or the next rescan would exceed ``refine`` points in all. Even then a smaller crossing between
the final scan's points cannot be ruled out: the result says so (``monotone: false``,
``may_cross_earlier: true``, the final ``spacing``), never silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..compile.compiler import Compiled
from ..errors import InputError, Location
from ..results.metrics import parse_metric
from . import grid
from .points import asset_index
from .pool import Batch, Point, run_batch, run_point

#: Relative slack of the monotonicity check (rounding noise is not a turn).
MONOTONE_RTOL = 1e-9
#: Bisection stops after this many halvings even if the tolerance is tiny.
MAX_BISECTIONS = 60
#: Points the adaptive rescans of a non-monotone metric may run in all (``--refine``).
REFINE_POINTS = 10_000
#: Each rescan is this many times denser than the one before.
REFINE_FACTOR = 10


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
class Refinement:
    """One rescan of ``[range_from, previous answer]`` at ``spacing`` (a return)."""

    spacing: float
    points: int
    critical_shock: float | None  # the answer after this rescan
    moved: bool  # whether this rescan found an earlier crossing

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
    refinements: tuple[Refinement, ...] = ()
    spacing: float = 0.0  # the spacing of the finest scan that covered [from, answer]
    refine_budget: int = REFINE_POINTS
    stopped: str = ""  # why refining stopped: "settled", "budget", "tolerance" ("" if none)

    @property
    def may_cross_earlier(self) -> bool:
        """True when a smaller crossing between scan points cannot be ruled out."""
        return not self.monotone and self.status != "at_start"

    @property
    def scan_points(self) -> int:
        """Points of every scan: the first and each rescan (bisections not counted)."""
        return len(self.scan_shocks) + sum(r.points for r in self.refinements)

    @property
    def condition(self) -> str:
        op = ">" if self.direction == "above" else "<"
        return f"{self.metric} {op} {self.threshold:g}"

    def to_dict(self) -> dict[str, Any]:
        skip = ("turns", "scan_shocks", "scan_values", "refinements")
        out = {k: _json_safe(v) for k, v in self.__dict__.items() if k not in skip}
        out["condition"] = self.condition
        out["may_cross_earlier"] = self.may_cross_earlier
        out["scan_points"] = self.scan_points
        out["refinements"] = [r.to_dict() for r in self.refinements]
        out["turns"] = [t.to_dict() for t in self.turns]
        out["scan"] = [
            {"shock": s, "value": v if math.isfinite(v) else None}
            for s, v in zip(self.scan_shocks, self.scan_values, strict=True)
        ]
        return out


def threshold_of(above: float | None, below: float | None) -> tuple[float, str]:
    """``--above`` / ``--below`` as (threshold, direction): exactly one, and finite."""
    if (above is None) == (below is None):
        raise InputError.single(
            "give exactly one of --above and --below",
            Location("--above"),
            hint="e.g. --metric bad_debt_usd --above 0",
        )
    value, direction = (above, "above") if above is not None else (below, "below")
    assert value is not None
    if not math.isfinite(value):
        raise InputError.single(
            f"expected a finite threshold, found {value}", Location(f"--{direction}")
        )
    return float(value), direction


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
    refine: int = REFINE_POINTS,
) -> CriticalResult:
    """Scan, check monotonicity, bisect, refine (see the module docstring)."""
    check_options(range_from, range_to, tolerance, scan, refine)
    allowed = compiled.scenario.settings.allow_extreme_shocks
    for value, option in ((range_from, "--from"), (range_to, "--to")):
        grid.check_extreme(asset, [value], allowed, option)
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
        grid.check_extreme(axis.key, axis.values, allowed, "--shock")
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

    batch = Batch((compiled,), (m,))

    def scan_values(points: Sequence[float]) -> list[float]:
        return [
            float(v) for v in run_batch(batch, [point(s) for s in points], workers, progress)[:, 0]
        ]

    def value(s: float) -> float:
        return m.read(run_point(compiled, point(s)))

    sign = 1.0 if direction == "above" else -1.0
    shocks = [
        round(range_from + (range_to - range_from) * k / (scan - 1), grid.DECIMALS)
        for k in range(scan)
    ]
    values = scan_values(shocks)
    turns = _turns(shocks, values, sign)

    def bisect(
        lo: float, v_lo: float, hi: float, v_hi: float
    ) -> tuple[tuple[float, float, float, float], int]:
        """Halve ``[lo, hi]`` (``lo`` does not cross, ``hi`` does) down to the tolerance:
        ``((lo, v_lo, hi, v_hi), halvings)``."""
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
        return (lo, v_lo, hi, v_hi), n

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
        refine_budget=refine,
    )
    spacing = abs(range_to - range_from) / (scan - 1)
    first = next((k for k, v in enumerate(values) if crossed(v)), None)
    if first == 0:  # nothing can cross before the start of the range
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
            spacing=spacing,
        )
    found: tuple[float, float, float, float] | None = None  # (lo, v_lo, hi, v_hi)
    bisections = 0
    if first is not None:
        found, n = bisect(shocks[first - 1], values[first - 1], shocks[first], values[first])
        bisections += n

    # a non-monotone metric can cross between two scan points: rescan [from, answer] denser
    refinements: list[Refinement] = []
    stopped, used = "", 0
    step_sign = 1.0 if range_to > range_from else -1.0
    while turns:
        finer = spacing / REFINE_FACTOR
        if finer < tolerance * (1 - 1e-9):
            stopped = "tolerance"
            break
        end = found[2] if found is not None else range_to
        reach = abs(end - range_from)
        count = math.floor(reach / finer + 1e-9) + 1
        points = [
            s
            for s in (
                round(range_from + step_sign * finer * k, grid.DECIMALS) for k in range(count)
            )
            if found is None or abs(s - range_from) < reach
        ]
        if used + len(points) > refine:
            stopped = "budget"
            break
        fine = scan_values(points)
        used += len(points)
        spacing = finer
        turns.extend(_turns(points, fine, sign))
        k = next((k for k, v in enumerate(fine) if crossed(v)), None)
        old = found[2] if found is not None else None
        if (
            k is not None
            and k > 0
            and (found is None or abs(points[k] - range_from) < abs(found[0] - range_from))
        ):
            found, n = bisect(points[k - 1], fine[k - 1], points[k], fine[k])
            bisections += n
            refinements.append(Refinement(finer, len(points), found[2], True))
            continue
        refinements.append(Refinement(finer, len(points), old, False))
        stopped = "settled"
        break
    extra = dict(
        bisections=bisections,
        monotone=not turns,
        turns=tuple(turns),
        refinements=tuple(refinements),
        spacing=spacing,
        stopped=stopped,
    )
    if found is None:
        return CriticalResult(
            **common,
            **extra,
            status="not_crossed",
            critical_shock=None,
            critical_price=None,
            value_at_critical=None,
            last_safe_shock=shocks[-1],
            value_at_safe=values[-1],
        )
    lo, v_lo, hi, v_hi = found
    return CriticalResult(
        **common,
        **extra,
        status="found",
        critical_shock=hi,
        critical_price=start_price * (1 + hi),
        value_at_critical=v_hi,
        last_safe_shock=lo,
        value_at_safe=v_lo,
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


def check_options(
    range_from: float, range_to: float, tolerance: float, scan: int, refine: int = REFINE_POINTS
) -> None:
    """Bad values of --from, --to, --tolerance, --scan and --refine (exit 2)."""
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
    if not 0 <= refine <= 10_000_000:
        raise InputError.single(
            f"expected from 0 to 10,000,000 refinement points, found {refine}",
            Location("--refine"),
            hint="0 turns the rescans of a non-monotone metric off",
        )
