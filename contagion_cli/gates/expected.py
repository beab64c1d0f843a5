"""Documented outcomes: a scenario's ``expected:`` checks, and how a run compares with them.

A scenario that replays a historical event (``scenarios/history/``) can carry the outcome the
record gives, as checks on the metrics of ``contagion run --format json``::

    expected:
      - metric: protocols.maker.bad_debt_usd
        between: [4.0e6, 6.65e6]
        source: "EVENTS.md §1: protocol deficit 4-6.65M DAI"

Three pure steps, one a function each: :class:`Expectation` validates a check (with the
scenario, by pydantic; :func:`check_names` cross-checks protocol and asset names);
:func:`compare` turns a :class:`~.results.RunResult` into :class:`Verdict` s; :func:`render_lines`
and :func:`add_to_report` write them under a report. The comparison is information: it never
changes the exit code of ``contagion run``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..errors import known_names_hint
from ..results.metrics import ASSET_FIELDS, PROTOCOL_FIELDS, SYSTEM_METRICS, Metric

#: Summary metrics a check may name: the sweep's system metrics and the ADL total.
EXPECTED_SYSTEM_METRICS: tuple[str, ...] = (*SYSTEM_METRICS, "adl_usd")
_SYSTEM_KINDS = {
    "converged": "bool",
    "rounds": "int",
    "total_rounds": "int",
    "liquidations": "int",
    "insolvent_protocols": "int",
    "propagation_depth": "int",
}

Finite = Annotated[float, Field(allow_inf_nan=False)]


class Expectation(BaseModel):
    """One documented outcome: a metric of the run and the band the record puts it in."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    metric: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="A metric of `contagion run --format json`, dotted: bad_debt_usd, "
        "protocols.<name>.<field>, assets.<name>.<field>."
    )
    between: Annotated[list[Finite], Field(min_length=2, max_length=2)] | None = Field(
        None, description="[low, high]: the record's band, both ends included."
    )
    at_least: Finite | None = Field(None, description="The record's lower bound (included).")
    at_most: Finite | None = Field(None, description="The record's upper bound (included).")
    source: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="Where the documented outcome comes from (EVENTS.md section, paper, post)."
    )

    @field_validator("metric")
    @classmethod
    def _metric_shape(cls, value: str) -> str:
        problem = _shape_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _band(self) -> Expectation:
        one_sided = self.at_least is not None or self.at_most is not None
        if self.between is None and not one_sided:
            raise ValueError(
                "give the record's band: 'between: [low, high]', 'at_least' or 'at_most'"
            )
        if self.between is not None and one_sided:
            raise ValueError("give either 'between' or 'at_least' / 'at_most', not both")
        low, high = self.band
        if low is not None and high is not None and low > high:
            raise ValueError(f"the band is reversed: low {low:g} is above high {high:g}")
        return self

    @property
    def band(self) -> tuple[float | None, float | None]:
        """(low, high); None for an open end."""
        if self.between is not None:
            return self.between[0], self.between[1]
        return self.at_least, self.at_most


#: The ``expected:`` block of a scenario.
Expectations = Annotated[list[Expectation], Field(min_length=1, max_length=100)]


def _shape_problem(name: str) -> str | None:
    """Why ``name`` cannot be a metric whatever the scenario holds, or None."""
    if name in EXPECTED_SYSTEM_METRICS:
        return None
    parts = name.split(".")
    if len(parts) == 3 and parts[0] in ("protocols", "assets"):
        fields = PROTOCOL_FIELDS if parts[0] == "protocols" else ASSET_FIELDS
        if parts[2] in fields:
            return None
        return f"unknown metric {name!r}: " + known_names_hint(
            parts[2], fields, f"{parts[0][:-1]} metrics"
        )
    return f"unknown metric {name!r}: " + known_names_hint(
        name,
        [*EXPECTED_SYSTEM_METRICS, "protocols.<name>.<field>", "assets.<name>.<field>"],
        "metrics",
    )


def check_names(
    expectations: Sequence[Expectation] | None, data: Mapping[str, Any]
) -> Sequence[Expectation] | None:
    """Cross-check the protocol and asset each metric names against the scenario.

    ``data`` holds the scenario's fields validated so far (pydantic's ``info.data``); when
    ``protocols`` or ``assets`` failed validation themselves the check is skipped (their own
    errors are reported). Raises a ValidationError located at ``[i].metric``.
    """
    if not expectations:
        return expectations
    errors = []
    for i, exp in enumerate(expectations):
        parts = exp.metric.split(".")
        if len(parts) != 3 or parts[0] not in data:
            continue
        names = data[parts[0]]
        if parts[1] not in names:
            kind = parts[0][:-1]
            hint = known_names_hint(parts[1], names, parts[0])
            message = f"unknown {kind} {parts[1]!r} in metric {exp.metric!r}: {hint}"
            errors.append(
                InitErrorDetails(
                    # the message is final text: names cannot hold braces (schema.Name)
                    type=PydanticCustomError("unknown_name", message),
                    loc=(i, "metric"),
                    input=exp.metric,
                )
            )
    if errors:
        raise ValidationError.from_exception_data("expected", errors)
    return expectations


