"""Number formatting shared by the human-readable renderers (table, Markdown)."""

from __future__ import annotations

import math

_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K"))


def usd(value: float | None) -> str:
    """`$1.23M`: three significant digits, a suffix, a sign for negatives."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ""
    v = abs(value)
    for scale, suffix in _SUFFIXES:
        if v >= scale:
            return f"{sign}${_sig3(v / scale)}{suffix}"
    if v < 0.01:
        return f"{sign}<$0.01"
    return f"{sign}${v:,.2f}"


def _sig3(v: float) -> str:
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def price(value: float | None) -> str:
    """A price with six significant digits and thousands separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if value == 0:
        return "0"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    digits = max(2, 5 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{digits}f}"
    # six significant digits, but no run of trailing zeros beyond cents: 1.00, 587.004
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"


def units(value: float) -> str:
    """Token units: thousands separators, at most four decimals."""
    if value == 0:
        return "0"
    if abs(value) >= 1e3:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def pct(value: float | None) -> str:
    """A signed percentage: `-30.0%`."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if abs(value) < 5e-5:
        return "0.0%"
    return f"{value * 100:+.1f}%"


def bps(value: float) -> str:
    return f"{value:,.1f}"


def count(value: int) -> str:
    return f"{value:,}"


def ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}x"


def optional_int(value: int | None) -> str:
    return "-" if value is None else str(value)


def value_text(name: str, value: float | None, kind: str | None = None) -> str:
    """A metric value in the units its name says (USD, a share, a count, a price); ``kind``
    (int, bool, float; schema/metric_names.py) when the caller knows it."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    leaf = name.rsplit(".", 1)[-1]
    if kind == "bool" or leaf in ("converged", "insolvent"):
        return "yes" if value else "no"
    if kind == "int":
        return count(int(value))
    base = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else name
    if name.endswith("_usd") or (leaf in _STATS and base.endswith("_usd")):
        return usd(value)
    if name.startswith(("var", "evar", "es", "lar")) and name[-2:].isdigit():
        return usd(value)
    if leaf.startswith("p_") or name.endswith("p_insolvent"):
        return f"{value * 100:.2f}%"
    if leaf in ("final_price", "start_price", "shocked_price", "price"):
        return price(value)
    if leaf in ("amplification",):
        return ratio(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}"


_STATS = {"mean", "std", "min", "p50", "p90", "p95", "p99", "max", "es95", "es99"}
