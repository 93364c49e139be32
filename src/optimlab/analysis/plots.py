"""Curves of several runs side by side: one PNG, four panels, one colour per run or per seed
group.

A group (runs that differ only in seed, analysis/groups.py) is drawn as the mean of its runs
with a band from their lowest to their highest value; a group of one run is that run's line.
Per-step training losses are smoothed with an exponential moving average (the LR range test's
``smooth``), the raw values drawn faintly behind."""

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
from optimlab.analysis.lr_find import smooth

# (title, y label, tags tried in order, x axis, y scale): what each panel shows; "auto" is log
# when the values span more than LOG_SPAN (learning rates of a search span decades)
PANELS = (
    ("train loss", "loss", ("train/loss_step", "train/loss"), "step", "log"),
    ("validation loss", "loss", ("val/loss",), "epoch", "linear"),
    ("validation accuracy / R²", "", ("val/acc", "val/r2"), "epoch", "linear"),
    ("learning rate", "lr", ("train/lr",), "step", "auto"),
)
LOG_SPAN = 20.0
SMOOTHED = ("train loss",)  # panels whose per-step values are smoothed
SMOOTH_POINTS = 20  # the EMA's window is about 1/20 of a curve's points
MAX_BETA = 0.999
LINE_STYLES = ("-", (0, (5, 2)), (0, (1, 1)), (0, (5, 2, 1, 2)))  # the LR panel: overlaps show
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


def ema_beta(points: int) -> float:
    """The EMA weight for a curve of ``points`` values: a window of about points/20 values
    (beta 0 for 20 points or fewer, 0.71 for 100, 0.96 for 1000), at most MAX_BETA."""
    window = points / SMOOTH_POINTS
    return 0.0 if window <= 1 else min(MAX_BETA, 1 - 2 / (window + 1))


def _across(curves: Sequence[Series]) -> tuple[list[float], list[float], list[float], list[float]]:
    """x, mean, min and max over the curves at each x any of them has."""
    by_x: dict[float, list[float]] = {}
    for curve in curves:
        for x, y in curve:
            by_x.setdefault(x, []).append(y)
    xs = sorted(by_x)
    return (
        xs,
        [sum(by_x[x]) / len(by_x[x]) for x in xs],
        [min(by_x[x]) for x in xs],
        [max(by_x[x]) for x in xs],
    )


def _legend_columns(labels: Sequence[str]) -> int:
    longest = max(len(label) for label in labels)
    return 3 if longest <= 40 else 2 if longest <= 60 else 1


def _cut(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def plot_runs(
    runs: Sequence[RunCurves],
    labels: Sequence[str],
    path: Path,
    target: tuple[str, float] | None = None,
) -> Path:
    """Train loss (log scale), val loss, val accuracy (or R²) and LR, one line per run."""
    return plot_groups([[run] for run in runs], labels, path, target)


def plot_groups(
    groups: Sequence[Sequence[RunCurves]],
    labels: Sequence[str],
    path: Path,
    target: tuple[str, float] | None = None,
) -> Path:
    """The four panels, one colour per group: its mean, and a min-max band over its runs.

    ``target`` (metric, value) is drawn as a dotted line on the panel of that metric. A panel
    whose metric no run logged says so instead of staying silently empty.
    """
    runs = [run for group in groups for run in group]
    banded = any(len(group) > 1 for group in groups)
    figure, grid = plt.subplots(2, 2, figsize=(12, 8), dpi=110)
    colors = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20").colors
    for axes, (title, ylabel, tags, x_axis, scale) in zip(grid.flat, PANELS, strict=True):
        all_values = [v for run in runs for _, v in run.series(*tags)]
        log_y = _log_scale(scale, all_values)
        smoothed = title in SMOOTHED
        drawn, last_x, betas = False, 1, set()
        for index, group in enumerate(groups):
            curves = [_points(run, tags, x_axis, log_y) for run in group]
            curves = [curve for curve in curves if curve]
            if not curves:
                continue
            color = colors[index % len(colors)]
            style = LINE_STYLES[index % len(LINE_STYLES)] if title == "learning rate" else "-"
            xs, raw_mean, _, _ = _across(curves)
            if smoothed:
                beta = ema_beta(max(len(curve) for curve in curves))
                betas.add(beta)
                if beta > 0:  # the raw values, faint; the smoothed ones drawn as the line
                    axes.plot(xs, raw_mean, color=color, linewidth=0.6, alpha=0.2)
                    curves = [
                        list(zip([x for x, _ in c], smooth([y for _, y in c], beta), strict=True))
                        for c in curves
                    ]
            xs, mean, low, high = _across(curves)
            if len(curves) > 1:
                axes.fill_between(xs, low, high, color=color, alpha=0.18, linewidth=0)
            few = len(xs) == 1 or (x_axis == "epoch" and len(xs) < 30)
            marker = "o" if few else None  # a lone point is invisible as a line
            axes.plot(
                xs, mean, color=color, linestyle=style, linewidth=1.5, marker=marker, markersize=3
            )
            drawn, last_x = True, max(last_x, *xs)
        present = [t for t in tags if any(t in r.scalars for r in runs)]
        if target and drawn and target[0] in present:
            axes.axhline(target[1], color="0.35", linestyle=":", linewidth=1.2)
            axes.annotate(
                f"target {target[1]:g}",
                (1, target[1]),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                fontsize=8,
                color="0.35",
            )
        heading = f"{title} ({', '.join(present)})" if present else title
        if smoothed and any(betas):
            heading += f"\nEMA β={max(betas):.2f}, raw values faint"
        axes.set_title(heading, fontsize=10)
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
    if banded:
        figure.suptitle("line: mean over the seeds of a group; band: their min to max", fontsize=11)
    if len(groups) > 1:  # one legend for all panels: a run keeps its colour everywhere
        handles = [Line2D([], [], color=colors[i % len(colors)]) for i in range(len(groups))]
        names = [_cut(label) for label in labels]
        columns = _legend_columns(names)
        figure.legend(handles, names, loc="lower center", ncol=columns, fontsize=8)
        rows = math.ceil(len(groups) / columns)
        figure.tight_layout(rect=(0, 0.01 + 0.022 * rows, 1, 1))
    else:
        figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
