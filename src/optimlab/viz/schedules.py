"""Figures and CSV files of learning-rate schedules."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def write_lr_csv(path: Path, curves: Mapping[str, Sequence[float]]) -> None:
    """``step,lr`` for one schedule; ``step,<name>,<name>...`` for several."""
    names = list(curves)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "lr"] if len(names) == 1 else ["step", *names])
        for step in range(len(curves[names[0]])):
            writer.writerow([step, *(f"{curves[name][step]:.10g}" for name in names)])


def plot_lr_curves(
    path: Path, curves: Mapping[str, Sequence[float]], *, title: str, steps_per_epoch: int
) -> None:
    """LR against optimizer step, one line per schedule, epoch boundaries on a top axis."""
    many = len(curves) > 1
    figure, axes = plt.subplots(figsize=(11, 5) if many else (7, 4), dpi=120)
    colors = plt.get_cmap("tab20").colors
    for index, (name, lrs) in enumerate(curves.items()):
        axes.plot(range(len(lrs)), lrs, label=name, linewidth=1.6, color=colors[index % 20])
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("learning rate")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    top = axes.secondary_xaxis(
        "top", functions=(lambda s: s / steps_per_epoch, lambda e: e * steps_per_epoch)
    )
    top.set_xlabel("epoch")
    if many:
        axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
