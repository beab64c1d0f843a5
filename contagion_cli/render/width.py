"""The width to render a rich report at, so that tables never cut their numbers."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.measure import Measurement


def fit_width(renderable: RenderableType, floor: int | None) -> int | None:
    """A width at which no column of the report is cut: at least ``floor`` (the terminal's or
    the report's), more when a table needs it. A narrow terminal then wraps long lines instead
    of rich shortening every number to "$3…"; ``None`` keeps the terminal's own width."""
    probe = Console(width=100_000, file=io.StringIO())
    needed = Measurement.get(probe, probe.options, renderable).maximum
    if floor is None:
        floor = Console().width
        if needed <= floor:
            return None
    return max(floor, needed)
