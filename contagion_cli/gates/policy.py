"""A policy file for ``contagion check``: the gates a scenario must pass (docs/ci.md).

```yaml
name: quickstart risk limits
gates:
  - name: bad debt in a 20% ETH crash
    check: bad_debt_usd <= 1e6          # METRIC OP NUMBER
    shock: {ETH: -0.20}                  # one step, like --shock
  - check: insolvent_count <= 1
    shock: {ETH: "-0.05:-0.30:0.05"}     # a range: every point must pass
  - check: propagation_depth <= 1        # no shock: the file's own path
  - check: var95 <= 5e6                  # a simulation metric: Monte Carlo paths
    simulate: {paths: 1000, seed: 1}
```

Loading is a thin layer on a pure validation, like scenarios: the YAML is read with locations,
the pydantic models check shapes, and each ``check:`` expression and shock value is parsed
with its file:line so that every mistake names where it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag, ValidationError

from ..batch import grid
from ..errors import InputError, Location, Problem, quote
from ..load.files import Sandbox
from ..load.overrides import parse_number
from ..load.validation import translate_errors
from ..load.yaml import Document, load_file
from ..schema.base import Strict
from ..schema.stochastic import MAX_PATHS, MAX_SEED, MonteCarloModel
from .verdict import Condition

#: Comparison operators of a ``check:`` expression, longest first (so ``<=`` is not ``<``).
OPERATORS = ("<=", ">=", "==", "!=", "<", ">")


class SimulateOverrides(Strict):
    """Run the scenario's own Monte Carlo model with other ``paths`` / ``seed``."""

    paths: Annotated[int, Field(ge=1, le=MAX_PATHS)] | None = None
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None


def _simulate_kind(value: Any) -> str:
    if (isinstance(value, dict) and "model" in value) or isinstance(value, MonteCarloModel):
        return "Model"
    return "Overrides"


Simulate = Annotated[
    Annotated[MonteCarloModel, Tag("Model")] | Annotated[SimulateOverrides, Tag("Overrides")],
    Discriminator(_simulate_kind),
]
ShockValue = float | str


class GateSpec(Strict):
    """One gate as written in the file."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    check: Annotated[str, Field(min_length=1, max_length=500)] = Field(
        description="METRIC OP NUMBER, e.g. 'bad_debt_usd <= 1e6' (OP: <=, <, >=, >, ==, !=)."
    )
    shock: Annotated[dict[str, ShockValue], Field(min_length=1)] | None = Field(
        None,
        description="One-step shock: asset -> return, or a range '-0.05:-0.50:0.05' / list "
        "'-0.1,-0.2' (every point of the product grid must pass). Absent: the file's path.",
    )
    liquidity: Annotated[dict[str, ShockValue], Field(min_length=1)] | None = Field(
        None, description="Liquidity multipliers in that step (values or ranges)."
    )
    simulate: Simulate | None = Field(
        None,
        description="For simulation metrics (var95, es95, lar95, p_insolvent, METRIC.p99 ...): "
        "{paths, seed} overrides of the scenario's Monte Carlo model, or a whole model.",
    )


class PolicySpec(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: str | None = None
    gates: Annotated[list[GateSpec], Field(min_length=1, max_length=10_000)]


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of policy files (``contagion schema --policy``): for editors, and for
    checking a policy before CI runs it."""
    schema = PolicySpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "contagion policy"
    return schema


@dataclass(frozen=True)
class Gate:
    """A validated gate: its condition and where it runs."""

    index: int
    name: str
    condition: Condition
    shock_axes: tuple[grid.Axis, ...]
    liquidity_axes: tuple[grid.Axis, ...]
    simulate: MonteCarloModel | SimulateOverrides | None
    location: Location  # of the `check:` line, for errors found later (unknown metric ...)


@dataclass(frozen=True)
class Policy:
    source: str
    name: str | None
    gates: tuple[Gate, ...]


