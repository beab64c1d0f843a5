"""Peak memory of ``contagion run`` per book size, each in a fresh child process.

The child (``python -m benchmarks.memory SCENARIO``) first runs the quickstart with the JIT, so
that the interpreter, the imports, numba and the loaded kernel are in its baseline; then it does
what ``CONTAGION_EXECUTOR=jit contagion run SCENARIO --format json`` does (load, validate,
compile, run, render) and prints its peak resident memory after each stage as JSON. The peak
is of the whole process, so the book's share is the peak minus the baseline.

The JIT, not the default executor: ``auto`` first runs the kernel as plain Python until a work
budget is spent, and on a large book the passes it makes before its first check take minutes
(BENCHMARKS.md, start-up).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"


@dataclass(frozen=True)
class Memory:
    positions: int
    baseline_bytes: int  # peak after the imports and a warm run of the quickstart
    compile_peak_bytes: int  # peak after loading and compiling the book
    compiled_rss_bytes: int  # resident after compiling (what stays while the run starts)
    peak_bytes: int  # peak of the whole `contagion run`
    state_bytes: int  # the compiled position and market arrays alone

    @property
    def per_position(self) -> float:
        """Bytes per position the book adds to the peak."""
        return (self.peak_bytes - self.baseline_bytes) / max(1, self.positions)


def measure(scenario: Path, positions: int) -> Memory:
    """Run the child on ``scenario`` and read its figures."""
    env = {**os.environ, "CONTAGION_EXECUTOR": "jit"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", str(scenario)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory child failed on {scenario}:\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Memory(positions=positions, **data)


def _peak() -> int:
    """Peak resident memory of this process so far (bytes).

    Linux: ``VmHWM``, the high-water mark of this process image. ``ru_maxrss`` would not do:
    Linux carries the high-water mark over fork and exec, so a child of the benchmark process
    would start at the parent's peak (gigabytes, after the 10^7 book)."""
    hwm = _status("VmHWM")
    if hwm:
        return hwm
    # elsewhere ru_maxrss is the best there is (KiB on Linux, bytes on macOS)
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _resident() -> int:
    return _status("VmRSS")


def _status(field: str) -> int:
    """A ``kB`` field of /proc/self/status in bytes; 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _nbytes(part: Any) -> int:
    if isinstance(part, np.ndarray):
        return int(part.nbytes)
    if isinstance(part, tuple):
        return sum(_nbytes(p) for p in part)
    return 0


def _child(scenario: str) -> dict[str, int]:
    from contagion_cli import heap
    from contagion_cli.compile.compiler import compile_scenario
    from contagion_cli.engine.kernels import Executor
    from contagion_cli.engine.run import run
    from contagion_cli.load.scenario import load_scenario, release_books
    from contagion_cli.render.formats import Format
    from contagion_cli.render.report import render_text

    heap.set_thresholds()  # the allocator as the console script sets it up
    run(compile_scenario(load_scenario(QUICKSTART)), executor=Executor.jit)
    baseline = _peak()
    model = load_scenario(scenario)
    compiled = compile_scenario(model)
    release_books(model)  # as `contagion run` does once compiled
    compile_peak = _peak()
    compiled_rss = _resident()
    result = run(compiled, executor=Executor.jit)
    render_text(result, Format.json, 160)
    return {
        "baseline_bytes": baseline,
        "compile_peak_bytes": compile_peak,
        "compiled_rss_bytes": compiled_rss,
        "peak_bytes": _peak(),
        "state_bytes": _nbytes(tuple(compiled.state)),
    }


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1])))
