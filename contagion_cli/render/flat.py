"""Machine formats: JSON (one object, jq-friendly) and CSV (long format: one value a row)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from ..results.run import RunResult
from .rows import cell


def to_csv(result: RunResult) -> str:
    """``section,name,field,value`` rows: summary, one block per protocol, asset, venue, step,
    ADL cut, edge, and with ``--entities`` / ``--trace`` per entity and per round.

    A long format keeps one file for values of different shapes and stays easy to filter
    (``awk -F, '$1=="protocol" && $3=="bad_debt_usd"'``) or pivot (pandas, duckdb). Nested
    values are named by their JSON path below the row: a round's row ``s1r3`` has the fields
    ``prices.ETH``, ``flows.puts.ETH`` (units sent to market, negative: bought) and so on.
    """
    buffer = io.StringIO()
    writer = _CellWriter(buffer)
    writer.writerow(["section", "name", "field", "value"])
    data = result.to_dict()
    for key, value in data.items():
        if isinstance(value, dict | list):
            continue
        writer.writerow(["summary", result.scenario, key, cell(value)])
    writer.writerow(
        ["summary", result.scenario, "insolvent_protocols", ";".join(result.insolvent_protocols)]
    )
    for section, rows in (("protocol", data["protocols"]), ("asset", data["assets"])):
        for name, row in rows.items():
            for key, value in row.items():
                if key != "name" and not isinstance(value, list | dict):
                    writer.writerow([section, name, key, cell(value)])
    for asset, row in data["assets"].items():
        for venue in row.get("venues") or []:
            for key, value in venue.items():
                if key != "name":
                    writer.writerow(["venue", f"{asset}@{venue['name']}", key, cell(value)])
    for step in data["steps"]:
        for key in ("rounds", "converged"):
            writer.writerow(["step", step["step"], key, cell(step[key])])
    for name, row in data["protocols"].items():
        for cut in row.get("adl_cuts", []):
            writer.writerow(["adl_cut", name, f"{cut['account']}:{cut['asset']}", cut["cut_usd"]])
    for i, edge in enumerate(data["contagion"]["edges"]):
        writer.writerow(["edge", i, "from", edge["from"]])
        writer.writerow(["edge", i, "to", edge["to"]])
        writer.writerow(["edge", i, "asset", edge["asset"]])
        writer.writerow(["edge", i, "round", edge["round"]])
    if "coordination" in data:
        coordination = dict(data["coordination"])
        entities = coordination.pop("entities")
        for key, value in _flat(coordination):
            writer.writerow(["coordination", result.scenario, key, cell(value)])
        for entity in entities:
            for key, value in _flat(entity):
                if key != "account":
                    writer.writerow(["coordinated_entity", entity["account"], key, cell(value)])
    for entity in data.get("entities", []):
        for key, value in _flat(entity):
            if key != "account":
                writer.writerow(["entity", entity["account"], key, cell(value)])
    for row in data.get("trace", []):
        name = f"s{row['step']}r{row['round']}"
        for key, value in _flat(row):
            writer.writerow(["trace", name, key, cell(value)])
    return buffer.getvalue()


class _CellWriter:
    """A CSV writer that passes every cell through :func:`~.rows.cell` (the scenario's name
    and the accounts of a positions file are untrusted text; numbers stay numbers)."""

    def __init__(self, buffer: io.StringIO) -> None:
        self._writer = csv.writer(buffer, lineterminator="\n")

    def writerow(self, values: list[Any]) -> None:
        self._writer.writerow([cell(v) for v in values])


def _flat(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted JSON path, scalar) pairs; a list of scalars is one ``;``-joined value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flat(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        yield prefix, ";".join(cell(v) for v in value)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _flat(item, f"{prefix}.{i}")
    else:
        yield prefix, value
