"""The ``expected:`` block of a scenario: the outcome the historical record gives.

A scenario that replays a historical event (``scenarios/history/``) can carry the outcome the
record gives, as checks on the metrics of ``contagion run --format json``::

    expected:
      - metric: protocols.maker.bad_debt_usd
        between: [4.0e6, 6.65e6]
        source: "EVENTS.md §1: protocol deficit 4-6.65M DAI"

:class:`Expectation` validates one check; :func:`check_names` cross-checks the protocol and
asset a metric names against the scenario. How a run compares with them is
:mod:`contagion_cli.gates.expected`; how that is written, :mod:`contagion_cli.render.expected`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..errors import known_names_hint
from .base import Strict
from .metric_names import ASSET_FIELDS, EXPECTED_SYSTEM_METRICS, PROTOCOL_FIELDS

Finite = Annotated[float, Field(allow_inf_nan=False)]


class Expectation(Strict):
    """One documented outcome: a metric of the run and the band the record puts it in."""

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
