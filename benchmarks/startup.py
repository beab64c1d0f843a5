"""Wall-clock of ``contagion run`` on the quickstart from a shell: cold (the JIT compiles into an
empty cache) and warm (later runs load the cache), each a fresh process."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import machine

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"
#: Warm runs per figure (the median is reported).
WARM_RUNS = 5


@dataclass(frozen=True)
class Startup:
    cold_jit_s: float  # CONTAGION_EXECUTOR=jit, empty numba cache: compiles the kernel
    warm_jit_s: float  # the same cache afterwards: loads the compiled kernel
    warm_default_s: float  # the default executor (auto: a small book runs as plain Python)
    imports_s: float  # `python -c "import contagion_cli.cli.app"`: the floor of any command
    runs: int


@dataclass(frozen=True)
class BookRun:
    """``contagion run`` of a large book from a shell, the kernel's cache warm."""

    positions: int
    default_s: float  # the default executor (auto)
    jit_s: float  # CONTAGION_EXECUTOR=jit


def _command(scenario: Path = QUICKSTART) -> list[str]:
    # `python -m contagion_cli` is the `contagion` entry point without its shim, and it runs
    # this checkout's package whichever one the virtual environment has installed
    return [sys.executable, "-m", "contagion_cli", "run", str(scenario), "--format", "json"]


def _environment() -> dict[str, str]:
    return machine.user_environment("CONTAGION_EXECUTOR", "NUMBA_CACHE_DIR", "CONTAGION_CACHE_DIR")


def _time(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return took


def measure(runs: int = WARM_RUNS) -> Startup:
    """Cold and warm runs of the quickstart, in a numba cache of their own."""
    base = _environment()
    with tempfile.TemporaryDirectory(prefix="contagion-bench-numba-") as cache:
        # the kernel's cache folder is CONTAGION_CACHE_DIR (jit_cache.py sets numba's own)
        jit = {**base, "CONTAGION_CACHE_DIR": cache, "CONTAGION_EXECUTOR": "jit"}
        default = {**base, "CONTAGION_CACHE_DIR": cache}
        cold = _time(_command(), jit)
        warm_jit = statistics.median(_time(_command(), jit) for _ in range(runs))
        warm_default = statistics.median(_time(_command(), default) for _ in range(runs))
        imports = [sys.executable, "-c", "import contagion_cli.cli.app"]
        floor = statistics.median(_time(imports, default) for _ in range(runs))
    return Startup(cold, warm_jit, warm_default, floor, runs)


def measure_book(scenario: Path, positions: int) -> BookRun:
    """One run each with the default executor and with the JIT, in the numba cache this
    process warmed."""
    base = machine.user_environment("CONTAGION_EXECUTOR")
    default = _time(_command(scenario), base)
    jit = _time(_command(scenario), {**base, "CONTAGION_EXECUTOR": "jit"})
    return BookRun(positions, default, jit)
