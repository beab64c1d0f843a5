"""CI reports: JUnit XML of ``contagion check`` (rendered by CI systems), GitHub Actions
annotations at the policy line of a failed gate, and Markdown summaries of check, diff and
simulate to post on a pull request or a job summary."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import OrderedDict

from ..batch.diff import DiffResult
from ..batch.simulate import SimulationResult
from ..gates.check import CheckReport, Verdict
from . import numbers as fmt
from .analysis import change_text, excess_text, value_text
from .escape import Raw, md, md_cell, md_code, xml_text


def verdict_message(v: Verdict) -> str:
    """``bad_debt_usd = $1.2M, limit <= $1M: over by $200K (+20.0%) at ETH -30%``."""
    value = value_text(v.metric, v.value)
    limit = value_text(v.metric, v.limit)
    if v.value != v.value:  # NaN
        how = "no value"
    elif v.passed:
        how = f"margin {_amount(v.metric, -v.excess, v.limit)}"
    else:
        how = f"beyond the limit by {_amount(v.metric, v.excess, v.limit)}"
    where = f" {v.at}"
    count = (
        f" ({v.failing_points:,} of {v.points:,} points fail)"
        if v.points > 1 and not v.passed
        else ""
    )
    return f"{v.metric} = {value}, limit {v.op} {limit}: {how}{where}{count}"


def _amount(metric: str, amount: float, limit: float) -> str:
    """``$62.2K (8.3% of the limit)``."""
    text = value_text(metric, amount)
    if limit != 0 and amount != 0:
        text += f" ({abs(amount / limit) * 100:.1f}% of the limit)"
    return text


def _case_seconds(report: CheckReport, seconds: float | None) -> list[float]:
    """Each verdict's share of the check's wall time, by its points (runs): the gates of a file
    run as one batch, so a gate has no time of its own. Zeros when the time is not known."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return [0.0] * len(report.verdicts)
    weights = [max(v.points, 1) for v in report.verdicts]
    total = sum(weights)
    return [seconds * w / total for w in weights] if total else []


def junit_xml(report: CheckReport, seconds: float | None = None) -> str:
    """JUnit XML: a suite per scenario file, a test case per gate, a failure per failed gate.

    The common JUnit shape (``testsuites/testsuite/testcase/failure``, as Jenkins, GitLab,
    GitHub actions and ``junitparser`` read it), with ``time`` in seconds on the root, every
    suite and every test case. ``seconds`` is the check's wall time; it is shared out among the
    test cases by their points (see :func:`_case_seconds`), and a suite's time is the sum of its
    cases'.
    """
    # rounded first, so that a suite's time is exactly the sum of its cases' as printed
    case_seconds = [round(t, 3) for t in _case_seconds(report, seconds)]
    suites: OrderedDict[str, list[tuple[Verdict, float]]] = OrderedDict()
    for v, t in zip(report.verdicts, case_seconds, strict=True):
        suites.setdefault(v.scenario, []).append((v, t))
    # names, gates and file names are untrusted text: xml_text drops what XML forbids
    root = ET.Element(
        "testsuites",
        name=xml_text(f"contagion check {report.policy}"),
        tests=str(len(report.verdicts)),
        failures=str(len(report.failed)),
        errors="0",
        time=_seconds(sum(case_seconds)),
    )
    for scenario, cases in suites.items():
        failures = sum(1 for v, _ in cases if not v.passed)
        suite = ET.SubElement(
            root,
            "testsuite",
            name=xml_text(scenario),
            tests=str(len(cases)),
            failures=str(failures),
            errors="0",
            skipped="0",
            time=_seconds(sum(t for _, t in cases)),
        )
        for v, t in cases:
            case = ET.SubElement(
                suite,
                "testcase",
                name=xml_text(v.gate),
                classname=xml_text(classname(v.scenario)),
                file=xml_text(v.scenario),
                time=_seconds(t),
            )
            message = xml_text(verdict_message(v))
            if v.passed:
                ET.SubElement(case, "system-out").text = message
            else:
                failure = ET.SubElement(case, "failure", message=message, type="GateFailed")
                failure.text = f"{xml_text(v.check)}\n{message}\n"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def classname(path: str) -> str:
    """A JUnit class name from a scenario's file path: ``scenarios/candidates/quickstart.yaml``
    -> ``scenarios.candidates.quickstart``. Two files whose scenarios share a ``name`` stay two
    classes (test viewers group cases by class)."""
    parts = [p for p in re.split(r"[\\/]+", path) if p not in ("", ".")]
    if parts:
        parts[-1] = re.sub(r"\.(ya?ml)$", "", parts[-1], flags=re.IGNORECASE)
    return ".".join(p.replace(".", "_") for p in parts) or "contagion"


