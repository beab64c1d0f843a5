"""BENCHMARKS.md from the figures of one run (pure: figures in, markdown out)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import radcad_peer
from .cascade import Cascade
from .comparisons import Comparison
from .compile_time import ColdCompile
from .machine import Machine
from .memory import Memory
from .radcad_peer import PeerRun
from .startup import BookRun, Startup
from .sweep import PoolSweep, Sweep
from .targets import Verdict
from .throughput import SizeRun
from .timing import Timed


@dataclass
class Results:
    """Everything one run measured; a quick run leaves some parts empty."""

    machine: Machine
    command: str
    book_format: str  # parquet, or csv without pyarrow
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float] = (math.nan, math.nan, math.nan)
    wall_s: float = math.nan
    sizes: list[SizeRun] = field(default_factory=list)
    cascade: Cascade | None = None
    reference: list[Comparison] = field(default_factory=list)
    sweep: Sweep | None = None
    pools: PoolSweep | None = None
    memory: list[Memory] = field(default_factory=list)
    peer: list[PeerRun] = field(default_factory=list)  # the peer cascade: kernel and radCAD
    startup: Startup | None = None
    book_run: BookRun | None = None
    call_overhead: Timed | None = None  # the kernel run of the quickstart (13 positions)
    cold: list[ColdCompile] = field(default_factory=list)  # cold compile per kernel variant
    verdicts: list[Verdict] = field(default_factory=list)


# --- formatting ------------------------------------------------------------------------------


def count(n: int) -> str:
    """10^6 for a power of ten, else with thousands separators."""
    if n >= 1000 and 10 ** round(math.log10(n)) == n:
        return f"10^{round(math.log10(n))}"
    return f"{n:,}"


def seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def timed(t: Timed | None) -> str:
    return "-" if t is None else seconds(t.seconds)


def rate(r: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if r >= scale:
            return f"{r / scale:.3g} {unit}/s"
    return f"{r:.3g} /s"


def ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:,.0f}x" if r >= 10 else f"{r:.2f}x"


def size(b: float) -> str:
    return f"{b / 1e9:.2f} GB" if b >= 1e9 else f"{b / 1e6:.0f} MB"


def yes_no(flag: bool | None) -> str:
    return "-" if flag is None else ("yes" if flag else "**no**")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


# --- sections --------------------------------------------------------------------------------


def render(r: Results) -> str:
    parts = [
        _header(r),
        _targets(r),
        _throughput(r),
        _cascade(r),
        _comparisons(r),
        _radcad(r),
        _sweep(r),
        _pools(r),
        _memory(r),
        _startup(r),
        _cold(r),
        _method(r),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _header(r: Results) -> str:
    m = r.machine
    v = m.versions
    load = ", ".join(f"{x:.2f}" for x in r.load_start)
    load_end = ", ".join(f"{x:.2f}" for x in r.load_end)
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{r.command}` on {m.date}; every figure below comes from this one run "
        f"({seconds(r.wall_s)} in all). Generated: rerun `make bench` rather than editing it. "
        "[docs/performance.md](docs/performance.md) explains the figures and the kernel's "
        "complexity.",
        "",
        *table(
            ["", ""],
            [
                ["CPU", f"{m.cpu}, {m.cores} cores available"],
                ["memory", f"{m.memory_gib:.1f} GiB"],
                ["system", m.system],
                ["Python", m.python],
                [
                    "packages",
                    ", ".join(f"{k} {v[k]}" for k in ("numpy", "numba", "llvmlite", "pyarrow")),
                ],
                ["contagion-cli", f"{v['contagion-cli']}, commit {m.commit}"],
                ["load average (1, 5, 15 min)", f"{load} at the start; {load_end} at the end"],
            ],
        ),
        "",
        "The load average counts work other than this benchmark's: on a shared machine above "
        "about 0.5 every timing is pessimistic.",
    ]
    return "\n".join(lines)


def _targets(r: Results) -> str:
    if not r.verdicts:
        return ""
    rows = [[v.target, v.measured, v.text] for v in r.verdicts]
    lines = [
        "## Targets (issue 6 item 5; issue 14)",
        "",
        *table(["target", "measured", "verdict"], rows),
    ]
    notes = _why(r)
    if notes:
        lines += ["", "Where a target is missed, the measured reason:", "", *notes]
    return "\n".join(lines)


def _why(r: Results) -> list[str]:
    """Measured facts behind each missed target (docs/performance.md discusses them)."""
    notes = []
    for v in r.verdicts:
        if v.met:
            continue
        if v.key == "reference" and r.reference and r.call_overhead is not None:
            small = min(r.reference, key=lambda c: c.positions)
            notes.append(
                f"- reference: the smallest book, {count(small.positions)} positions, runs in "
                f"{timed(small.index.timed)}, and a run of the 13-position quickstart already "
                f"takes {timed(r.call_overhead)}: the fixed cost of a call (copying the state, "
                "allocating the working arrays, passing them to numba) dominates tiny books."
            )
        elif v.key in ("numpy", "numpy14") and r.sizes:
            if any(n.startswith("- numpy:") for n in notes):
                continue  # said once for both rows
            worst = min(r.sizes, key=lambda s: s.comparison.speedup(s.comparison.numpy) or 0.0)
            numpy = worst.comparison.numpy
            if numpy is not None:
                rounds = worst.full.total_rounds
                k = worst.index
                notes.append(
                    f"- numpy: at {count(worst.positions)} positions a numpy round over the "
                    f"whole book costs {seconds(numpy.seconds / rounds)}; the kernel visits "
                    f"about the positions it liquidates ({k.liquidations:,} liquidations in "
                    f"{rounds} rounds) and spends "
                    f"{k.timed.seconds / max(1, k.liquidations) * 1e9:.0f} ns per liquidation, "
                    "the run's fixed costs included (copies of the state and the trigger index, "
                    "working arrays, the call). A cascade of one liquidation per position is "
                    "the worst case for a kernel whose cost follows liquidations."
                )
        elif v.key == "sweep" and r.sweep is not None:
            s = r.sweep
            per_point = s.wall_s * s.workers / max(1, s.points)
            notes.append(
                f"- sweep: {seconds(per_point)} per point and worker ({s.workers} workers); the "
                f"points average {s.mean_rounds:.1f} rounds and {s.mean_liquidations:,.0f} "
                f"liquidations on {count(s.positions)} positions: most shocks of the grid "
                "liquidate a large part of the book."
            )
        elif v.key == "warm" and r.startup is not None:
            st = r.startup
            notes.append(
                f"- start-up: `python -c 'import contagion_cli.cli.app'` alone takes "
                f"{seconds(st.imports_s)} (interpreter, typer, rich, pydantic); the run itself "
                f"adds {seconds(st.warm_default_s - st.imports_s)}."
            )
        elif v.key == "radcad" and r.peer:
            big = max(r.peer, key=lambda x: x.positions)
            k = big.kernel
            if big.differences:
                notes.append(
                    f"- radCAD: the kernel and radCAD disagree on the {count(big.positions)}-"
                    f"position peer cascade ({'; '.join(big.differences[:3])}): the two runs do "
                    "not compute the same model, so their ratio is no comparison."
                )
                continue
            notes.append(
                f"- radCAD: the kernel runs the {count(big.positions)}-position peer cascade "
                f"({k.liquidations:,} liquidations in {k.acting_rounds} rounds) in "
                f"{timed(k.timed)}, {seconds(k.timed.seconds / k.total_rounds)} a round; radCAD "
                f"takes {seconds(big.run_s)} with deep copies off."
            )
        elif v.key == "cold" and r.cold:
            c = r.cold[0]
            notes.append(
                f"- cold compile: {c.compile_s:.1f} s for the lending-only kernel; numba's "
                "per-function pipeline (typing, lowering) and LLVM's optimisation of the entry "
                "point's module, which holds every helper, split it (docs/performance.md, "
                "*Helpers compiled for linking only*)."
            )
        elif v.key == "memory" and r.memory:
            m = max(r.memory, key=lambda x: x.positions)
            run = "the run (a copy of the state, the kernel's working arrays) "
            if m.peak_bytes > m.compile_peak_bytes:
                run += f"takes it to {size(m.peak_bytes)}"
            else:
                run += "stays below it"
            notes.append(
                f"- memory: the compiled arrays take {m.state_bytes / m.positions:.0f} bytes a "
                f"position ({size(m.state_bytes)} at {count(m.positions)}), but reading and "
                f"compiling the book peaks at {size(m.compile_peak_bytes)}, and "
                f"{size(m.compiled_rss_bytes)} stays resident once it is compiled; {run}."
            )
    return notes


def _throughput(r: Results) -> str:
    if not r.sizes:
        return ""
    rows = []
    for s in r.sizes:
        rows.append(
            [
                count(s.positions),
                str(s.full.total_rounds),
                f"{s.index.liquidations:,}",
                timed(s.full.timed),
                rate(s.rate(s.full)),
                timed(s.index.timed),
                rate(s.rate(s.index)),
                ratio(s.full.timed.seconds / s.index.timed.seconds),
                seconds(s.compile_s),
            ]
        )
    header = [
        "positions",
        "rounds",
        "liquidations",
        "kernel, full scan",
        "position-rounds/s",
        "kernel, index",
        "effective position-rounds/s",
        "index speed-up",
        "load + compile",
    ]
    return "\n".join(
        [
            "## Kernel throughput",
            "",
            "Seeded books of `contagion generate` (seed 0, 3 lending protocols, 3 collateral "
            "assets on constant-product pools, no shared accounts), ETH -30 %, read from "
            f"{r.book_format} files. A position-round is one position checked in one round: "
            "positions x rounds (the quiet last round included) / kernel time. The full scan "
            "checks every position every round; the index checks only those a price move can "
            "have made eligible, so its rate is the full scan's work over its own time. A run "
            "with the index starts from the trigger index of the compiled book, built once per "
            "compiled scenario and shared by its runs (a sweep's thousand points): its build "
            "is not in these times, it is in the whole-process rows.",
            "",
            *table(header, rows),
        ]
    )


def _cascade(r: Results) -> str:
    c = r.cascade
    if c is None:
        return ""
    rows = [
        ["one pass: no shock, one round", "1", timed(c.one_pass.timed), "1"],
        [
            f"cascade, ETH {c.shock:+.0%}, index",
            str(c.index.total_rounds),
            timed(c.index.timed),
            f"{c.passes(c.index):.1f}",
        ],
        [
            f"cascade, ETH {c.shock:+.0%}, full scan",
            str(c.full.total_rounds),
            timed(c.full.timed),
            f"{c.passes(c.full):.1f}",
        ],
    ]
    return "\n".join(
        [
            f"## A long cascade on {count(c.positions)} positions (issue 6 item 4)",
            "",
            "One pass over the book is a run of the same book with no shock: one round that "
            "checks every position once, with the shortfall measurements every run makes "
            "(before the shock and at the end). The cascade liquidates "
            f"{c.index.liquidations:,} times (partial liquidations repeat) in "
            f"{c.index.acting_rounds} rounds.",
            "",
            *table(["run", "rounds", "kernel time", "in passes over the book"], rows),
        ]
    )


def _comparisons(r: Results) -> str:
    every = [s.comparison for s in r.sizes] + r.reference
    if not every:
        return ""
    rows = []
    for c in sorted(every, key=lambda c: (c.positions, c.reference is None)):
        source = "inline YAML" if c.reference is not None else r.book_format
        rows.append(
            [
                f"{count(c.positions)} ({source})",
                str(c.index.total_rounds),
                timed(c.reference),
                timed(c.numpy),
                timed(c.index.timed),
                timed(c.full.timed),
                ratio(c.speedup(c.reference)),
                ratio(c.speedup(c.numpy)),
                ratio(c.speedup(c.numpy, c.full)),
                yes_no(c.reference_same),
                yes_no(c.numpy_same),
            ]
        )
    header = [
        "book",
        "rounds",
        "reference",
        "numpy",
        "kernel, index",
        "kernel, full scan",
        "index vs reference",
        "index vs numpy",
        "full scan vs numpy",
        "same as reference",
        "same as numpy",
    ]
    return "\n".join(
        [
            "## Against the plain-Python reference and numpy",
            "",
            "The same compiled scenario each time, in this run. The reference is "
            "`tests/reference.py` (dicts and floats, one rule at a time; inline positions "
            "only). The numpy baseline (`benchmarks/numpy_baseline.py`) runs the same rounds "
            "on whole arrays. *Same as reference*: rounds and counts equal, amounts within "
            "1e-9; *same as numpy*: every output equal to the last bit.",
            "",
            *table(header, rows),
        ]
    )


def _radcad(r: Results) -> str:
    if not r.peer:
        return ""
    rows = []
    notes = []
    for run in r.peer:
        k = run.kernel
        if run.error:
            notes.append(f"- {count(run.positions)} positions: radCAD not measured: {run.error}")
        rows.append(
            [
                count(run.positions),
                str(k.acting_rounds),
                f"{k.liquidations:,}",
                seconds(run.setup_s),
                seconds(run.run_s),
                timed(k.timed),
                ratio(run.ratio),
                yes_no(run.same),
                "-" if run.largest_rel is None else f"{run.largest_rel:.1e}",
            ]
        )
    versions = next((x.radcad_version for x in r.peer if x.radcad_version), None)
    header = [
        "positions",
        "rounds",
        "liquidations",
        "radCAD: positions to arrays",
        "radCAD: run",
        "kernel, index",
        "kernel vs radCAD",
        "same results",
        "largest relative difference",
    ]
    lines = [
        "## Against radCAD (issue 14)",
        "",
        "The peer cascade: one lending market, ETH collateral on a constant-product pool 2.6 "
        "times as deep as the book's collateral, USDC debt, health factors spread evenly over "
        "[1, 2), ETH -10 % (`benchmarks/books.py`, `peer_cascade`). radCAD runs the peer model "
        "`../shared/peers/radcad_cascade.py` (the same rules as radCAD blocks, positions stacked "
        "into numpy arrays) with deep copies off, in a virtual environment of its own"
        + (f" ({versions})" if versions else "")
        + "; the kernel reads the same rows from "
        f"{r.book_format} files. Its *positions to arrays* (the model's `compile_scenario`) is "
        "shown apart and not in the ratio, as the kernel's own loading and compiling is not: "
        "the ratio divides the run by the run. *Same results*: rounds and liquidations equal; "
        f"repaid, bad debt, shortfall and the final price within {radcad_peer.PEER_REL:g} "
        "(radCAD sums in another order).",
        "",
        *table(header, rows),
    ]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _sweep(r: Results) -> str:
    s = r.sweep
    if s is None:
        return ""
    return "\n".join(
        [
            "## Shock sweep",
            "",
            f"`contagion sweep` machinery (`run_sweep`) on the {count(s.positions)}-position "
            f"book: ETH from -0.05 % to -99.95 % in steps of 0.1 %, {s.points:,} points on "
            f"{s.workers} worker processes, loading and compiling included.",
            "",
            *table(
                ["points", "wall time", "points/s", "mean rounds", "mean liquidations"],
                [
                    [
                        f"{s.points:,}",
                        seconds(s.wall_s),
                        f"{s.points / s.wall_s:.3g}",
                        f"{s.mean_rounds:.1f}",
                        f"{s.mean_liquidations:,.0f}",
                    ]
                ],
            ),
        ]
    )


def _pools(r: Results) -> str:
    p = r.pools
    if p is None:
        return ""
    return "\n".join(
        [
            "### Worker processes and threads",
            "",
            f"The quickstart (13 positions), {p.points:,} shock points: reading each point's "
            "results into metrics is Python and holds the GIL, so the points run on forked "
            f"worker processes; threads are the fallback (`CONTAGION_POOL=threads`). Median "
            f"of 3 runs each, {p.workers} workers.",
            "",
            *table(
                ["one worker", "worker processes", "threads", "processes vs one"],
                [
                    [
                        seconds(p.one_s),
                        seconds(p.processes_s),
                        seconds(p.threads_s),
                        f"{p.one_s / p.processes_s:.2f}x",
                    ]
                ],
            ),
        ]
    )


def _memory(r: Results) -> str:
    if not r.memory:
        return ""
    rows = [
        [
            count(m.positions),
            size(m.peak_bytes),
            size(m.baseline_bytes),
            f"{m.per_position:.0f} B",
            size(m.compile_peak_bytes),
            size(m.compiled_rss_bytes),
            f"{m.state_bytes / max(1, m.positions):.0f} B",
        ]
        for m in r.memory
    ]
    header = [
        "positions",
        "peak",
        "baseline",
        "(peak - baseline) / position",
        "peak after compiling",
        "resident after compiling",
        "compiled arrays / position",
    ]
    return "\n".join(
        [
            "## Memory",
            "",
            "Peak resident memory (the high-water mark `VmHWM`) of a fresh process doing what "
            "`CONTAGION_EXECUTOR=jit contagion run FILE --format json` does, one process per "
            "size. The baseline is the same process after its imports and a warm run of the "
            "quickstart (interpreter, numba, the loaded kernel); at small sizes the difference "
            "is mostly allocator noise.",
            "",
            *table(header, rows),
        ]
    )


def _startup(r: Results) -> str:
    st = r.startup
    lines = ["## Start-up: `contagion run` from a shell", ""]
    if st is not None:
        rows = [
            [
                "cold: `CONTAGION_EXECUTOR=jit`, empty numba cache (compiles)",
                seconds(st.cold_jit_s),
            ],
            [
                f"warm: `CONTAGION_EXECUTOR=jit`, the same cache (median of {st.runs})",
                seconds(st.warm_jit_s),
            ],
            [
                f"warm: the default executor, `auto` (median of {st.runs})",
                seconds(st.warm_default_s),
            ],
            [
                f"`python -c 'import contagion_cli.cli.app'` (median of {st.runs})",
                seconds(st.imports_s),
            ],
        ]
        lines += [
            "`scenarios/quickstart.yaml`, a fresh process each (`python -m contagion_cli run ... "
            "--format json`), with `CONTAGION_CACHE_DIR` pointing at a new empty folder for the "
            "cold run and kept for the warm ones. Under the default executor a book this small "
            "runs as plain Python and numba is never imported.",
            "",
            *table(["quickstart", "wall-clock"], rows),
        ]
    b = r.book_run
    if b is not None:
        rows = [
            ["the default executor, `auto`", seconds(b.default_s)],
            ["`CONTAGION_EXECUTOR=jit`", seconds(b.jit_s)],
        ]
        lines += [
            "",
            f"The {count(b.positions)}-position book of the long cascade, one fresh process each, "
            "the kernel's cache warm (loading the files and compiling the book included):",
            "",
            *table([f"{count(b.positions)} positions", "wall-clock"], rows),
        ]
    return "\n".join(lines) if (st is not None or b is not None) else ""


def _method(r: Results) -> str:
    return "\n".join(
        [
            "## How the figures are taken",
            "",
            "- Kernel times are `engine.raw.run_raw` with the JIT: a fresh copy of the compiled "
            "state, the kernel's working arrays and `run_cascade`, no result objects; the best "
            "of the runs that fit in a time budget (up to 200; at 10^7, one run): other work "
            "on the machine only ever adds time. numpy times likewise; the plain-Python "
            "reference runs once (it takes seconds).",
            "- The JIT is warm before anything is timed; compilation is measured separately "
            "(start-up).",
            *(
                [
                    f"- A kernel run of the 13-position quickstart takes {timed(r.call_overhead)}: "
                    "the fixed cost in every kernel time above."
                ]
                if r.call_overhead is not None
                else []
            ),
            "- Ratios divide times of the same compiled scenario measured in this run; each row "
            "also checks that the results are the same.",
            "- Memory is measured in child processes, so that the benchmark's own arrays do not "
            "count.",
        ]
    )


def _cold(r: Results) -> str:
    if not r.cold:
        return ""
    rows = [
        [
            c.variant,
            f"`{c.scenario}`",
            seconds(c.cold_s),
            seconds(c.warm_s),
            seconds(c.compile_s),
            seconds(c.cpu_s),
            c.note.replace("|", "\\|") or "-",
        ]
        for c in r.cold
    ]
    header = ["kernel", "scenario", "cold run", "warm run", "compile", "CPU, cold", "stderr"]
    return "\n".join(
        [
            "## Cold compile per specialised kernel (issue 14)",
            "",
            "`CONTAGION_EXECUTOR=jit contagion run SCENARIO --format json` in a fresh process "
            "with an empty cache folder (`CONTAGION_CACHE_DIR`), then the same command with the "
            "cache warm; *compile* is the difference. A scenario runs on the smallest kernel "
            "with every feature it uses (`layout.KERNEL_VARIANTS`): lending protocols on "
            "single-venue markets with spot oracles compile the lending-only kernel; anything "
            "else the kernel with every protocol type. *stderr*: what the user sees meanwhile.",
            "",
            *table(header, rows),
        ]
    )
