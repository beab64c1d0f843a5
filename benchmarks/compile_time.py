"""The cold compile of the kernel (issue 14 item 2): ``contagion run`` with the JIT into an
empty cache folder, minus the same run once the cache is warm, per specialised kernel.

The lending-only kernel is what a scenario of lending protocols on single-venue markets
compiles (the quickstart); the kernel with every protocol type is what ``scenarios/mixed.yaml``
compiles. Each is a fresh process with a cache folder of its own
(``CONTAGION_CACHE_DIR``), so nothing of an earlier compile is reused; the note the engine
prints on stderr while it compiles is recorded as the user sees it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import machine

ROOT = Path(__file__).resolve().parents[1]
#: (what it compiles, the scenario)
VARIANTS = (
    ("lending only", ROOT / "scenarios" / "quickstart.yaml"),
    ("every protocol type", ROOT / "scenarios" / "mixed.yaml"),
)


@dataclass(frozen=True)
class ColdCompile:
    variant: str
    scenario: str
    cold_s: float  # the whole process, empty cache
    warm_s: float  # the same command, cache warm
    cpu_s: float  # CPU time of the cold process (user + system)
    note: str  # the line on stderr while it compiled ("" when none)

    @property
    def compile_s(self) -> float:
        return self.cold_s - self.warm_s


def _run(scenario: Path, cache: str, setting: dict[str, str]) -> tuple[float, float, str]:
    env = machine.user_environment("NUMBA_CACHE_DIR")
    env.update(setting, CONTAGION_EXECUTOR="jit", CONTAGION_CACHE_DIR=cache)
    argv = [sys.executable, "-m", "contagion_cli", "run", str(scenario), "--format", "json"]
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    if done.returncode not in (0, 1):  # 1: a gate failed, still a run
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    note = next((ln for ln in done.stderr.splitlines() if "compiling" in ln), "")
    return took, cpu, note


def measure(setting: dict[str, str] | None = None) -> list[ColdCompile]:
    """Each variant cold, then warm; ``setting``: environment variables of both runs (as
    ``CONTAGION_JIT_LINK_ONLY``: benchmarks/link_only.py)."""
    out = []
    for variant, scenario in VARIANTS:
        with tempfile.TemporaryDirectory(prefix="contagion-bench-cold-") as cache:
            cold, cpu, note = _run(scenario, cache, setting or {})
            warm, _, _ = _run(scenario, cache, setting or {})
        out.append(ColdCompile(variant, scenario.name, cold, warm, cpu, note))
    return out


if __name__ == "__main__":
    for c in measure():
        print(
            f"{c.variant} ({c.scenario}): cold {c.cold_s:.1f} s, warm {c.warm_s:.2f} s, "
            f"compile {c.compile_s:.1f} s, CPU {c.cpu_s:.1f} s; stderr: {c.note}"
        )
