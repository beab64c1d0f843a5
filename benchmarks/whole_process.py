"""Whole-process `contagion run`, warm, for issue 14's start-up targets: the quickstart (item 3,
<= 0.3 s) and the peer cascade of 10^6 positions (item 4, <= 1.0 s), each the median of several
fresh processes, with the median of each ``--timings`` phase beside it (where the time goes).

Run by ``make bench`` after :mod:`.run`, appending its section to BENCHMARKS.md
(``--append``); ``--quick`` uses 10^5 positions. Warm means: the numba cache of this machine
(the one ``contagion`` itself uses) already holds the kernel, and the book's files were read
once (the first run of each command primes both and is not counted)."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from contagion_cli.generate import write

from . import books, machine
from .report import count

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
RUNS = 7
QUICKSTART_TARGET_S = 0.3
JIT_OVER_WORK_TARGET_S = 0.3  # item 3: what a warm JIT process adds over the same work
BOOK_TARGET_S = 1.0
BOOK_POSITIONS = 10**6


@dataclass
class Measured:
    label: str
    target_s: float | None
    walls: list[float]
    phases: dict[str, float] = field(default_factory=dict)  # median seconds of each phase

    @property
    def median_s(self) -> float:
        return statistics.median(self.walls)


def _environment(executor: str | None) -> dict[str, str]:
    env = machine.user_environment("CONTAGION_EXECUTOR")
    if executor is not None:
        env["CONTAGION_EXECUTOR"] = executor
    return env


def measure(
    label: str, scenario: Path, executor: str | None, target_s: float | None, runs: int = RUNS
) -> Measured:
    """``runs`` fresh processes of ``contagion run SCENARIO --format json --timings`` after
    one that primes the caches; their wall-clock and their phases."""
    # `python -m contagion_cli` is the console script without its shim, this checkout's code
    argv = [sys.executable, "-m", "contagion_cli", "run", str(scenario), "-f", "json", "--timings"]
    env = _environment(executor)
    walls, phases = [], defaultdict(list)
    for k in range(runs + 1):
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        took = time.perf_counter() - start
        if done.returncode not in (0, 1):  # 1: a documented expectation that failed
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr}")
        if k == 0:
            continue  # primes the kernel's cache and the page cache
        walls.append(took)
        for line in done.stderr.splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "time":
                phases[parts[1]].append(float(parts[2]))
    return Measured(
        label, target_s, walls, {name: statistics.median(v) for name, v in phases.items()}
    )


def measure_all(positions: int, runs: int = RUNS) -> list[Measured]:
    out = [
        measure("quickstart, default executor", QUICKSTART, None, QUICKSTART_TARGET_S, runs),
        measure("quickstart, JIT", QUICKSTART, "jit", None, runs),
    ]
    with tempfile.TemporaryDirectory(prefix="contagion-bench-whole-") as tmp:
        scenario = write(books.peer_cascade(positions), Path(tmp), books.book_format())[0]
        target = BOOK_TARGET_S if positions == BOOK_POSITIONS else None
        label = f"peer cascade, {count(positions)} positions"
        out.append(measure(label, scenario, None, target, runs))
    return out


PHASES = ("start", "load", "validate", "compile", "jit", "kernel", "report")


def section(results: list[Measured], load: tuple[float, float]) -> str:
    """The Markdown section: a row per command, its target and verdict, the phases."""
    lines = [
        "",
        "## Whole process, warm (issue 14 items 3 and 4)",
        "",
        "`python -m benchmarks.whole_process`: each row is the median wall-clock of "
        f"{len(results[0].walls)} fresh processes of `contagion run … -f json --timings` "
        "(after one that warms the kernel's cache and the page cache), with the median of "
        "each `--timings` phase. The peer cascade is the book of the radCAD comparison "
        "(one lending market, ETH on a cpmm, ETH -10 %). Load average during the runs: "
        f"{load[0]:.2f} at the start, {load[1]:.2f} at the end (2 shared cores make these "
        "figures noisy: compare rows of one run, not runs of different days).",
        "",
        "| command | median s (min-max) | target | verdict | " + " | ".join(PHASES) + " |",
        "|---|---|---|---|" + "---|" * len(PHASES),
    ]
    for r in results:
        target = f"<= {r.target_s:g} s" if r.target_s is not None else "-"
        verdict = "-" if r.target_s is None else ("met" if r.median_s <= r.target_s else "missed")
        cells = " | ".join(f"{r.phases[p]:.3f}" if p in r.phases else "-" for p in PHASES)
        lines.append(
            f"| {r.label} | {r.median_s:.2f} ({min(r.walls):.2f}-{max(r.walls):.2f}) | "
            f"{target} | {verdict} | {cells} |"
        )
    by_label = {r.label: r for r in results}
    default, jit = by_label.get("quickstart, default executor"), by_label.get("quickstart, JIT")
    if default is not None and jit is not None:
        # the same work either way: the difference is what the JIT itself costs a process
        extra = jit.median_s - default.median_s
        met = "met" if extra <= JIT_OVER_WORK_TARGET_S else "missed"
        lines += [
            "",
            f"A warm JIT process adds {extra:.2f} s to the quickstart (target <= "
            f"{JIT_OVER_WORK_TARGET_S:g} s: {met}): its `jit` phase, {jit.phases.get('jit', 0):.3f}"
            " s, is numba's import, its target's start-up and the cached kernel's load.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--append", type=Path, help="append the section to this Markdown file")
    parser.add_argument("--quick", action="store_true", help="10^5 positions, 3 runs each")
    args = parser.parse_args(argv)
    positions, runs = (10**5, 3) if args.quick else (BOOK_POSITIONS, RUNS)
    before = machine.load_average()[0]
    results = measure_all(positions, runs)
    text = section(results, (before, machine.load_average()[0]))
    if args.append is not None:
        with args.append.open("a", encoding="utf-8") as out:
            out.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
