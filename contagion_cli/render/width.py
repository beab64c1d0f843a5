"""The width at which a rich report prints every table whole: ``--wide``, pipes and files."""

from __future__ import annotations

import io

from rich.console import Console, RenderableType
from rich.measure import Measurement


def fit_width(renderable: RenderableType, floor: int) -> int:
    """A width at which every table of the report prints in one piece: at least ``floor`` (the
    terminal's or the report's), more when a table needs it. At a narrower width a table fits
    the console instead: abbreviated or split into "(continued)" tables (render/fit.py)."""
    probe = Console(width=100_000, file=io.StringIO(), emoji=False)  # as the report prints
    return max(floor, Measurement.get(probe, probe.options, renderable).maximum)
