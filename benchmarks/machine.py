"""What the figures were measured on: CPU, cores, memory, load, versions, commit, date."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int  # cores this process may run on
    memory_gib: float
    system: str
    python: str
    versions: dict[str, str]  # package -> version
    commit: str  # short hash, "+ local changes" when the working tree differs from it
    date: str  # UTC, ISO 8601


def describe(root: Path) -> Machine:
    """The machine and software the benchmark runs on; ``root`` is the repository."""
    versions = {}
    for package in ("contagion-cli", "numpy", "numba", "llvmlite", "pyarrow", "pydantic"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return Machine(
        cpu=_cpu_model(),
        cores=_cores(),
        memory_gib=_memory_gib(),
        system=f"{platform.system()} {platform.release()} ({platform.machine()})",
        python=f"{platform.python_implementation()} {platform.python_version()}",
        versions=versions,
        commit=_commit(root),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def load_average() -> tuple[float, float, float]:
    """1, 5 and 15 minute load averages (other work on the machine skews timings)."""
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover - not available on this system
        return (float("nan"),) * 3


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _memory_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return float("nan")


def _commit(root: Path) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown (not a git checkout)"
    # tracked files only, and not the benchmark's own output (a rerun rewrites BENCHMARKS.md)
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!BENCHMARKS.md")
    return f"{head} + local changes" if dirty else head


#: Variables a user's shell does not set that would change what a timed child process does.
#: ``PYTHONDONTWRITEBYTECODE`` (set in some sandboxes and CI images) makes every process compile
#: the package's ~70 modules from source (about 80 ms a start), which an installed
#: ``contagion`` never does after its first run.
NOT_A_USERS = ("PYTHONDONTWRITEBYTECODE",)


def user_environment(*drop: str) -> dict[str, str]:
    """This process's environment as a user's shell would have it, less the names ``drop``."""
    return {k: v for k, v in os.environ.items() if k not in NOT_A_USERS and k not in drop}
