"""Machine formats: JSON (one object, jq-friendly) and CSV (long format: one value a row)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from ..results import RunResult


def to_json(data: dict[str, Any]) -> str:
    """Strict JSON (no NaN) with a trailing newline."""
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def to_csv(result: RunResult) -> str:
    """``section,name,field,value`` rows: summary, one block per protocol, asset, step, edge.

    A long format keeps one file for values of different shapes and stays easy to filter
    (``awk -F, '$1=="protocol" && $3=="bad_debt_usd"'``) or pivot (pandas, duckdb).
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "name", "field", "value"])
    data = result.to_dict()
    for key, value in data.items():
        if isinstance(value, dict | list):
            continue
        writer.writerow(["summary", result.scenario, key, _cell(value)])
    writer.writerow(
        ["summary", result.scenario, "insolvent_protocols", ";".join(result.insolvent_protocols)]
    )
    for section, rows in (("protocol", data["protocols"]), ("asset", data["assets"])):
        for name, row in rows.items():
            for key, value in row.items():
                if key != "name" and not isinstance(value, list | dict):
                    writer.writerow([section, name, key, _cell(value)])
    for step in data["steps"]:
        for key in ("rounds", "converged"):
            writer.writerow(["step", step["step"], key, _cell(step[key])])
    for name, row in data["protocols"].items():
        for cut in row.get("adl_cuts", []):
            writer.writerow(["adl_cut", name, f"{cut['account']}:{cut['asset']}", cut["cut_usd"]])
    for i, edge in enumerate(data["contagion"]["edges"]):
        writer.writerow(["edge", i, "from", edge["from"]])
        writer.writerow(["edge", i, "to", edge["to"]])
        writer.writerow(["edge", i, "asset", edge["asset"]])
        writer.writerow(["edge", i, "round", edge["round"]])
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
