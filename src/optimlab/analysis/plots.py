"""Curves of several runs side by side: one PNG, four panels, one colour per run."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: works without a display (servers, CI, SLURM nodes)
import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from optimlab.analysis.events import RunCurves, Series

# (title, y label, tags tried in order, x axis, y scale): what each panel shows; "auto" is log
# when the values span more than LOG_SPAN (learning rates of a search span decades)
PANELS = (
    ("train loss", "loss", ("train/loss_step", "train/loss"), "step", "log"),
    ("validation loss", "loss", ("val/loss",), "epoch", "linear"),
    ("validation accuracy / R²", "", ("val/acc", "val/r2"), "epoch", "linear"),
    ("learning rate", "lr", ("train/lr",), "step", "auto"),
)
LOG_SPAN = 100.0
MAX_LABEL = 90  # legend entries are cut here (a whole Optuna trial's overrides are longer)


def _points(run: RunCurves, tags: Sequence[str], x_axis: str, log_y: bool) -> Series:
    """The panel's points of one run; non-finite values (and <= 0 on a log scale) left out."""
    points = run.by_epoch(*tags) if x_axis == "epoch" else run.series(*tags)
    keep = (lambda v: math.isfinite(v) and v > 0) if log_y else math.isfinite
    return [(x, v) for x, v in points if keep(v)]  # a diverged run's NaN/inf tail is dropped


def _log_scale(scale: str, values: Sequence[float]) -> bool:
    positive = [v for v in values if math.isfinite(v) and v > 0]
    if scale != "auto":
        return scale == "log"
    return bool(positive) and max(positive) / min(positive) > LOG_SPAN


def _legend_columns(labels: Sequence[str]) -> int:
    longest = max(len(label) for label in labels)
    return 3 if longest <= 40 else 2 if longest <= 60 else 1


def _cut(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def plot_runs(runs: Sequence[RunCurves], labels: Sequence[str], path: Path) -> Path:
    """Train loss (log scale), val loss, val accuracy (or R²) and LR, one line per run.

    A panel whose metric no run logged says so instead of staying silently empty.
    """
    figure, grid = plt.subplots(2, 2, figsize=(12, 8), dpi=110)
    colors = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20").colors
    for axes, (title, ylabel, tags, x_axis, scale) in zip(grid.flat, PANELS, strict=True):
        all_values = [v for run in runs for _, v in run.series(*tags)]
        log_y = _log_scale(scale, all_values)
        drawn, last_x = False, 1
        for index, run in enumerate(runs):
            points = _points(run, tags, x_axis, log_y)
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            few = len(points) == 1 or (x_axis == "epoch" and len(points) < 30)
            marker = "o" if few else None  # a lone point is invisible as a line
            color = colors[index % len(colors)]
            axes.plot(xs, ys, color=color, linewidth=1.4, marker=marker, markersize=3)
            drawn, last_x = True, max(last_x, *xs)
        present = [t for t in tags if any(t in r.scalars for r in runs)]
        axes.set_title(f"{title} ({', '.join(present)})" if present else title)
        axes.set_xlabel("optimizer step" if x_axis == "step" else "epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if x_axis == "epoch":
            axes.set_xlim(0.5, last_x + 0.5)  # also a one-epoch run gets a readable axis
        axes.set_ylabel(ylabel)
        axes.grid(alpha=0.3)
        if log_y and drawn:
            axes.set_yscale("log")
        if not drawn:
            axes.text(0.5, 0.5, "not logged", ha="center", va="center", transform=axes.transAxes)
    if len(runs) > 1:  # one legend for all panels: a run keeps its colour everywhere
        handles = [Line2D([], [], color=colors[i % len(colors)]) for i in range(len(runs))]
        names = [_cut(label) for label in labels]
        columns = _legend_columns(names)
        figure.legend(handles, names, loc="lower center", ncol=columns, fontsize=8)
        rows = math.ceil(len(runs) / columns)
        figure.tight_layout(rect=(0, 0.01 + 0.022 * rows, 1, 1))
    else:
        figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
