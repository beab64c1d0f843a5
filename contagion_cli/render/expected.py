"""A run's documented outcome (its ``expected:`` verdicts) under a report, in every format."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence

from ..gates.verdict import Verdict
from .escape import md, plain
from .numbers import value_text
from .rows import cell


def _band_text(v: Verdict) -> str:
    lo, hi = v.condition.bounds
    low = value_text(v.metric, lo, v.kind) if lo is not None else None
    high = value_text(v.metric, hi, v.kind) if hi is not None else None
    if low is not None and high is not None:
        return low if lo == hi else f"{low} to {high}"
    if low is not None:
        return f">= {low}"
    return f"<= {high}"


def headline(verdicts: Sequence[Verdict]) -> str:
    """The one line that says whether the run lands where the record does."""
    inside = sum(1 for v in verdicts if v.passed)
    total = len(verdicts)
    if verdicts and verdicts[0].scenario_modified:
        return (
            f"Documented outcome (for the unmodified scenario; --set/--shock changed it): "
            f"{inside} of {total} checks inside the record's band"
        )
    verdict = "matches the record" if inside == total else "DIFFERS from the record"
    return f"Documented outcome: the run {verdict} ({inside} of {total} checks inside its band)"


def render_lines(verdicts: Sequence[Verdict], escape: Callable[[str], str] = plain) -> list[str]:
    """The headline, then one line per check: mark, metric, the run's value, the band, source
    (free text of the scenario file, written through ``escape``)."""
    if not verdicts:
        return []
    lines = [headline(verdicts)]
    for v in verdicts:
        mark = "no value" if v.passed is None else ("inside " if v.passed else "OUTSIDE")
        lines.append(
            f"  {mark}  {v.metric} = {value_text(v.metric, v.value, v.kind)}; "
            f"record: {_band_text(v)} ({escape(v.source)})"
        )
    return lines


def renderable(verdicts: Sequence[Verdict]):  # type: ignore[no-untyped-def]
    """The lines as rich Text, coloured for a terminal (green inside, red outside)."""
    from rich.text import Text

    text = Text()
    modified = bool(verdicts) and verdicts[0].scenario_modified
    for i, line in enumerate(render_lines(verdicts)):
        if i == 0:
            style = (
                "yellow" if modified else ("green" if all(v.passed for v in verdicts) else "red")
            )
        else:
            ok = verdicts[i - 1].passed
            style = "" if modified else ("green" if ok else "red")
        text.append(line + "\n", style=f"bold {style}".strip() if i == 0 else style)
    return text


def csv_rows(verdicts: Sequence[Verdict]) -> str:
    """Rows of section ``expected`` for the long CSV of a run: ``expected,METRIC,FIELD,VALUE``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for v in verdicts:
        for key, value in v.to_dict().items():
            if key != "metric":
                writer.writerow(["expected", cell(v.metric), key, cell(value)])
    return buffer.getvalue()


def markdown_section(verdicts: Sequence[Verdict]) -> str:
    """The headline as a heading, one bullet per check."""
    lines = render_lines(verdicts, md)
    body = [f"### {lines[0]}", "", *(f"- {' '.join(line.split(maxsplit=1))}" for line in lines[1:])]
    return "\n".join(body) + "\n"
