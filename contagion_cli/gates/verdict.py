"""A metric of a run held against a limit: the one verdict of ``check`` and ``expected:``.

Two things judge a run: a policy's gate (``bad_debt_usd <= 750000``: pass or fail, exit 1 in
CI) and a historical scenario's documented outcome (``between: [4.0e6, 6.65e6]``: inside or
outside the record's band, information only). Both are a :class:`Condition` on one metric and
a :class:`Verdict` that says how the run's value stands against it, so that every report,
JSON key and CI summary reads them the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: The comparisons a gate may use (``between`` is the band of an ``expected:`` check).
OPS = ("<=", "<", ">=", ">", "==", "!=")


@dataclass(frozen=True)
class Condition:
    """``metric op limit``, or a band ``low <= metric <= high`` (both ends included; an open
    end is None)."""

    metric: str
    op: str  # one of OPS, or "between"
    limit: float  # the bound of a one-sided op (NaN for a band)
    text: str  # as written, or the band as text
    low: float | None = None
    high: float | None = None

    @classmethod
    def band(cls, metric: str, low: float | None, high: float | None) -> Condition:
        if low is not None and high is not None:
            text = f"{metric} between {low:.12g} and {high:.12g}"
        elif low is not None:
            text = f"{metric} >= {low:.12g}"
        else:
            text = f"{metric} <= {high:.12g}"
        return cls(metric, "between", math.nan, text, low, high)

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        """(low, high) of the values that pass; None for an open end (strictness aside)."""
        if self.op == "between":
            return self.low, self.high
        if self.op in ("<=", "<"):
            return None, self.limit
        if self.op in (">=", ">"):
            return self.limit, None
        return (self.limit, self.limit) if self.op == "==" else (None, None)

    def holds(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.op == "between":
            return (self.low is None or value >= self.low) and (
                self.high is None or value <= self.high
            )
        return {
            "<=": value <= self.limit,
            "<": value < self.limit,
            ">=": value >= self.limit,
            ">": value > self.limit,
            "==": value == self.limit,
            "!=": value != self.limit,
        }[self.op]

    def excess(self, value: float) -> float:
        """How far ``value`` is beyond the limit (> 0 fails, <= 0 is the margin left)."""
        if self.op == "between":
            gaps = []
            if self.low is not None:
                gaps.append(self.low - value)
            if self.high is not None:
                gaps.append(value - self.high)
            return max(gaps)
        if self.op in ("<=", "<"):
            return value - self.limit
        if self.op in (">=", ">"):
            return self.limit - value
        gap = abs(value - self.limit)
        return gap if self.op == "==" else -gap

    def worst(self, values: Sequence[float]) -> int:
        """The index of the point that is worst for this condition (NaN counts as worst)."""
        for k, v in enumerate(values):
            if math.isnan(v):
                return k
        if self.op in ("==", "!="):
            return next((k for k, v in enumerate(values) if not self.holds(v)), 0)
        return max(range(len(values)), key=lambda k: (self.excess(values[k]), -k))


@dataclass(frozen=True)
class Verdict:
    """How a run stands against one condition.

    ``value`` is the run's value (for a gate over several points, the worst one), None when the
    run has none (a depth never reached); ``passed`` is None then. ``source`` says where the
    limit comes from: the gate's name in its policy, or the record an ``expected:`` check cites.
    """

    condition: Condition
    kind: str  # "float", "int" or "bool": how the value is written
    value: float | None
    passed: bool | None
    source: str
    scenario: str = ""  # the file, as given on the command line
    scenario_name: str = ""
    at: str = ""  # where the worst value was found: "at ETH -30%", "on the file's shock path"
    points: int = 1
    failing_points: int = 0
    scenario_modified: bool = False  # --set / --shock changed the scenario the record is for
    line: int | None = None  # a policy gate: the line of its `check:` in the policy file

    @property
    def metric(self) -> str:
        return self.condition.metric

    @property
    def op(self) -> str:
        return self.condition.op

    @property
    def limit(self) -> float:
        return self.condition.limit

    @property
    def check(self) -> str:
        return self.condition.text

    @property
    def gate(self) -> str:
        return self.source

    @property
    def excess(self) -> float:
        """The value beyond the limit (> 0 failed by this much; <= 0: margin left; NaN: none)."""
        if self.value is None or not math.isfinite(self.value):
            return math.nan
        return self.condition.excess(self.value)

    @property
    def relative_excess(self) -> float | None:
        limit = self.condition.limit
        if math.isnan(limit) or limit == 0 or not math.isfinite(self.excess):
            return None
        return self.excess / abs(limit)

    def to_dict(self) -> dict[str, Any]:
        """Stable JSON keys. Every verdict has ``metric, check, value, passed, band, excess,
        source``; a policy's gate adds where it ran and its limit, a documented outcome adds
        ``ok`` (``passed``, under the name the ``expected`` block has always used) and
        ``scenario_modified``."""

        def finite(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else x

        low, high = self.condition.bounds
        out: dict[str, Any] = {
            "metric": self.metric,
            "check": self.check,
            "value": finite(self.value),
            "passed": self.passed,
            "band": [low, high],
            "excess": finite(self.excess),
            "source": self.source,
        }
        if self.op == "between":
            out["ok"] = self.passed
            out["scenario_modified"] = self.scenario_modified
            return out
        return {
            "scenario": self.scenario,
            "scenario_name": self.scenario_name,
            "gate": self.source,
            **out,
            "op": self.op,
            "limit": finite(self.limit),
            "relative_excess": self.relative_excess,
            "at": self.at,
            "points": self.points,
            "failing_points": self.failing_points,
            "line": self.line,
        }
