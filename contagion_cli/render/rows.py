"""Row tables (one flat dict per sweep point, path or level) as CSV, JSON or Parquet."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import InputError, Location
from .escape import csv_text, json_text


def to_csv(columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """A header and one line per row; None is an empty cell, booleans are true/false."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([cell(c) for c in columns])
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return buffer.getvalue()


def cell(value: Any) -> str:
    """One CSV cell, the same in every CSV the tool writes: empty for none, true/false, floats
    to the last digit (``repr``), a list's items joined by ``;``, text guarded against formulas
    (:func:`~.escape.csv_text`: names come from scenario files; numbers are never guarded)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return ";".join(cell(x) for x in value)
    if isinstance(value, int | float):
        return str(value)
    return csv_text(str(value))


def to_json(data: Any) -> str:
    """Strict JSON (no NaN), indented, with a trailing newline; ASCII only, and nothing a CI
    log reads as a command (:func:`~.escape.json_text`)."""
    return json_text(json.dumps(data, indent=2, allow_nan=False)) + "\n"


def require_pyarrow(option: str = "--format parquet") -> None:
    """A clear error (exit 2) when the optional ``parquet`` extra is not installed."""
    if importlib.util.find_spec("pyarrow") is None:
        raise InputError.single(
            "Parquet output needs pyarrow, which is not installed",
            Location(option),
            hint="pip install 'contagion-cli[parquet]', or use --format csv",
        )


def write_parquet(path: Path, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """One Parquet file, a column per name (types inferred: int, bool, float, string)."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = {c: [row.get(c) for row in rows] for c in columns}
    table = pa.table(data)
    try:
        # pyarrow deletes the file it was writing when it fails: let that be our temporary
        # file, never a file that was at ``path`` before this run
        with atomic.replacing(path) as temp:
            pq.write_table(table, str(temp))
    except OSError as exc:
        raise InputError.single(
            f"cannot write: {exc.strerror or exc}", Location(str(path))
        ) from None
