"""Command-line changes to a scenario: ``--set path=value`` and ``--shock ASSET=return``.

Overrides are applied to the loaded document *before* validation, so an overridden value is
validated exactly like one written in the file; problems point at the option, not a line.
"""

from __future__ import annotations

import decimal
import math
import re
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import InputError, Location, known_names_hint
from ..schema.models import LIQUIDITY_KEY
from .yaml import Document, parse_scalar

#: Collections keyed by user-chosen names: an override may not invent a new member there.
_NAMED = ("assets", "protocols")


def parse_assignment(text: str, option: str) -> tuple[str, str]:
    """``'a.b=1'`` -> ``('a.b', '1')``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise InputError.single(
            f"expected PATH=VALUE, found {text!r}",
            Location(option),
            hint=f"for example {option} protocols.aave.close_factor=0.5"
            if option == "--set"
            else f"for example {option} ETH=-0.35",
        )
    return key.strip(), value.strip()


def apply_set(doc: Document, text: str) -> None:
    """Apply one ``--set path=value`` to the document (in place)."""
    key, raw_value = parse_assignment(text, "--set")
    value = parse_scalar(raw_value)
    # `positions[0].debt` (how error messages print a path) is `positions.0.debt`
    parts = re.sub(r"\[(-?\d+)\]", r".\1", key).split(".")
    loc = Location(f"--set {text}")
    node: Any = doc.data
    path: list[str | int] = []
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.lstrip("-").isdigit():
                raise InputError.single(
                    f"{'.'.join(parts[:depth]) or 'the document'} is a list; "
                    f"expected an index, found {part!r}",
                    loc,
                )
            index = int(part)
            if not -len(node) <= index < len(node):
                raise InputError.single(
                    f"index {index} is out of range: {'.'.join(parts[:depth])} has "
                    f"{len(node)} entries",
                    loc,
                )
            index %= len(node)
            path.append(index)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            raise InputError.single(
                f"cannot set {key!r}: {'.'.join(parts[:depth])} is a single value, not a mapping",
                loc,
            )
        path.append(part)
        if last:
            node[part] = value
        elif part in node:
            node = node[part]
        elif depth == 1 and parts[0] in _NAMED:
            raise InputError.single(
                f"no {parts[0][:-1]} named {part!r}",
                loc,
                hint=known_names_hint(part, node, parts[0]),
            )
        else:
            node[part] = {}
            node = node[part]
            # a key the option invented: an error about it names the option, not the file
            doc.locations[tuple(path)] = loc
    # the value replaces whatever the file had there: forget the file's lines below it, and
    # blame the option for anything inside a mapping or list it gave
    prefix = tuple(path)
    for known in [k for k in doc.locations if k[: len(prefix)] == prefix]:
        del doc.locations[known]
    for inner in _paths(value, prefix):
        doc.locations[inner] = loc


def _paths(value: Any, prefix: tuple[str | int, ...]) -> Iterator[tuple[str | int, ...]]:
    """``prefix`` and the path of every key and item inside ``value``."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*prefix, index))


def number_of(text: str) -> float | None:
    """``-0.35`` or ``-35%`` -> -0.35; None when ``text`` is neither (not finite included)."""
    raw = text.strip()
    try:
        if raw.endswith("%"):
            # in decimal, then one rounding: -35% is the float -0.35, not -35 * 0.01
            value = float(decimal.Decimal(raw[:-1].rstrip()).scaleb(-2))
        else:
            value = float(raw)
    except (ValueError, decimal.InvalidOperation):
        return None
    return value if math.isfinite(value) else None


def parse_number(text: str, option: str, what: str) -> float:
    """A number as the command line writes it: ``-0.35`` or ``-35%`` -> -0.35 (finite). The one
    parser of ``--shock``, ``--liquidity``, sweep axes, gate limits, ``--fail-if`` and the
    percentages of a file's shock path (:func:`percentages_in_shocks`)."""
    value = number_of(text)
    if value is not None:
        return value
    try:
        float(text.strip().removesuffix("%"))
    except ValueError:
        raise InputError.single(
            f"{what}: expected a number such as -0.35 or -35%, found {text.strip()!r}",
            Location(option),
        ) from None
    raise InputError.single(
        f"{what}: expected a finite number, found {text.strip()!r}", Location(option)
    )


def percentages_in_shocks(doc: Document) -> None:
    """``ETH: -35%`` in a shock step of a file, read as on the command line (-0.35), for
    returns and liquidity multipliers alike (in place, before validation). A text that is not
    a percentage is left for the schema to report where it is."""

    def convert(mapping: dict[Any, Any]) -> None:
        for key, value in mapping.items():
            if isinstance(value, str) and value.strip().endswith("%"):
                number = number_of(value)
                if number is not None:
                    mapping[key] = number

    shocks = doc.data.get("shocks") if isinstance(doc.data, dict) else None
    if not isinstance(shocks, list):
        return  # a Monte Carlo model, or a mistake the schema reports
    for step in shocks:
        if not isinstance(step, dict):
            continue
        convert(step)
        if isinstance(step.get(LIQUIDITY_KEY), dict):
            convert(step[LIQUIDITY_KEY])


def apply_shock_override(
    doc: Document, shocks: Sequence[str], liquidity: Sequence[str] = ()
) -> None:
    """Replace the shock path with one step built from ``--shock`` (and ``--liquidity``)."""
    if not shocks and liquidity:
        raise InputError.single(
            "--liquidity needs --shock (it scales liquidity in the one step --shock builds)",
            Location("--liquidity"),
            hint="to change the file's path, use --set shocks.0.liquidity.ETH=0.5",
        )
    if not shocks:
        return
    step: dict[str, Any] = {}
    for text in shocks:
        asset, value = parse_assignment(text, "--shock")
        if asset in step:
            raise InputError.single(f"asset {asset!r} is shocked twice", Location("--shock"))
        step[asset] = parse_number(value, "--shock", asset)
        doc.locations[("shocks", 0, asset)] = Location(f"--shock {text}")
    if liquidity:
        multipliers: dict[str, Any] = {}
        for text in liquidity:
            asset, value = parse_assignment(text, "--liquidity")
            multipliers[asset] = parse_number(value, "--liquidity", asset)
            doc.locations[("shocks", 0, LIQUIDITY_KEY, asset)] = Location(f"--liquidity {text}")
        step[LIQUIDITY_KEY] = multipliers
    doc.data["shocks"] = [step]
    doc.locations.setdefault(("shocks",), Location("--shock"))
    doc.locations[("shocks", 0)] = Location("--shock")
