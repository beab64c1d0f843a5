"""Validate a loaded document into a :class:`~.schema.Scenario`, or say exactly what is wrong.

Two passes, both pure: the pydantic schema (shapes, types, ranges), then cross-references
(:mod:`.semantics`). Every problem is reported with ``file:line:col``, the field path, what was
expected and what was found, and a "did you mean" for misspelt names.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import InputError, Problem, did_you_mean, quote
from ..schema.models import LIQUIDITY_KEY, Scenario
from ..schema.semantics import check_scenario
from .overrides import percentages_in_shocks
from .yaml import Document

#: At most this many problems are reported at once; the rest are counted.
MAX_PROBLEMS = 25


def validate_document(doc: Document) -> Scenario:
    """Turn a loaded document into a validated :class:`Scenario` (raises :class:`InputError`)."""
    percentages_in_shocks(doc)
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        raise InputError(translate_errors(exc, doc, Scenario)) from None
    problems = [
        dataclasses.replace(p, location=p.location or doc.locate(p.path))
        for p in check_scenario(scenario)
    ]
    if problems:
        raise InputError(_capped(problems))
    return scenario


def translate_errors(exc: ValidationError, doc: Document, root: type[BaseModel]) -> list[Problem]:
    """Pydantic's errors as :class:`Problem` s located in the document."""
    problems = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors(include_url=False):
        raw_loc = tuple(err["loc"])
        path = resolve_path(raw_loc, doc.data)
        key = (path, err["type"])
        if key in seen:  # a union reports the same mistake once per member
            continue
        seen.add(key)
        problems.append(_problem(err, raw_loc, path, doc, root))
    return _capped(_without_misspelt_missing(problems))


def _without_misspelt_missing(problems: list[Problem]) -> list[Problem]:
    """A misspelt required key is one mistake, not two: drop "missing required key 'volatility'"
    where the same mapping has an unknown key whose "did you mean" names it."""
    suggested = {
        (p.path[:-1], name)
        for p in problems
        if p.message.startswith("unknown key") and p.hint and p.path
        for name in re.findall(r"'([^']+)'", p.hint.split("?")[0])
    }
    kept = []
    for p in problems:
        missing = re.fullmatch(r"missing required key '([^']+)'", p.message)
        if missing and (p.path, missing.group(1)) in suggested:
            continue
        kept.append(p)
    return kept


def _capped(problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], Problem(f"... and {rest} more problems")]


