"""``--plot FILE.png`` of sweep, simulate, critical and clusters (matplotlib, the ``plot`` extra).

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global backend state, no
display needed). :func:`require_matplotlib` is called before any work is done, so a missing
extra is a clear exit-2 message rather than a crash after a long sweep.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import atomic
from ..batch.clusters import ClustersResult
from ..batch.critical import CriticalResult
from ..batch.simulate import SimulationResult
from ..batch.sweep import SweepResult
from ..errors import InputError, Location
from .escape import plot_text

#: File types the Agg canvas writes.
SUFFIXES = (".png", ".svg", ".pdf")


def require_matplotlib(path: Path) -> None:
    """Exit-2 errors for a missing extra or an unsupported file type, before any work."""
    if path.suffix.lower() not in SUFFIXES:
        raise InputError.single(
            f"cannot tell the image type from {path.name!r}",
            Location("--plot"),
            hint="use a .png, .svg or .pdf file name",
        )
    if importlib.util.find_spec("matplotlib") is None:
        raise InputError.single(
            "--plot needs matplotlib, which is not installed",
            Location("--plot"),
            hint="pip install 'contagion-cli[plot]'",
        )


def _figure(width: float = 9.0, height: float = 5.0) -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Any, path: Path) -> None:
    try:
        with atomic.replacing(path) as temp:  # the temporary name keeps the suffix: the format
            fig.savefig(str(temp), dpi=120)
    except OSError as exc:
        raise InputError.single(f"cannot write: {exc.strerror}", Location(str(path))) from None


def _usd_axis(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    from .numbers import usd

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: usd(v)))


def plot_sweep(result: SweepResult, path: Path, metric: str = "bad_debt_usd") -> None:
    """The metric against the first shock axis: the system total and one line per protocol
    (other axes: one line per combination of their values)."""
    fig, ax = _figure()
    shock_axes = [a for a in result.axes if a.startswith("shock.")]
    x_label = shock_axes[0] if shock_axes else result.axes[0]
    j = result.axes.index(x_label)
    others = [k for k in range(len(result.axes)) if k != j]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, c in enumerate(result.coords):
        groups.setdefault(tuple(c[k] for k in others), []).append(i)
    leaf = metric.rsplit(".", 1)[-1]
    per_protocol = (
        [m.name for m in result.columns if m.scope == "protocols" and m.field == leaf]
        if metric in [m.name for m in result.columns if m.scope == "system"]
        else []
    )
    for key, rows in groups.items():
        suffix = (
            " ("
            + ", ".join(f"{result.axes[k]}={v}" for k, v in zip(others, key, strict=True))
            + ")"
            if key
            else ""
        )
        x = np.asarray([float(result.coords[i][j]) for i in rows])
        order = np.argsort(x)
        ax.plot(x[order] * 100, result.column(metric)[rows][order], lw=2, label=f"{metric}{suffix}")
        for name in per_protocol:
            ax.plot(
                x[order] * 100,
                result.column(name)[rows][order],
                lw=1,
                ls="--",
                label=f"{name.split('.')[1]}{suffix}",
            )
    ax.set_xlabel(f"{x_label} (%)")
    ax.set_ylabel(metric)
    if metric.endswith("_usd"):
        _usd_axis(ax)
    ax.set_title(f"{plot_text(result.scenario)}: {metric} against {x_label}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    _save(fig, path)


def plot_simulation(sim: SimulationResult, path: Path) -> None:
    """Histogram of the loss metric over paths, with VaR, EVaR and ES lines."""
    fig, ax = _figure()
    x = sim.column(sim.loss_metric)
    x = x[np.isfinite(x)]
    ax.hist(x, bins=min(60, max(10, int(math.sqrt(max(len(x), 1))))), color="#4c72b0", alpha=0.8)
    for label, value, style in (
        ("VaR 95%", sim.risk.var95, "--"),
        ("VaR 99%", sim.risk.var99, ":"),
        ("ES 95%", sim.risk.es95, "-."),
    ):
        if math.isfinite(value):
            ax.axvline(value, color="#c44e52", ls=style, lw=1.5, label=f"{label}")
    ax.set_yscale("symlog")
    ax.set_xlabel(sim.loss_metric)
    ax.set_ylabel("paths")
    ax.set_title(
        f"{plot_text(sim.scenario)}: {sim.loss_metric} over {sim.paths:,} paths (seed {sim.seed})"
    )
    if sim.loss_metric.endswith("_usd"):
        from matplotlib.ticker import FuncFormatter

        from .numbers import usd

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: usd(v)))
    ax.legend()
    ax.grid(alpha=0.3)
    _save(fig, path)


def plot_critical(result: CriticalResult, path: Path) -> None:
    """The scanned metric against the shock, the threshold and the critical shock."""
    fig, ax = _figure()
    x = np.asarray(result.scan_shocks) * 100
    ax.plot(x, result.scan_values, marker=".", lw=1.5, label=result.metric)
    ax.axhline(
        result.threshold, color="grey", ls="--", lw=1, label=f"threshold {result.threshold:g}"
    )
    if result.critical_shock is not None:
        ax.axvline(
            result.critical_shock * 100,
            color="#c44e52",
            lw=1.5,
            label=f"critical {result.critical_shock * 100:+.3f}%",
        )
    ax.set_xlabel(f"{result.asset} shock (%)")
    ax.set_ylabel(result.metric)
    if result.metric.endswith("_usd"):
        _usd_axis(ax)
    ax.set_title(f"{plot_text(result.scenario)}: {result.condition}")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def plot_clusters(result: ClustersResult, path: Path) -> None:
    """Liquidation walls: new first-round liquidations per price level (bars), and the USD the
    cascade and the first round repay at each level (lines)."""
    fig, ax = _figure()
    prices = np.asarray([lv.price for lv in result.levels])
    width = float(np.min(np.abs(np.diff(prices)))) * 0.8 if len(prices) > 1 else 1.0
    ax.bar(
        prices,
        [lv.wall_liquidations for lv in result.levels],
        width=width,
        color="#dd8452",
        label="positions that become liquidatable (wall)",
    )
    ax.set_xlabel(f"{result.asset} price")
    ax.set_ylabel("positions")
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count: no 0.5 positions
    ax2 = ax.twinx()
    ax2.plot(
        prices, [lv.cascade_repaid_usd for lv in result.levels], lw=2, label="repaid, with cascade"
    )
    ax2.plot(
        prices,
        [lv.first_round_repaid_usd for lv in result.levels],
        lw=1.5,
        ls="--",
        label="repaid, first round only",
    )
    _usd_axis(ax2)
    ax2.set_ylabel("USD repaid")
    ax.invert_xaxis()
    ax.set_title(f"{plot_text(result.scenario)}: liquidation walls of {result.asset}")
    handles = ax.get_legend_handles_labels()
    handles2 = ax2.get_legend_handles_labels()
    # below the axes, so that it never covers the tallest walls
    fig.legend(
        handles[0] + handles2[0],
        handles[1] + handles2[1],
        fontsize="small",
        loc="outside lower center",
        ncols=3,
        frameon=True,
    )
    ax.grid(alpha=0.3)
    _save(fig, path)
