"""How a run compares with a scenario's documented outcome (its ``expected:`` checks).

Each check becomes a :class:`~.verdict.Verdict` on the band the record gives. The comparison
is information: it never changes the exit code of ``contagion run``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..results.metrics import Metric
from ..schema.expected import Expectation
from ..schema.metric_names import ASSET_FIELDS, EXPECTED_SYSTEM_METRICS, PROTOCOL_FIELDS
from .verdict import Condition, Verdict


def _metric(name: str) -> Metric:
    if name in EXPECTED_SYSTEM_METRICS:
        return Metric(name, "system", None, name, EXPECTED_SYSTEM_METRICS[name])
    scope, entity, field = name.split(".")
    fields = PROTOCOL_FIELDS if scope == "protocols" else ASSET_FIELDS
    return Metric(name, scope, entity, field, fields[field])


def compare(
    expectations: Sequence[Expectation] | None, result: Any, modified: bool = False
) -> list[Verdict]:
    """The verdict of every check on a run (``result``: a RunResult). Pure; [] without checks."""
    verdicts = []
    for exp in expectations or ():
        metric = _metric(exp.metric)
        raw = metric.read(result)
        value = None if raw is None or math.isnan(raw) else float(raw)
        condition = Condition.band(exp.metric, *exp.band)
        verdicts.append(
            Verdict(
                condition=condition,
                kind=metric.kind,
                value=value,
                passed=None if value is None else condition.holds(value),
                source=exp.source,
                scenario_modified=modified,
            )
        )
    return verdicts
