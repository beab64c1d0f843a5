"""The targets of issue 6 item 5 and issue 14 (items 1, 2, 5), each checked against the
measured figures: met or missed, by how much."""

from __future__ import annotations

from dataclasses import dataclass

from .comparisons import Comparison
from .compile_time import ColdCompile
from .memory import Memory
from .radcad_peer import PeerRun
from .startup import Startup
from .sweep import Sweep

REFERENCE_SPEEDUP = 100.0
NUMPY_SPEEDUP = 10.0
SWEEP_SECONDS = 5.0
WARM_SECONDS = 0.5
MEMORY_BYTES = 2e9  # 2 GB
MEMORY_POSITIONS = 10_000_000
RADCAD_SPEEDUP = 60.0  # issue 14: the 10^6 peer cascade
RADCAD_POSITIONS = 1_000_000
# issue 14
NUMPY_SPEEDUP_14 = 5.0  # at 10^5 to 10^7 positions
NUMPY_SIZES_14 = 100_000
PEER_CASCADE_SECONDS = 0.060  # kernel time of the 10^6 peer cascade
COLD_COMPILE_SECONDS = 15.0  # a lending-only scenario, on the machine of the run


@dataclass(frozen=True)
class Verdict:
    key: str  # reference, numpy, sweep, warm, memory, radcad
    target: str
    measured: str
    met: bool
    factor: float  # measured against the target: > 1 is the margin, < 1 the shortfall

    @property
    def text(self) -> str:
        if self.met:
            return f"met, {_times(self.factor)} better"
        if self.factor >= 1:
            return "**missed**: not comparable"
        return f"**missed**, {_times(1 / self.factor)} off"


def _times(x: float) -> str:
    return f"{x:.2f}x" if x < 10 else f"{x:.0f}x"


def _at_least(key: str, target: str, measured: str, value: float, goal: float) -> Verdict:
    return Verdict(key, target, measured, value >= goal, value / goal)


def _at_most(key: str, target: str, measured: str, value: float, goal: float) -> Verdict:
    return Verdict(key, target, measured, value <= goal, goal / value)


def evaluate(
    comparisons: list[Comparison],
    sweep: Sweep | None,
    startup: Startup | None,
    memory: list[Memory],
    peer: list[PeerRun] | None = None,
    cold: list[ColdCompile] | None = None,
) -> list[Verdict]:
    """Every target that has its figure in this run (a quick run has fewer)."""
    out = []
    with_ref = [c for c in comparisons if c.reference is not None]
    if with_ref:
        worst = min(with_ref, key=lambda c: c.speedup(c.reference) or 0.0)
        ratio = worst.speedup(worst.reference) or 0.0
        measured = ", ".join(f"{c.speedup(c.reference):,.0f}x at {c.positions:,}" for c in with_ref)
        target = f"kernel >= {REFERENCE_SPEEDUP:g}x the plain-Python reference"
        out.append(_at_least("reference", target, measured, ratio, REFERENCE_SPEEDUP))
    with_numpy = [c for c in comparisons if c.numpy is not None]
    if with_numpy:
        worst = min(with_numpy, key=lambda c: c.speedup(c.numpy) or 0.0)
        ratio = worst.speedup(worst.numpy) or 0.0
        measured = ", ".join(f"{c.speedup(c.numpy):.2g}x at {c.positions:,}" for c in with_numpy)
        target = f"kernel >= {NUMPY_SPEEDUP:g}x the vectorised-numpy baseline"
        out.append(_at_least("numpy", target, measured, ratio, NUMPY_SPEEDUP))
    if sweep is not None:
        out.append(
            _at_most(
                "sweep",
                f"{sweep.points:,}-point sweep on {sweep.positions:,} positions "
                f"<= {SWEEP_SECONDS:g} s",
                f"{sweep.wall_s:.1f} s",
                sweep.wall_s,
                SWEEP_SECONDS,
            )
        )
    if startup is not None:
        out.append(
            _at_most(
                "warm",
                f"warm `contagion run` of the quickstart <= {WARM_SECONDS:g} s",
                f"{startup.warm_default_s:.2f} s (default executor); "
                f"{startup.warm_jit_s:.2f} s with the JIT",
                startup.warm_default_s,
                WARM_SECONDS,
            )
        )
    big = [m for m in memory if m.positions >= MEMORY_POSITIONS]
    if big:
        m = big[0]
        out.append(
            _at_most(
                "memory",
                f"{m.positions:,} positions within {MEMORY_BYTES / 1e9:g} GB",
                f"{m.peak_bytes / 1e9:.2f} GB peak",
                m.peak_bytes,
                MEMORY_BYTES,
            )
        )
    out += _issue14(comparisons, peer or [], cold or [])
    ran = [r for r in peer or [] if r.positions >= RADCAD_POSITIONS and r.ratio is not None]
    if ran:
        r = ran[0]
        target = (
            f"kernel >= {RADCAD_SPEEDUP:g}x radCAD on the {r.positions:,}-position peer "
            "cascade (issue 14)"
        )
        measured = f"{r.ratio:.1f}x ({r.kernel.timed.seconds * 1e3:.0f} ms against {r.run_s:.2f} s)"
        verdict = _at_least("radcad", target, measured, r.ratio or 0.0, RADCAD_SPEEDUP)
        if not r.same:
            # a ratio between two models that disagree measures nothing: never "met"
            verdict = Verdict(
                "radcad", target, f"{measured}, but the results differ", False, verdict.factor
            )
        out.append(verdict)
    return out


def _issue14(
    comparisons: list[Comparison], peer: list[PeerRun], cold: list[ColdCompile]
) -> list[Verdict]:
    out = []
    big = [c for c in comparisons if c.numpy is not None and c.positions >= NUMPY_SIZES_14]
    if big:
        worst = min(big, key=lambda c: c.speedup(c.numpy) or 0.0)
        ratio = worst.speedup(worst.numpy) or 0.0
        measured = ", ".join(f"{c.speedup(c.numpy):.2g}x at {c.positions:,}" for c in big)
        target = (
            f"kernel >= {NUMPY_SPEEDUP_14:g}x the vectorised-numpy baseline at "
            f"{NUMPY_SIZES_14:,} positions and more (issue 14)"
        )
        out.append(_at_least("numpy14", target, measured, ratio, NUMPY_SPEEDUP_14))
    runs = [r for r in peer if r.positions >= RADCAD_POSITIONS]
    if runs:
        k = runs[0].kernel
        out.append(
            _at_most(
                "peer_ms",
                f"the {runs[0].positions:,}-position peer cascade in <= "
                f"{PEER_CASCADE_SECONDS * 1e3:g} ms of kernel time (issue 14)",
                f"{k.timed.seconds * 1e3:.1f} ms ({k.liquidations:,} liquidations, "
                f"{k.acting_rounds} rounds)",
                k.timed.seconds,
                PEER_CASCADE_SECONDS,
            )
        )
    lending = [c for c in cold if c.variant == "lending only"]
    if lending:
        c = lending[0]
        out.append(
            _at_most(
                "cold",
                f"cold compile of a lending-only scenario <= {COLD_COMPILE_SECONDS:g} s (issue 14)",
                f"{c.compile_s:.1f} s ({c.cpu_s:.1f} s CPU for the whole process)",
                c.compile_s,
                COLD_COMPILE_SECONDS,
            )
        )
    return out
