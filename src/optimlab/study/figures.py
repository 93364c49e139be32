"""A study's figures: learning-rate sensitivity, training curves at the best lr, and the
performance profile. Lines are means over seeds, bands span the seeds (min to max), as in
scripts/compare_runs.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: works without a display (servers, CI, SLURM nodes)
import matplotlib.pyplot as plt

from optimlab.analysis.events import load_run
from optimlab.analysis.plots import plot_groups
from optimlab.metrics import metric_mode
from optimlab.study.grid import Cell
from optimlab.study.profile import Times, profile, tau_grid

LINE_STYLES = ("-", "--", "-.", ":")  # with 10 colours: 40 variants stay distinguishable
PANEL_SIZE = (6.0, 4.5)  # inches per workload panel
LEGEND_WIDTH = 2.0  # inches to the right of the panels
ZOOM_SPANS = 3.0  # the y axis reaches this many times the chosen lrs' spread beyond the worst
ZOOM_MIN_SPAN = 0.02  # ... a spread of at least 2% of their values (all chosen lrs alike)
ZOOM_MARGIN = 0.05  # fraction of the spread left free at each end


def _style(index: int) -> dict[str, object]:
    colors = plt.get_cmap("tab10").colors
    return {
        "color": colors[index % len(colors)],
        "linestyle": LINE_STYLES[(index // len(colors)) % len(LINE_STYLES)],
    }


def _x(cell: Cell) -> float:
    return cell.lr if cell.lr is not None else cell.lr_scale


def plot_sensitivity(
    cells: Sequence[Cell],
    best: Sequence[Cell],
    variants: Sequence[str],
    metrics: Mapping[str, str],
    path: Path,
) -> Path:
    """Final validation metric against lr (log axis), a panel per workload (``metrics``:
    workload -> its metric), a line per variant.

    A star marks each variant's chosen lr; an x at the panel's bottom marks an lr where a
    seed diverged (no value to draw).
    """
    workloads = list(metrics)
    figure, axes_row = plt.subplots(
        1,
        len(workloads),
        figsize=(PANEL_SIZE[0] * len(workloads) + LEGEND_WIDTH, PANEL_SIZE[1]),
        dpi=110,
        squeeze=False,
    )
    chosen = {id(c) for c in best}
    for axes, workload in zip(axes_row[0], workloads, strict=True):
        for index, variant in enumerate(variants):
            line = sorted(
                (c for c in cells if c.workload == workload and c.variant == variant), key=_x
            )
            drawn = [c for c in line if c.final_val.mean is not None and c.complete]
            if not line:
                continue
            style = _style(index)
            xs = [_x(c) for c in drawn]
            means = [c.final_val.mean for c in drawn]
            lows = [min(r.final_val for r in c.finished if r.final_val is not None) for c in drawn]
            highs = [max(r.final_val for r in c.finished if r.final_val is not None) for c in drawn]
            axes.plot(xs, means, marker="o", markersize=3, linewidth=1.4, label=variant, **style)
            axes.fill_between(xs, lows, highs, color=style["color"], alpha=0.15, linewidth=0)
            for cell in drawn:
                if id(cell) in chosen:
                    axes.plot(
                        _x(cell),
                        cell.final_val.mean,
                        marker="*",
                        markersize=11,
                        color=style["color"],
                        markeredgecolor="black",
                        markeredgewidth=0.5,
                    )
            for cell in line:
                if not cell.complete:
                    axes.plot(
                        _x(cell),
                        0,
                        marker="x",
                        color=style["color"],
                        markersize=7,
                        transform=axes.get_xaxis_transform(),
                        clip_on=False,
                    )
        metric = metrics[workload]
        _zoom(axes, [c for c in cells if c.workload == workload], best, metric)
        axes.set_xscale("log")
        axes.set_xlabel("learning rate (each variant's default × the lr scale)")
        axes.set_ylabel(f"final {metric}")
        axes.set_title(workload, fontsize=10)
        axes.grid(alpha=0.3, which="both")
    handles, labels = axes_row[0][0].get_legend_handles_labels()
    legend_left = 1 - LEGEND_WIDTH / figure.get_figwidth()
    figure.legend(handles, labels, loc="center left", bbox_to_anchor=(legend_left, 0.5), fontsize=8)
    figure.suptitle(
        "learning-rate sensitivity: mean over seeds, band min to max, ★ chosen lr (best mean "
        "validation)\n× a seed diverged; y zoomed on the chosen lrs (every value: the table)",
        fontsize=10,
    )
    figure.tight_layout(rect=(0, 0, legend_left, 1))
    return _save(figure, path)


def _zoom(axes: plt.Axes, cells: Sequence[Cell], best: Sequence[Cell], metric: str) -> None:
    """The y range where the chosen lrs differ: runs that did not learn (accuracy at chance,
    a loss far above the rest) would squash the differences that matter into a sliver. Lines
    to values beyond the range leave the panel; the sensitivity table has every value."""
    means = [c.final_val.mean for c in cells if c.final_val.mean is not None]
    chosen = [c.final_val.mean for c in best if c in cells and c.final_val.mean is not None]
    if not means or not chosen:
        return
    span = max(max(chosen) - min(chosen), ZOOM_MIN_SPAN * max(abs(v) for v in chosen), 1e-12)
    margin = ZOOM_MARGIN * span
    if metric_mode(metric) == "max":
        axes.set_ylim(
            max(min(means), min(chosen) - ZOOM_SPANS * span) - margin, max(means) + margin
        )
    else:
        axes.set_ylim(
            min(means) - margin, min(max(means), max(chosen) + ZOOM_SPANS * span) + margin
        )


def plot_best_curves(best: Sequence[Cell], target: tuple[str, float] | None, path: Path) -> Path:
    """compare_runs' four panels for the variants of one workload, each at its chosen lr."""
    groups = [[load_run(r.run_dir, r.run_dir.parent) for r in cell.finished] for cell in best]
    labels = [f"{c.variant} (lr {_x(c):.3g}, n={len(c.finished)})" for c in best]
    kept = [(g, label) for g, label in zip(groups, labels, strict=True) if g]
    return plot_groups([g for g, _ in kept], [label for _, label in kept], path, target)


def plot_profile(
    times: Times, variants: Sequence[str], max_tau: float, time_name: str, path: Path
) -> Path:
    """rho_v(tau) for each variant, a step line on a log tau axis."""
    taus = tau_grid(max_tau)
    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for index, variant in enumerate(variants):
        axes.step(
            taus,
            profile(times, variant, taus),
            where="post",
            linewidth=1.6,
            label=variant,
            **_style(index),
        )
    axes.set_xscale("log")
    axes.set_xlim(1, max_tau)
    axes.set_ylim(-0.02, 1.02)
    axes.set_xlabel(f"τ: time to target ({time_name}) over the fastest variant's")
    axes.set_ylabel("fraction of workloads reached within τ")
    axes.set_title(f"performance profile over {len(times)} workloads (AlgoPerf's)", fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