def _data(text: str) -> str:
    """The message of a GitHub workflow command, escaped: %, CR and LF would end or garble it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    """A property of a workflow command (``file=``, ``title=``): ``:`` and ``,`` escaped too."""
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotations(report: CheckReport) -> list[str]:
    """``::error file=POLICY,line=N,title=...::MESSAGE`` for each failed gate: GitHub Actions
    shows it at the gate's ``check:`` line of the policy file (in the diff of a pull request
    that changed it) and in the job's summary of annotations."""
    out = []
    for v in report.failed:
        props = [f"file={_property(report.policy)}"]
        if v.line is not None:
            props.append(f"line={v.line}")
        props.append(f"title={_property('contagion check: ' + v.gate)}")
        out.append(f"::error {','.join(props)}::{_data(f'{v.scenario}: {verdict_message(v)}')}")
    return out


def _seconds(value: float) -> str:
    """JUnit's ``time``: seconds as a decimal float, ``1.234``."""
    return f"{value:.3f}"


def _md_table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """A GFM table; cells escaped (:func:`~.escape.md_cell`: gate names are untrusted)."""
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return out


def check_markdown(report: CheckReport) -> str:
    """A pull-request comment: verdict first, then a table per scenario file."""
    failed = report.failed
    if failed:
        head = f"## ❌ contagion check: {len(failed)} of {len(report.verdicts)} gates failed"
    else:
        head = f"## ✅ contagion check: all {len(report.verdicts)} gates passed"
    lines = [
        head,
        "",
        f"Policy: {md_code(report.policy)}"
        + (f" ({md(report.policy_name)})" if report.policy_name else ""),
        "",
    ]
    by_file: OrderedDict[str, list[Verdict]] = OrderedDict()
    for v in report.verdicts:
        by_file.setdefault(v.scenario, []).append(v)
    for scenario, verdicts in by_file.items():
        lines += [f"### {md_code(scenario)}", ""]
        rows = [
            [
                "✅" if v.passed else "❌",
                v.gate,
                value_text(v.metric, v.value),
                f"{v.op} {value_text(v.metric, v.limit)}",
                excess_text(v.metric, v.excess, v.limit),
                v.at,
            ]
            for v in verdicts
        ]
        lines += _md_table(["", "gate", "value", "limit", "excess", "where"], rows, {2, 3, 4})
        lines.append("")
    if failed:
        lines += ["**Failed:**", ""]
        lines += [
            f"- {md_code(v.scenario)} — {md(v.gate)}: {md(verdict_message(v))}" for v in failed
        ]
        lines.append("")
    return "\n".join(lines)


def diff_markdown(result: DiffResult, only_changed: bool = True) -> str:
    verdict = ""
    if result.rules:
        verdict = "❌ " if result.failed else "✅ "
    lines = [
        f"## {verdict}contagion diff: {md_code(result.base)} → {md_code(result.candidate)}",
        "",
        f"On {md(result.on)}.",
        "",
    ]
    rows = [
        [
            Raw(md_code(c.metric, table=True)),
            value_text(c.metric, c.base),
            value_text(c.metric, c.candidate),
            change_text(c),
            c.to_dict()["relative_change_text"],
        ]
        for c in result.changes
        if not only_changed or c.change != 0
    ]
    if rows:
        lines += _md_table(
            ["metric", "base", "candidate", "change", "change %"], rows, {1, 2, 3, 4}
        )
    else:
        lines.append("No metric changed.")
    lines.append("")
    for r in result.rules:
        mark = "❌ failed" if r.failed else "✅ passed"
        lines.append(
            f"- `--fail-if {r.rule.text}`: {mark} ({r.change.to_dict()['relative_change_text']})"
        )
    if result.rules:
        lines.append("")
    return "\n".join(lines)


def simulation_markdown(sim: SimulationResult) -> str:
    r = sim.risk
    m = sim.model
    lines = [
        f"## contagion simulate: {md(sim.scenario)}",
        "",
        f"{sim.paths:,} paths of `{m.model}`, {m.steps} steps of {m.dt_days:g} days, "
        f"seed {sim.seed}.",
        "",
    ]
    rows = [
        ["VaR 95%", fmt.usd(r.var95)],
        ["VaR 99%", fmt.usd(r.var99)],
        ["ES 95%", fmt.usd(r.es95)],
        ["ES 99%", fmt.usd(r.es99)],
        ["LaR 95%", fmt.usd(r.lar95)],
        ["P(insolvency)", f"{r.p_insolvent * 100:.2f}%"],
        ["P(bad debt)", f"{r.p_bad_debt * 100:.2f}%"],
    ]
    lines += _md_table(["metric", "value"], rows, {1})
    lines += [
        "",
        "| protocol | P(insolvent) | mean bad debt | p95 bad debt |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, pr in sim.protocols.items():
        lines.append(
            f"| {name} | {pr.p_insolvent * 100:.2f}% | {fmt.usd(pr.bad_debt_usd.mean)} | "
            f"{fmt.usd(pr.bad_debt_usd.p95)} |"
        )
    lines.append("")
    return "\n".join(lines)
