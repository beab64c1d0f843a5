"""``python -m benchmarks.run --output BENCHMARKS.md``: every figure of BENCHMARKS.md, measured
in one run (``make bench``). Progress goes to stderr; ``--quick`` is a small smoke run of the
same code (minutes become seconds; its figures are not the record)."""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from contagion_cli import heap

from . import (
    books,
    cascade,
    comparisons,
    compile_time,
    machine,
    memory,
    radcad_peer,
    startup,
    sweep,
    throughput,
)
from .report import Results, count, render, seconds
from .targets import evaluate
from .timing import kernel

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...]  # books for the throughput, the numpy baseline and memory
    cascade: int  # the size of the long cascade
    sweep: int  # the size of the sweep's book
    reference: tuple[int, ...]  # books small enough for the plain-Python reference
    peer: tuple[int, ...]  # books of the peer cascade run by the kernel and by radCAD
    cold_start: bool  # compile into an empty cache (a minute or two)
    budget_s: float  # time per figure for repeated kernel runs


FULL = Plan(
    sizes=(10**4, 10**5, 10**6, 10**7),
    cascade=10**6,
    sweep=10**5,
    reference=(10**3, 10**4),
    peer=(10**5, 10**6),
    cold_start=True,
    budget_s=2.0,
)
QUICK = Plan(
    sizes=(10**3, 10**4),
    cascade=10**4,
    sweep=10**4,
    reference=(300,),
    peer=(10**4,),
    cold_start=False,
    budget_s=0.2,
)


class Progress:
    """A status line on stderr while a step runs, and a line with its time when it is done."""

    def __init__(self) -> None:
        self.console = Console(stderr=True, highlight=False)
        self.start = time.perf_counter()

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        begun = time.perf_counter()
        with self.console.status(f"{text} ..."):
            yield
        elapsed = time.perf_counter() - self.start
        took = seconds(time.perf_counter() - begun)
        self.console.print(f"[{elapsed:6.0f} s] {text}: {took}", markup=False)


def measure(plan: Plan, command: str, progress: Progress) -> Results:
    results = Results(machine.describe(ROOT), command, books.book_format(), machine.load_average())
    with progress.step("warming the JIT (compiles the kernel if its cache is stale)"):
        quick, _ = books.compile_file(ROOT / "scenarios" / "quickstart.yaml")
        kernel(quick, index=True, budget_s=0.0)
        # a run of a 13-position book is almost all fixed cost: copies, arrays, arguments
        results.call_overhead = kernel(quick, index=True, budget_s=plan.budget_s).timed
    with progress.step("sweep of the quickstart on one worker, processes and threads"):
        results.pools = sweep.measure_pools(ROOT / "scenarios" / "quickstart.yaml")
    if plan.cold_start:
        with progress.step("start-up: cold and warm `contagion run` of the quickstart"):
            results.startup = startup.measure()
        with progress.step("cold compile of each specialised kernel (empty cache folders)"):
            results.cold = compile_time.measure()
    with tempfile.TemporaryDirectory(prefix="contagion-bench-") as tmp:
        for n in plan.sizes:
            directory = Path(tmp) / f"book-{n}"
            with progress.step(f"{count(n)} positions: writing and compiling the book"):
                scenario = books.write_files(n, directory)
                compiled, compile_s = books.compile_file(scenario)
            with progress.step(f"{count(n)} positions: kernel (index, full scan) and numpy"):
                # one run each at the largest size: its runs take seconds
                budget = plan.budget_s if n < 10**7 else 0.0
                size = throughput.measure(compiled, scenario, compile_s, budget_s=budget)
                results.sizes.append(size)
            if n == plan.cascade:
                with progress.step(f"{count(n)} positions: one pass over the book"):
                    results.cascade = cascade.measure(
                        compiled, size.index, size.full, plan.budget_s
                    )
            del compiled
            gc.collect()
            with progress.step(f"{count(n)} positions: peak memory (child process)"):
                results.memory.append(memory.measure(scenario, size.positions))
            if n == plan.cascade:
                with progress.step(f"{count(n)} positions: `contagion run`, default and JIT"):
                    results.book_run = startup.measure_book(scenario, size.positions)
            if n == plan.sweep:
                with progress.step(f"{count(n)} positions: 1,000-point shock sweep"):
                    results.sweep = sweep.measure(scenario, size.positions)
        for n in plan.reference:
            directory = Path(tmp) / f"inline-{n}"
            with progress.step(f"{count(n)} positions inline: reference, numpy, kernel"):
                compiled, _ = books.compile_file(books.write_inline(n, directory))
                index = kernel(compiled, index=True, budget_s=plan.budget_s)
                full = kernel(compiled, index=False, budget_s=plan.budget_s)
                results.reference.append(
                    comparisons.measure(
                        compiled, index, full, with_reference=True, budget_s=plan.budget_s
                    )
                )
        for n in plan.peer:
            with progress.step(f"{count(n)} positions: the peer cascade, kernel and radCAD"):
                results.peer.append(radcad_peer.measure(n, Path(tmp) / f"peer-{n}", plan.budget_s))
    every = [s.comparison for s in results.sizes] + results.reference
    results.verdicts = evaluate(
        every, results.sweep, results.startup, results.memory, results.peer, results.cold
    )
    results.load_end = machine.load_average()
    results.wall_s = time.perf_counter() - progress.start
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--output", "-o", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument(
        "--quick", action="store_true", help="small books, no cold start: a smoke run"
    )
    args = parser.parse_args(argv)
    # the kernel is timed in this process: set its allocator up as the console script does
    heap.set_thresholds()
    command = "python -m benchmarks.run --output " + str(args.output)
    if args.quick:
        command += " --quick"
    progress = Progress()
    results = measure(QUICK if args.quick else FULL, command, progress)
    args.output.write_text(render(results), encoding="utf-8")
    for verdict in results.verdicts:
        progress.console.print(
            f"{verdict.target}: {verdict.measured} - {verdict.text}", markup=False
        )
    progress.console.print(f"wrote {args.output} in {seconds(results.wall_s)}", markup=False)


if __name__ == "__main__":
    main()
