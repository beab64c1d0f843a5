"""Names of the metrics a batch of runs records, and reading them off a :class:`RunResult`.

A metric name is its path in ``contagion run --format json``: ``bad_debt_usd``,
``protocols.aave.bad_debt_usd``, ``assets.ETH.final_price``. Every sweep column, gate, critical
shock and diff uses these names, so a script can move between the commands without renaming.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import InputError, Location, known_names_hint
from ..schema.metric_names import (
    ASSET_FIELDS,
    METRIC_ALIASES,
    PROTOCOL_COLUMNS,
    PROTOCOL_FIELDS,
    SYSTEM_METRICS,
)
from .run import RunResult


@dataclass(frozen=True)
class Metric:
    """A parsed metric name: ``scope`` is ``system``, ``protocols`` or ``assets``."""

    name: str
    scope: str
    entity: str | None
    field: str
    kind: str  # "float", "int" or "bool": how it is written in tables, CSV and JSON

    def read(self, result: RunResult) -> float:
        """The value in ``result`` (NaN where the run has none, e.g. a depth never reached)."""
        if self.scope == "system":
            return result.metric(self.field)
        table = result.protocols if self.scope == "protocols" else result.assets
        value = getattr(table[self.entity], self.field)  # type: ignore[index]
        return math.nan if value is None else float(value)


def known_metrics(protocols: Sequence[str], assets: Sequence[str]) -> list[str]:
    """Every metric name valid for a scenario with these protocols and assets."""
    names = list(SYSTEM_METRICS)
    names += [f"protocols.{p}.{f}" for p in protocols for f in PROTOCOL_FIELDS]
    names += [f"assets.{a}.{f}" for a in assets for f in ASSET_FIELDS]
    return names


def parse_metric(
    name: str, protocols: Sequence[str], assets: Sequence[str], option: str = "--metric"
) -> Metric:
    """Check a metric name against the scenario; InputError with a "did you mean" if unknown."""
    text = name.strip()
    if text in SYSTEM_METRICS:
        return Metric(text, "system", None, text, SYSTEM_METRICS[text])
    if text in METRIC_ALIASES:  # the name as written, read as the metric it means
        field = METRIC_ALIASES[text]
        return Metric(text, "system", None, field, SYSTEM_METRICS[field])
    parts = text.split(".")
    if len(parts) == 3 and parts[0] in ("protocols", "assets"):
        scope, entity, field = parts
        names, fields = (
            (protocols, PROTOCOL_FIELDS) if scope == "protocols" else (assets, ASSET_FIELDS)
        )
        if entity not in names:
            raise InputError.single(
                f"unknown {scope[:-1]} {entity!r} in metric {text!r}",
                Location(option),
                hint=known_names_hint(entity, names, scope),
            )
        if field in fields:
            return Metric(text, scope, entity, field, fields[field])
        raise InputError.single(
            f"unknown metric {text!r}",
            Location(option),
            hint=known_names_hint(field, fields, f"{scope[:-1]} metrics"),
        )
    raise InputError.single(
        f"unknown metric {text!r}",
        Location(option),
        hint=known_names_hint(text, known_metrics(protocols, assets), "metrics"),
    )


def default_columns(
    protocols: Sequence[str],
    assets: Sequence[str],
    price_assets: Sequence[str] = (),
    aliases: bool = False,
) -> list[Metric]:
    """Sweep row columns: system metrics (and, with ``aliases``, the columns of their earlier
    names: a sweep's ``insolvent_protocols``), per-protocol results, prices of
    ``price_assets``."""
    names = list(SYSTEM_METRICS) + (list(METRIC_ALIASES) if aliases else [])
    names += [f"protocols.{p}.{f}" for p in protocols for f in PROTOCOL_COLUMNS]
    names += [f"assets.{a}.final_price" for a in price_assets]
    return [parse_metric(n, protocols, assets) for n in names]


def read_all(result: RunResult, metrics: Sequence[Metric]) -> list[float]:
    """The row of ``metrics`` for one run."""
    return [m.read(result) for m in metrics]
