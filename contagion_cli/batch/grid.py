"""Parse the axes of a sweep: ``--shock ETH=-0.05:-0.80:0.05``, ``--liquidity ETH=1,0.5``,
``--set path=v1,v2,v3``; several axes make a product grid.

Pure parsing: text in, frozen :class:`Axis` objects out; nothing here knows a scenario. A
value list is comma-separated; each item is a number (``-0.35`` or ``-35%``) or a range
``start:stop:step`` that includes ``stop`` when the steps land on it. The step's sign does not
matter: it always walks from start towards stop (``-0.05:-0.80:0.05`` goes down).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from ..errors import InputError, Location
from ..load.overrides import parse_assignment, parse_number
from ..load.yaml import parse_scalar
from ..schema.returns import extreme, extreme_message

#: Most points one grid may have by default (a typo of a step 1e-7 should not build millions of
#: points for a minute before anything runs); ``contagion sweep --max-points N`` raises it.
MAX_POINTS = 1_000_000
_LIMIT: ContextVar[int] = ContextVar("contagion_max_points", default=MAX_POINTS)
#: Grid values are rounded to this many decimals: 0.05 * 3 is 0.15, not 0.15000000000000002.
DECIMALS = 12


def max_points() -> int:
    """The cap on the values of an axis and the points of a grid in force now."""
    return _LIMIT.get()


@contextmanager
def point_limit(limit: int | None) -> Iterator[None]:
    """Run the block with another cap (``--max-points``); None keeps the one in force."""
    if limit is None:
        yield
        return
    token = _LIMIT.set(limit)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def _limit_hint(limit: int) -> str:
    return (
        f"or, if you mean it, raise the cap with contagion sweep --max-points N (now {limit:,}; "
        "a policy gate cannot raise it)"
    )


@dataclass(frozen=True)
class Axis:
    """One axis of a grid: ``kind`` is ``shock``, ``liquidity`` or ``set``."""

    kind: str
    key: str  # the asset (shock, liquidity) or the scenario path (set)
    values: tuple[Any, ...]
    texts: tuple[str, ...] = ()  # set: each value as typed (applied with --set key=text)

    @property
    def label(self) -> str:
        """The column name of the axis: ``shock.ETH``, ``liquidity.ETH``, ``set.a.b``."""
        return f"{self.kind}.{self.key}"

    def __len__(self) -> int:
        return len(self.values)


def parse_values(text: str, option: str, what: str) -> tuple[float, ...]:
    """``-0.1,-0.2:-0.5:0.1`` -> (-0.1, -0.2, -0.3, -0.4, -0.5)."""
    values: list[float] = []
    for item in text.split(","):
        if not item.strip():
            raise InputError.single(
                f"{what}: empty value in {text!r}",
                Location(option),
                hint="separate values with single commas, e.g. -0.1,-0.2,-0.3",
            )
        if ":" in item:
            values.extend(_range(item, option, what))
        else:
            values.append(round(parse_number(item, option, what), DECIMALS))
        limit = max_points()
        if len(values) > limit:
            raise InputError.single(
                f"{what}: more than {limit:,} values",
                Location(option),
                hint="use larger steps, " + _limit_hint(limit),
            )
    return tuple(values)


def _range(item: str, option: str, what: str) -> list[float]:
    parts = item.split(":")
    if len(parts) != 3:
        raise InputError.single(
            f"{what}: expected a range START:STOP:STEP, found {item.strip()!r}",
            Location(option),
            hint="for example -0.05:-0.80:0.05 (both ends included when the steps land on them)",
        )
    start, stop, step = (parse_number(p, option, what) for p in parts)
    if step == 0:
        raise InputError.single(
            f"{what}: the step of {item.strip()!r} is 0", Location(option), hint="use e.g. 0.05"
        )
    span = abs(stop - start)
    count = math.floor(span / abs(step) + 1e-9) + 1
    limit = max_points()
    if count > limit:  # refused before a single value is built
        coarser = 10 ** math.ceil(math.log10(span / max(1, limit - 1)))
        fits = math.floor(span / coarser + 1e-9) + 1
        raise InputError.single(
            f"{what}: {item.strip()!r} has {count:,} values; at most {limit:,}",
            Location(option),
            hint=f"use a larger step (a step of {coarser:g} gives {fits:,} values), "
            + _limit_hint(limit),
        )
    direction = 1.0 if stop >= start else -1.0
    return [round(start + direction * abs(step) * k, DECIMALS) for k in range(count)]


def parse_shock_axis(text: str, option: str = "--shock") -> Axis:
    """``ETH=-0.05:-0.80:0.05`` -> a shock axis (returns must be > -1 and <= 100)."""
    asset, raw = parse_assignment(text, option)
    values = parse_values(raw, option, asset)
    for v in values:
        if not -1.0 < v <= 100.0:
            raise InputError.single(
                f"{asset}: a return must be > -1 (-100%) and <= 100, found {v:g}",
                Location(option),
                hint="returns are fractions: -0.35 is a 35% fall",
            )
    return Axis("shock", asset, values)


def check_extreme(key: str, values: Sequence[float], allowed: bool, option: str) -> None:
    """Refuse a return above +500 % (the typo of a fall) unless the scenario allows it
    (``settings.allow_extreme_shocks`` or ``--allow-extreme-shocks``; schema/returns.py)."""
    for v in values:
        if extreme(v, allowed):
            message, hint = extreme_message(v)
            raise InputError.single(f"{key}: {message}", Location(option), hint=hint)


def parse_liquidity_axis(text: str, option: str = "--liquidity") -> Axis:
    """``ETH=1,0.5,0.25`` -> a liquidity-multiplier axis (multipliers must be > 0)."""
    asset, raw = parse_assignment(text, option)
    values = parse_values(raw, option, asset)
    for v in values:
        if not 0.0 < v <= 1e6:
            raise InputError.single(
                f"{asset}: a liquidity multiplier must be > 0 and <= 1e6, found {v:g}",
                Location(option),
                hint="1 keeps the market as it is, 0.5 halves its depth",
            )
    return Axis("liquidity", asset, values)


def parse_set_axis(text: str, option: str = "--set") -> Axis:
    """``path=v1,v2,v3`` -> a parameter axis; each value is read like a YAML scalar."""
    key, raw = parse_assignment(text, option)
    texts = tuple(t.strip() for t in raw.split(","))
    if any(not t for t in texts):
        raise InputError.single(
            f"{key}: empty value in {raw!r}",
            Location(option),
            hint="separate values with single commas, e.g. 0.80,0.825,0.85",
        )
    return Axis("set", key, tuple(parse_scalar(t) for t in texts), texts)


def check_unique(axes: Sequence[Axis]) -> None:
    """Two axes of the same kind and key would make an ambiguous grid."""
    seen: set[tuple[str, str]] = set()
    for axis in axes:
        if (axis.kind, axis.key) in seen:
            raise InputError.single(
                f"{axis.key!r} is given twice",
                Location(f"--{axis.kind}"),
                hint="list all values in one option: ETH=-0.1,-0.2 or a range -0.1:-0.5:0.1",
            )
        seen.add((axis.kind, axis.key))


def grid_size(axes: Sequence[Axis]) -> int:
    """Points of the product grid."""
    return math.prod(len(a) for a in axes)


def check_size(axes: Sequence[Axis], limit: int | None = None) -> int:
    """The points of the product grid, refused (exit 2) above the cap in force."""
    limit = max_points() if limit is None else limit
    n = grid_size(axes)
    if n > limit:
        sizes = " x ".join(f"{len(a):,} ({a.key})" for a in axes)
        raise InputError.single(
            f"the grid has {n:,} points ({sizes}); at most {limit:,}",
            Location(f"--{axes[0].kind}" if axes else "--shock"),
            hint="use larger steps or fewer axes, " + _limit_hint(limit),
        )
    return n


def product(axes: Sequence[Axis]) -> Iterator[tuple[int, ...]]:
    """Index tuples of the product grid, the first axis outermost (row-major); a grid over the
    cap (e.g. a policy gate's product of long ranges) is refused before any point is built."""
    check_size(axes)
    return itertools.product(*(range(len(a)) for a in axes))
