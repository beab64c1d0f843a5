"""Risk metrics of a sample of outcomes (one value per Monte Carlo path): pure numpy.

Definitions (docs/sweeps.md, "Risk metrics"), for a loss sample ``x_1 … x_n`` sorted
ascending into ``x_(1) <= … <= x_(n)``:

- **quantile** ``q_α`` = ``x_(⌈n·α⌉)``: the smallest sample value ``v`` with at least a
  fraction ``α`` of the sample ``<= v`` (numpy's ``method="inverted_cdf"``; no interpolation,
  so every quantile is an outcome some path actually had).
- **VaR** = ``q_0.95`` of bad debt (``var95``) and ``q_0.99`` (``var99``). ``evar99`` is
  ``var99`` under the name of earlier versions: it is the 99th percentile, *not* the entropic
  VaR of Ahmadi-Javid (2012), which this module does not compute. Percentiles ``p50``,
  ``p90``, ``p95``, ``p99`` of any metric use the same rule.
- **Expected shortfall** ``ES_α`` = the mean of the worst ``n·(1−α)`` outcomes, the boundary
  outcome weighted by the fractional part (Acerbi and Tasche, 2002): the average loss in the
  worst 5 % (``es95``) or 1 % (``es99``) of paths.
- **LaR** (liquidations at risk) = ``q_0.95`` of the USD liquidated (``lar95``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Percentiles reported for every metric.
PERCENTILES = (50, 90, 95, 99)


def quantile(sample: np.ndarray, level: float) -> float:
    """``x_(⌈n·level⌉)`` of the sorted sample (NaN for an empty sample)."""
    x = np.sort(np.asarray(sample, dtype=np.float64))
    n = x.size
    if n == 0:
        return math.nan
    k = math.ceil(round(n * level, 9))
    return float(x[min(max(k, 1), n) - 1])


def expected_shortfall(sample: np.ndarray, level: float) -> float:
    """The mean of the worst ``n·(1−level)`` outcomes (fractional weight on the boundary one)."""
    x = np.sort(np.asarray(sample, dtype=np.float64))[::-1]  # worst first
    n = x.size
    if n == 0:
        return math.nan
    tail = round(n * (1.0 - level), 9)
    if tail <= 0:
        return float(x[0])
    whole = math.floor(tail)
    total = float(np.sum(x[:whole]))
    if whole < n and tail > whole:
        total += (tail - whole) * float(x[whole])
    return total / tail


@dataclass(frozen=True)
class Distribution:
    """Summary of one metric over all paths."""

    mean: float
    std: float
    min: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float
    es95: float
    es99: float

    @classmethod
    def of(cls, sample: np.ndarray) -> Distribution:
        x = np.asarray(sample, dtype=np.float64)
        x = x[np.isfinite(x)]
        if x.size == 0:
            nan = math.nan
            return cls(nan, nan, nan, nan, nan, nan, nan, nan, nan, nan)
        return cls(
            mean=float(np.mean(x)),
            std=float(np.std(x)),
            min=float(np.min(x)),
            p50=quantile(x, 0.50),
            p90=quantile(x, 0.90),
            p95=quantile(x, 0.95),
            p99=quantile(x, 0.99),
            max=float(np.max(x)),
            es95=expected_shortfall(x, 0.95),
            es99=expected_shortfall(x, 0.99),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in self.__dict__.items()}

    def get(self, statistic: str) -> float:
        return float(getattr(self, statistic))


#: Statistics of a :class:`Distribution`, as written after a metric name (``bad_debt_usd.p95``).
STATISTICS = tuple(Distribution.__dataclass_fields__)


@dataclass(frozen=True)
class RiskSummary:
    """The industry's headline numbers of one simulation (names as in policies and diffs)."""

    var95: float  # 95th percentile of bad debt
    var99: float  # 99th percentile of bad debt
    evar99: float  # = var99: the 99th percentile under its earlier name (not an entropic VaR)
    es95: float  # mean bad debt of the worst 5 % of paths
    es99: float  # mean bad debt of the worst 1 % of paths
    lar95: float  # 95th percentile of USD liquidated
    lar99: float  # 99th percentile of USD liquidated
    p_insolvent: float  # share of paths with at least one insolvent protocol
    p_bad_debt: float  # share of paths with any bad debt
    p_loss: float  # share of paths whose loss metric is > 0 (= p_bad_debt for bad debt)

    @classmethod
    def of(
        cls,
        loss: np.ndarray,
        liquidated: np.ndarray,
        insolvent: np.ndarray,
        bad_debt: np.ndarray | None = None,
    ) -> RiskSummary:
        """From per-path bad debt (or another loss), USD liquidated and insolvent counts;
        ``bad_debt`` when the loss is another metric (P(bad debt) stays about bad debt)."""
        loss = np.asarray(loss, dtype=np.float64)
        bad = loss if bad_debt is None else np.asarray(bad_debt, dtype=np.float64)
        return cls(
            var95=quantile(loss, 0.95),
            var99=quantile(loss, 0.99),
            evar99=quantile(loss, 0.99),
            es95=expected_shortfall(loss, 0.95),
            es99=expected_shortfall(loss, 0.99),
            lar95=quantile(liquidated, 0.95),
            lar99=quantile(liquidated, 0.99),
            p_insolvent=_share(np.asarray(insolvent) > 0),
            p_bad_debt=_share(bad > 0),
            p_loss=_share(loss > 0),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: _finite(v) for k, v in self.__dict__.items()}


#: Headline risk metric names.
RISK_METRICS = tuple(RiskSummary.__dataclass_fields__)


def _share(flags: np.ndarray) -> float:
    return float(np.mean(flags)) if flags.size else math.nan


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def probability(flags: np.ndarray) -> float:
    """Share of paths where ``flags`` is true (e.g. a protocol was insolvent)."""
    return _share(np.asarray(flags) > 0.5)


def distributions(columns: Mapping[str, np.ndarray]) -> dict[str, Distribution]:
    """A :class:`Distribution` per named sample."""
    return {name: Distribution.of(x) for name, x in columns.items()}
