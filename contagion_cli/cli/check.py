"""``contagion check`` and ``contagion diff``: the CI gates on a pull request's scenarios."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import timings
from ..errors import ExitCode, one_line
from . import options
from .batches import progress, runner
from .guard import guarded
from .options import (
    AllowExtremeOpt,
    AllowOutsideOpt,
    ChunkSizeOpt,
    FixedLiquidityOpt,
    FixedShockOpt,
    FormatOpt,
    OutputOpt,
    ProgressOpt,
    SchedulerOpt,
    SetOpt,
    TimingsOpt,
    WideOpt,
    WorkersOpt,
)
from .output import choose_format, emit, print_timings, say, write
from .startup import begin


def check(
    scenarios: Annotated[
        list[Path],
        typer.Argument(help="Scenario files to check.", show_default=False, metavar="SCENARIO"),
    ],
    policy: Annotated[
        Path, typer.Option("--policy", "-p", help="Policy file: the gates (docs/ci.md).")
    ],
    set_: SetOpt = None,
    allow_extreme: AllowExtremeOpt = False,
    format: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Also write JUnit XML (for CI test reports).")
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="Also write a Markdown summary (a pull-request comment)."),
    ] = None,
    workers: WorkersOpt = None,
    show_progress: ProgressOpt = None,
    scheduler: SchedulerOpt = None,
    chunk_size: ChunkSizeOpt = None,
    allow_outside: AllowOutsideOpt = None,
    timings_: TimingsOpt = False,
) -> None:
    """Check scenarios against a policy's gates: exit 0 all pass, 1 a gate failed, 2 invalid
    (formats: table, json, markdown).

    Example: contagion check scenarios/quickstart.yaml -p scenarios/policies/quickstart-policy.yaml
    """
    from ..batch.variants import load_compiled
    from ..gates.check import check_files
    from ..gates.policy import load_policy
    from ..render import commands
    from ..render.ci import check_markdown, junit_xml, verdict_message

    begin()
    with guarded():
        fmt = choose_format(format, output, commands.CHECK)
        options.check(
            outputs={"--output": output, "--junit": junit, "--markdown": markdown},
            worker_count=workers, scheduler_address=scheduler, chunk_size=chunk_size,
        )  # fmt: skip
        sandbox = options.sandbox(allow_outside)
        rules = load_policy(policy, sandbox)
        sets = [*(set_ or ()), *options.extreme_sets(allow_extreme)]
        compiled = [(str(path), load_compiled(path, sets, sandbox)) for path in scenarios]
        started = time.perf_counter()
        with (
            runner(scheduler, chunk_size, workers, show_progress) as cluster,
            progress(show_progress, "check") as (_, advance),
            timings.phase("runs", whole=True),
        ):
            report = check_files(rules, compiled, workers, advance, cluster)
        elapsed = time.perf_counter() - started
        with timings.phase("report"):
            emit(commands.CHECK, report, fmt, output, wide)
            if junit is not None:
                write(junit_xml(report, seconds=elapsed), junit)
            if markdown is not None:
                write(check_markdown(report), markdown)
            github_actions(report)
        for v in report.failed:
            say(f"FAIL {one_line(v.scenario)}: {one_line(v.gate)}: {verdict_message(v)}")
        total, failed = len(report.verdicts), len(report.failed)
        say(f"{failed} of {total} gates failed" if failed else f"all {total} gates passed")
        print_timings(timings_)
        if failed:
            raise typer.Exit(int(ExitCode.GATE_FAILED))


def github_actions(report: Any) -> None:
    """Under GitHub Actions: an ``::error`` annotation at the policy line of each failed gate
    (on stderr, which the runner reads too, so that stdout stays the report), and the Markdown
    report appended to the job summary (``$GITHUB_STEP_SUMMARY``, wherever it is set)."""
    from ..render.ci import check_markdown, github_annotations

    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(report):
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(check_markdown(report) + "\n")
        except OSError as exc:
            say(f"warning: cannot append to $GITHUB_STEP_SUMMARY ({summary}): {exc.strerror}")


def diff(
    base: Annotated[
        Path, typer.Argument(help="The base scenario file.", show_default=False, metavar="BASE")
    ],
    candidate: Annotated[
        Path | None,
        typer.Argument(
            help="The candidate scenario file (default: the base with the --set overrides).",
            show_default=False,
            metavar="CANDIDATE",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=VALUE",
            help="Override a value of the candidate: PATH=VALUE (repeatable).",
            show_default=False,
        ),
    ] = None,
    shock: FixedShockOpt = None,
    liquidity: FixedLiquidityOpt = None,
    allow_extreme: AllowExtremeOpt = False,
    paths: Annotated[
        int | None,
        typer.Option("--paths", "-n", help="Compare simulations of this many paths."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the simulations.")] = None,
    fail_if: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if",
            metavar="RULE",
            help="Exit 1 when a change compares true: METRIC>CHANGE, e.g. 'bad_debt_usd>+5%' "
            "(relative) or 'insolvent_count>0' (absolute). Repeatable.",
            show_default=False,
        ),
    ] = None,
    format: FormatOpt = None,
    output: OutputOpt = None,
    wide: WideOpt = False,
    all_metrics: Annotated[
        bool, typer.Option("--all", help="Also list metrics that did not change.")
    ] = False,
    workers: WorkersOpt = None,
    show_progress: ProgressOpt = None,
    scheduler: SchedulerOpt = None,
    chunk_size: ChunkSizeOpt = None,
    allow_outside: AllowOutsideOpt = None,
    timings_: TimingsOpt = False,
) -> None:
    """Run a base and a candidate on the same shocks or paths; tabulate every metric's change
    (formats: table, json, csv, markdown). With --scheduler, the simulations run on the
    cluster; the two runs of a shock diff run here.

    Example: contagion diff scenarios/quickstart.yaml scenarios/candidates/quickstart.yaml
    """
    from ..batch.diff import diff_files, parse_fail_if
    from ..render import commands
    from ..render.analysis import change_text, value_text

    renderer = commands.diff(only_changed=not all_metrics)
    begin()
    with guarded():
        fmt = choose_format(format, output, renderer)
        options.check(
            outputs={"--output": output}, worker_count=workers, scheduler_address=scheduler,
            chunk_size=chunk_size,
        )  # fmt: skip
        rules = [parse_fail_if(t) for t in fail_if or ()]
        sandbox = options.sandbox(allow_outside)

        @contextmanager
        def simulation() -> Iterator[tuple[Any, Any, Any]]:
            with (
                runner(scheduler, chunk_size, workers, show_progress) as cluster,
                progress(show_progress, "diff") as (set_total, advance),
            ):
                yield cluster, set_total, advance

        result = diff_files(
            base, candidate, set_ or (), shock or (), liquidity or (), paths, seed, rules,
            workers, simulation, sandbox, options.extreme_sets(allow_extreme),
        )  # fmt: skip
        with timings.phase("report"):
            emit(renderer, result, fmt, output, wide)
        for r in result.failed:
            c = r.change
            say(f"FAIL --fail-if {r.rule.text}: {c.metric} changed by {change_text(c)} "
                f"({c.to_dict()['relative_change_text']}): {value_text(c.metric, c.base)} -> "
                f"{value_text(c.metric, c.candidate)}")  # fmt: skip
        print_timings(timings_)
        if result.failed:
            raise typer.Exit(int(ExitCode.GATE_FAILED))