def parse_condition(text: str, location: Location) -> Condition:
    """``'bad_debt_usd <= 1e6'`` -> Condition (a limit may end in %: ``p_insolvent < 1%``)."""
    match = re.search(r"(<=|>=|==|!=|<|>)", text)
    if match is None:
        raise InputError.single(
            f"expected METRIC OP NUMBER, found {quote(text)}",
            location,
            hint="for example 'bad_debt_usd <= 1e6'; OP is one of <=, <, >=, >, ==, !=",
        )
    metric = text[: match.start()].strip()
    op = match.group(1)
    raw = text[match.end() :].strip()
    if not metric or " " in metric:
        raise InputError.single(
            f"expected a metric name before {op!r}, found {quote(metric)}",
            location,
            hint="for example 'bad_debt_usd <= 1e6'",
        )
    try:
        limit = parse_number(raw, location.source, metric)
    except InputError:
        raise InputError.single(
            f"expected a number after {op!r}, found {quote(raw)}",
            location,
            hint="for example 'bad_debt_usd <= 1e6' or 'p_insolvent < 1%'",
        ) from None
    return Condition(metric, op, limit, text.strip())


def load_policy(path: str | Path, sandbox: Sandbox | None = None) -> Policy:
    """Read and validate a policy file (InputError, with file:line, for every problem)."""
    return policy_of(load_file(path, sandbox, "policy file"))


def is_policy(doc: Document) -> bool:
    """Whether a loaded file is a policy (a mapping with ``gates:``) rather than a scenario."""
    return "gates" in doc.data


def policy_of(doc: Document) -> Policy:
    """Validate a loaded policy file."""
    try:
        spec = PolicySpec.model_validate(doc.data)
    except ValidationError as exc:
        raise InputError(translate_errors(exc, doc, PolicySpec)) from None
    problems: list[Problem] = []
    gates = []
    for i, g in enumerate(spec.gates):
        try:
            gates.append(_gate(i, g, doc))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return Policy(doc.source, spec.name, tuple(gates))


def _gate(i: int, g: GateSpec, doc: Document) -> Gate:
    where = doc.locate(("gates", i, "check"))
    condition = parse_condition(g.check, where)
    shock_axes = tuple(
        _axis(doc, ("gates", i, "shock", asset), asset, v, grid.parse_shock_axis)
        for asset, v in (g.shock or {}).items()
    )
    liquidity_axes = tuple(
        _axis(doc, ("gates", i, "liquidity", asset), asset, v, grid.parse_liquidity_axis)
        for asset, v in (g.liquidity or {}).items()
    )
    if g.simulate is not None and (shock_axes or liquidity_axes):
        raise InputError.single(
            "a gate has either 'shock'/'liquidity' or 'simulate', not both",
            doc.locate(("gates", i, "simulate")),
            hint="the shocks of a simulation come from its Monte Carlo model",
        )
    name = g.name or condition.text + (_at_text(shock_axes, liquidity_axes))
    return Gate(i, name, condition, shock_axes, liquidity_axes, g.simulate, where)


def _axis(doc: Document, path: tuple[str | int, ...], asset: str, value: Any, parse: Any) -> Any:
    location = doc.locate(path)
    text = value if isinstance(value, str) else repr(float(value))
    try:
        return parse(f"{asset}={text}", str(location))
    except InputError as exc:
        # the option name in the message is the file position: re-point it at the field
        raise InputError(
            [Problem(p.message, location, path, p.hint) for p in exc.problems]
        ) from None


def _at_text(shocks: tuple[grid.Axis, ...], liquidity: tuple[grid.Axis, ...]) -> str:
    if not shocks and not liquidity:
        return ""
    parts = [f"{a.key} {_span(a)}" for a in shocks] + [
        f"{a.key} liquidity x{_span(a)}" for a in liquidity
    ]
    return " at " + ", ".join(parts)


def _span(axis: grid.Axis) -> str:
    v = axis.values
    if len(v) == 1:
        return f"{v[0]:g}"
    return f"{v[0]:g}..{v[-1]:g} ({len(v)} points)"