# --- verdicts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """How one metric of a run compares with the record's band."""

    metric: str
    value: float | None  # None: the run has no value (a depth never reached)
    low: float | None
    high: float | None
    ok: bool | None  # None when there is no value to compare
    source: str
    kind: str  # "float", "int" or "bool": how the value is written
    scenario_modified: bool  # --set / --shock changed the scenario: the record may not apply

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "band": [self.low, self.high],
            "ok": self.ok,
            "source": self.source,
            "scenario_modified": self.scenario_modified,
        }


def _metric(name: str) -> Metric:
    if name in EXPECTED_SYSTEM_METRICS:
        return Metric(name, "system", None, name, _SYSTEM_KINDS.get(name, "float"))
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
        low, high = exp.band
        ok = None
        if value is not None:
            ok = (low is None or value >= low) and (high is None or value <= high)
        verdicts.append(
            Verdict(exp.metric, value, low, high, ok, exp.source, metric.kind, modified)
        )
    return verdicts


# --- rendering ---------------------------------------------------------------------------------
def _number(value: float | None, metric: str, kind: str) -> str:
    from ..render import numbers as fmt

    if value is None:
        return "-"
    if kind == "bool":
        return "yes" if value else "no"
    if kind == "int":
        return fmt.count(int(value))
    if metric.endswith("_usd"):
        return fmt.usd(value)
    if metric.endswith("price"):
        return fmt.price(value)
    return f"{value:.4g}"


def _band_text(v: Verdict) -> str:
    low = _number(v.low, v.metric, v.kind) if v.low is not None else None
    high = _number(v.high, v.metric, v.kind) if v.high is not None else None
    if low is not None and high is not None:
        return low if v.low == v.high else f"{low} to {high}"
    if low is not None:
        return f">= {low}"
    return f"<= {high}"


def headline(verdicts: Sequence[Verdict]) -> str:
    """The one line that says whether the run lands where the record does."""
    inside = sum(1 for v in verdicts if v.ok)
    total = len(verdicts)
    if verdicts and verdicts[0].scenario_modified:
        return (
            f"Documented outcome (for the unmodified scenario; --set/--shock changed it): "
            f"{inside} of {total} checks inside the record's band"
        )
    verdict = "matches the record" if inside == total else "DIFFERS from the record"
    return f"Documented outcome: the run {verdict} ({inside} of {total} checks inside its band)"


def render_lines(verdicts: Sequence[Verdict]) -> list[str]:
    """The headline, then one line per check: mark, metric, the run's value, the band, source."""
    if not verdicts:
        return []
    lines = [headline(verdicts)]
    for v in verdicts:
        mark = "no value" if v.ok is None else ("inside " if v.ok else "OUTSIDE")
        lines.append(
            f"  {mark}  {v.metric} = {_number(v.value, v.metric, v.kind)}; "
            f"record: {_band_text(v)} ({v.source})"
        )
    return lines


def renderable(verdicts: Sequence[Verdict]):  # type: ignore[no-untyped-def]
    """The lines as rich Text, coloured for a terminal (green inside, red outside)."""
    from rich.text import Text

    text = Text()
    modified = bool(verdicts) and verdicts[0].scenario_modified
    for i, line in enumerate(render_lines(verdicts)):
        if i == 0:
            style = "yellow" if modified else ("green" if all(v.ok for v in verdicts) else "red")
        else:
            ok = verdicts[i - 1].ok
            style = "" if modified else ("green" if ok else "red")
        text.append(line + "\n", style=f"bold {style}".strip() if i == 0 else style)
    return text


def add_to_report(text: str, fmt: str, verdicts: Sequence[Verdict]) -> str:
    """A rendered report (``fmt``: table, json, csv, markdown) with the verdicts added.

    JSON gets a new key ``expected`` (a list of verdicts); CSV rows of section ``expected``;
    table and Markdown the lines of :func:`render_lines` under the report.
    """
    if not verdicts:
        return text
    if fmt == "json":
        data = json.loads(text)
        data["expected"] = [v.to_dict() for v in verdicts]
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for v in verdicts:
            for key, value in v.to_dict().items():
                if key != "metric":
                    writer.writerow(["expected", v.metric, key, _csv_cell(value)])
        return text + buffer.getvalue()
    lines = render_lines(verdicts)
    if fmt == "markdown":
        body = [
            f"### {lines[0]}",
            "",
            *(f"- {' '.join(line.split(maxsplit=1))}" for line in lines[1:]),
        ]
        return text.rstrip("\n") + "\n\n" + "\n".join(body) + "\n"
    return text + "\n".join(lines) + "\n"


def _csv_cell(value: Any) -> str:
    """CSV text like the rest of the CSV report: true/false, empty for none, ';' in a band."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(_csv_cell(x) for x in value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)
