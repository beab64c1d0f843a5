"""What ``heap.set_thresholds`` changes: glibc's mmap threshold fixed alone (how the reading of a
positions file left the allocator before: the trim threshold stays at 128 KiB) against both
thresholds set, each in a fresh process that first runs the quickstart, as ``make bench``
does. docs/performance.md (*The allocator between runs*) quotes these figures: per book, the
kernel's best time (``timing.kernel`` with the index) and, per run, the page faults and the
system time (``getrusage``).

``python -m benchmarks.heap [--pairs N]`` (default 2: about 2 minutes on 2 cores, the books
written once). Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from contagion_cli import heap

from . import books, machine

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("mmap only", "both")
SIZES = (10**5, 10**6)


def _child(setting: str, scenario: Path) -> None:
    """In the child process: the allocator set one way, the quickstart run, then the book."""
    from .timing import kernel

    if setting == "both":
        heap.set_thresholds()
    else:  # what load/books did before: the mmap threshold alone
        mallopt = ctypes.CDLL(None).mallopt
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt(heap.M_MMAP_THRESHOLD, heap.MMAP_THRESHOLD)
        heap._set = True  # the book's reading must not set the trim threshold after all
    quick, _ = books.compile_file(ROOT / "scenarios" / "quickstart.yaml")
    kernel(quick, index=True, budget_s=0.2)
    compiled, _ = books.compile_file(scenario)
    kernel(compiled, index=True, budget_s=0.0)  # loads the kernel, builds the trigger index
    before = resource.getrusage(resource.RUSAGE_SELF)
    run = kernel(compiled, index=True, budget_s=3.0)
    after = resource.getrusage(resource.RUSAGE_SELF)
    n = run.timed.runs
    print(
        json.dumps(
            {
                "best_ms": run.timed.seconds * 1e3,
                "faults": (after.ru_minflt - before.ru_minflt) / n,
                "system_ms": (after.ru_stime - before.ru_stime) / n * 1e3,
            }
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.heap")
    parser.add_argument("--pairs", type=int, default=2, help="runs per setting and book")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child[0], Path(args.child[1]))
        return
    print(f"load average at the start: {machine.load_average()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="contagion-bench-heap-") as tmp:
        for n in SIZES:
            scenario = books.write_files(n, Path(tmp) / f"b{n}")
            for _ in range(args.pairs):
                for setting in SETTINGS:  # alternated: the machine's load drifts
                    done = subprocess.run(
                        [sys.executable, "-m", "benchmarks.heap", "--child", setting, scenario],
                        cwd=ROOT,
                        capture_output=True,
                        text=True,
                        check=True,
                    )
                    got = json.loads(done.stdout.strip().splitlines()[-1])
                    print(
                        f"10^{len(str(n)) - 1}, {setting}: best {got['best_ms']:.2f} ms, "
                        f"{got['faults']:.1f} page faults and {got['system_ms']:.2f} ms of "
                        "system time per run",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
