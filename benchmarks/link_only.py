"""What ``jit_link`` changes: ``CONTAGION_JIT_LINK_ONLY=0`` (numba's usual compile, the kernel
before it) against 1 (the kernel's helpers compiled only to be linked), alternated, each run a
fresh process. docs/performance.md (*Helpers compiled for linking only*) quotes these figures:

- the cold compile of each specialised kernel (``benchmarks.compile_time``: the whole process
  into an empty cache folder, minus the same run warm; and its CPU time);
- the kernel's speed on the benchmark books of 10^5 and 10^6 positions (``timing.kernel`` with
  the index: the best of the runs that fit in 2 s), each setting with a cache folder of its
  own (the setting is not part of the folder's key: a kernel cached under one is loaded
  under the other).

``python -m benchmarks.link_only [--pairs N] [--compile-pairs N]`` (defaults 5 and 1: about
8 minutes on 2 cores). Not part of ``make bench``: it compiles every kernel twice per pair.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import books, compile_time, machine

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("0", "1")
SIZES = (10**5, 10**6)


def _child(scenario: Path) -> None:
    """In the child process: the kernel's best time on ``scenario``, in ms, on stdout."""
    from contagion_cli import heap

    from .timing import kernel

    heap.set_thresholds()  # the allocator as the console script sets it up
    compiled, _ = books.compile_file(scenario)
    kernel(compiled, index=True, budget_s=0.0)  # loads (or compiles) the kernel
    print(f"{kernel(compiled, index=True, budget_s=2.0).timed.seconds * 1e3:.3f}")


def _kernel_ms(scenario: Path, setting: str, cache: Path) -> float:
    env = machine.user_environment("NUMBA_CACHE_DIR")
    env.update(CONTAGION_JIT_LINK_ONLY=setting, CONTAGION_CACHE_DIR=str(cache))
    argv = [sys.executable, "-m", "benchmarks.link_only", "--child", str(scenario)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.link_only")
    parser.add_argument("--pairs", type=int, default=5, help="kernel runs per setting")
    parser.add_argument("--compile-pairs", type=int, default=1, help="cold compiles per setting")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        _child(args.child)
        return
    for _ in range(args.compile_pairs):
        for setting in SETTINGS:
            for c in compile_time.measure({"CONTAGION_JIT_LINK_ONLY": setting}):
                print(
                    f"cold compile, CONTAGION_JIT_LINK_ONLY={setting}, {c.variant}: "
                    f"{c.compile_s:.1f} s (whole process {c.cold_s:.1f} s, CPU {c.cpu_s:.1f} s)",
                    flush=True,
                )
    with tempfile.TemporaryDirectory(prefix="contagion-bench-link-") as tmp:
        folder = Path(tmp)
        for n in SIZES:
            scenario = books.write_files(n, folder / f"book-{n}")
            times: dict[str, list[float]] = {s: [] for s in SETTINGS}
            for setting in SETTINGS:  # compiles each setting's kernel, untimed
                _kernel_ms(scenario, setting, folder / f"cache-{setting}")
            for _ in range(args.pairs):
                for setting in SETTINGS:
                    times[setting].append(
                        _kernel_ms(scenario, setting, folder / f"cache-{setting}")
                    )
            off, on = (statistics.median(times[s]) for s in SETTINGS)
            print(
                f"kernel, {n:,} positions, median of {args.pairs}: off {off:.2f} ms "
                f"({min(times['0']):.2f}-{max(times['0']):.2f}), on {on:.2f} ms "
                f"({min(times['1']):.2f}-{max(times['1']):.2f}): on/off {on / off:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