def resolve_path(loc: Sequence[Any], data: Any) -> tuple[str | int, ...]:
    """Map pydantic's ``loc`` onto the document, dropping union tags and ``[key]`` markers."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict | list):
            # a discriminator tag (`lending`) or a model name inserted by a union: not in the file
            inserted = isinstance(part, str) and (
                part[:1].isupper() or "[" in part or _is_tag(node, part)
            )
            if inserted:
                continue
            path.append(part)  # a missing key: keep it, the problem is about it
            node = None
        else:
            path.append(part)
            node = None
    return tuple(path)


def _is_tag(node: Any, part: str) -> bool:
    return isinstance(node, dict) and node.get("type") == part


def _problem(
    err: dict[str, Any],
    raw_loc: tuple[Any, ...],
    path: tuple[str | int, ...],
    doc: Document,
    root: type[BaseModel],
) -> Problem:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    location = doc.locate(path)
    last = path[-1] if path else None
    hint = None
    if kind == "missing":
        message = f"missing required key {last!r}"
        path = path[:-1]
        location = doc.locate(path)
    elif kind == "extra_forbidden":
        message = f"unknown key {quote(last)}"
        allowed = allowed_keys(root, raw_loc[:-1])
        if allowed:
            hint = did_you_mean(str(last), allowed) or "expected one of: " + ", ".join(
                sorted(allowed)
            )
    elif kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}, found {describe(value)}"
    elif kind in _BOUND_WORDS:
        bound = next(iter(ctx.values())) if ctx else "?"
        message = f"expected a value {_BOUND_WORDS[kind]} {_num(bound)}, found {describe(value)}"
        hint = _return_hint(path, value)
    elif kind == "finite_number":
        message = f"expected a finite number, found {describe(value)}"
    elif kind == "string_pattern_mismatch":
        message = (
            f"invalid name {quote(value)}: use letters, digits, '_', '-' and '+' "
            "(no dots or spaces; names are used in --set paths)"
        )
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = ctx.get("expected_tags", "")
        tag = ctx.get("tag")
        discriminator = str(ctx.get("discriminator", "type")).strip("'")
        if kind == "union_tag_not_found":
            message = f"missing required key {discriminator!r}"
            tags = union_tags(root, raw_loc)
            expected = ", ".join(repr(t) for t in tags) if tags else expected
        else:
            message = f"unknown {discriminator} {quote(tag)}"
            path = (*path, discriminator)  # point at the `type:` line itself
            location = doc.locate(path)
        hint = f"expected one of: {expected}"
        if tag is not None:
            tags = [t.strip().strip("'") for t in str(expected).split(",")]
            hint = did_you_mean(str(tag), tags) or hint
    elif kind == "literal_error":
        message = f"expected {ctx.get('expected')}, found {describe(value)}"
    elif kind in ("too_short", "too_long"):
        n_min = ctx.get("min_length")
        n_max = ctx.get("max_length")
        actual = ctx.get("actual_length")
        if actual is None and hasattr(value, "__len__"):
            actual = len(value)  # pydantic leaves it out for mappings
        if kind == "too_short":
            message = "must not be empty" if n_min == 1 else f"needs at least {n_min} entries"
        else:
            found = f" ({actual:,})" if isinstance(actual, int) else ""
            message = f"too many entries{found}; at most {n_max:,}"
    elif kind == "string_too_short":
        message = f"expected a non-empty text, found {describe(value)}"
    elif kind == "value_error":
        message = str(err["msg"]).removeprefix("Value error, ")
    else:
        message = str(err["msg"])
    return Problem(message, location, path, hint)


def _return_hint(path: tuple[str | int, ...], value: Any) -> str | None:
    """A shock return out of range is most often a percentage written as a number."""
    is_return = len(path) == 3 and path[0] == "shocks" and path[2] != LIQUIDITY_KEY
    if not is_return or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value <= -2:
        return f"returns are fractions: did you mean {value / 100:g} ({value:g}%)?"
    if value <= -1:
        return "a fall of 100% or more would take the price to 0 or below; -0.99 is a 99% fall"
    return None


_TYPE_WORDS = {
    "float_type": "a number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "string_type": "a text",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
    "none_required": "nothing",
}
_BOUND_WORDS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}


def _num(x: Any) -> str:
    if isinstance(x, float):
        return str(int(x)) if x.is_integer() and abs(x) < 1e6 else f"{x:g}"
    return str(x)


def describe(value: Any) -> str:
    """A short description of a found value, with its YAML type where that helps."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return f"the text {quote(value, 40)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def allowed_keys(root: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The keys a model at pydantic location ``loc`` accepts (for "did you mean")."""
    tp: Any = root
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    model = _as_model(tp)
    return list(model.model_fields) if model is not None else []


def union_tags(root: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """The `type` values a discriminated union at pydantic location ``loc`` accepts."""
    tp: Any = root
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    tags = []
    for member in _union_members(tp):
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get("type")
            if field is not None:
                tags.extend(typing.get_args(field.annotation))
    return tags


def _unwrap(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _as_model(tp: Any) -> type[BaseModel] | None:
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    members = _union_members(tp)
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    return models[0] if len(models) == 1 else None


def _union_members(tp: Any) -> tuple[Any, ...]:
    tp = _unwrap(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        # `Market | None`, where Market is itself an annotated union: flatten it
        flat: list[Any] = []
        for arg in typing.get_args(tp):
            arg = _unwrap(arg)
            flat.extend(_union_members(arg) or (arg,))
        return tuple(flat)
    return ()


def _tagged(tp: Any, part: Any) -> Any:
    """The member of a union that pydantic names by its ``Tag`` (``shocks``: ``MonteCarlo``)."""
    for arg in typing.get_args(_unwrap(tp)):
        if typing.get_origin(arg) is typing.Annotated:
            if any(getattr(meta, "tag", None) == part for meta in arg.__metadata__):
                return typing.get_args(arg)[0]
            found = _tagged(typing.get_args(arg)[0], part)
            if found is not None:
                return found
    return None


def _step(tp: Any, part: Any) -> Any:
    tagged = _tagged(tp, part) if isinstance(part, str) else None
    if tagged is not None:
        return tagged
    tp = _unwrap(tp)
    members = _union_members(tp)
    if members:
        for m in members:  # a discriminator tag selects a member
            if isinstance(m, type) and issubclass(m, BaseModel) and "type" in m.model_fields:
                literal = typing.get_args(m.model_fields["type"].annotation)
                if part in literal:
                    return m
        non_none = [m for m in members if m is not type(None)]
        if len(non_none) == 1:
            return _step(non_none[0], part)
        for m in non_none:
            got = _step(m, part)
            if got is not None:
                return got
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(part)
        return field.annotation if field is not None else None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is dict and len(args) == 2:
        return args[1]
    if origin is list and args and isinstance(part, int):
        return args[0]
    return None
