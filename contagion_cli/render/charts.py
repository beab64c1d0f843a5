"""Compact terminal charts (unicode blocks): bars, a histogram with marks, a sparkline.

Pure functions returning strings, so that golden tests can pin them down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

_EIGHTHS = " ▏▎▍▌▋▊▉█"
_SPARK = "▁▂▃▄▅▆▇█"


def bar(value: float, maximum: float, width: int = 20) -> str:
    """A horizontal bar of ``value / maximum`` of ``width`` cells (eighth-cell resolution)."""
    if not (math.isfinite(value) and math.isfinite(maximum)) or maximum <= 0 or value <= 0:
        return ""
    eighths = round(min(1.0, value / maximum) * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def sparkline(values: Sequence[float]) -> str:
    """One character per value, scaled between the smallest and largest finite value."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append(" ")
        elif hi == lo:
            out.append(_SPARK[0])
        else:
            out.append(_SPARK[min(len(_SPARK) - 1, int((v - lo) / (hi - lo) * len(_SPARK)))])
    return "".join(out)


def histogram(
    sample: np.ndarray,
    marks: Sequence[tuple[str, float]] = (),
    bins: int = 12,
    width: int = 40,
    label: Callable[[float], str] = lambda v: f"{v:g}",
) -> list[str]:
    """Text histogram lines ``range  bar  count``; a bin holding a mark lists its names."""
    x = np.asarray(sample, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return ["(no finite values)"]
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:
        return [f"{label(lo)}  {'█' * width}  {x.size:,} (all paths)"]
    counts, edges = np.histogram(x, bins=bins, range=(lo, hi))
    peak = int(counts.max())
    texts = [f"{label(edges[i])} – {label(edges[i + 1])}" for i in range(bins)]
    pad = max(len(t) for t in texts)
    lines = []
    for i in range(bins):
        names = [
            name
            for name, v in marks
            if edges[i] <= v < edges[i + 1] or (i == bins - 1 and v == edges[-1])
        ]
        tag = ("  ◀ " + ", ".join(names)) if names else ""
        lines.append(
            f"{texts[i]:>{pad}}  {bar(counts[i], peak, width):<{width}}  {counts[i]:>7,}{tag}"
        )
    return lines
