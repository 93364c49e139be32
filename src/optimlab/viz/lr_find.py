"""The LR range test's figure and CSV (scripts/lr_find.py)."""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from optimlab.analysis.lr_find import RULE_NAMES, RangeCurve, Suggestions

CSV_COLUMNS = ["seed", "step", "lr", "loss", "smoothed_loss"]
RULE_STYLE = {  # (colour, line style) of each rule's vertical line
    "valley": ("tab:red", "-"),
    "steepest": ("tab:orange", "--"),
    "minimum": ("tab:green", ":"),
}


def write_range_csv(path: Path, curves: Sequence[RangeCurve]) -> None:
    """One row per recorded step of every test: seed, step, lr, loss, smoothed_loss."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for curve in curves:
            seed = "" if curve.seed is None else curve.seed
            for step, (lr, loss, smoothed) in enumerate(
                zip(curve.lrs, curve.losses, curve.smoothed, strict=True)
            ):
                writer.writerow([seed, step, *(f"{value:.12g}" for value in (lr, loss, smoothed))])


def plot_range_test(
    path: Path,
    curves: Sequence[RangeCurve],
    suggestions: Mapping[int | None, Suggestions],
    chosen: Mapping[str, float],
    *,
    title: str,
) -> None:
    """Smoothed loss (and, faint, the raw loss) against lr on a log axis, one colour per seed;
    each seed's valley point, and a vertical line per rule at the value the script prints."""
    figure, axes = plt.subplots(figsize=(9.5, 4.8), dpi=120)
    colors = plt.get_cmap("tab10").colors
    shown: list[float] = []  # the smoothed values the y axis must show
    for index, curve in enumerate(curves):
        color = colors[(index + 4) % 10]  # not the rules' red, orange, green
        label = "smoothed loss" if curve.seed is None else f"seed {curve.seed}"
        axes.plot(curve.lrs, curve.losses, color=color, alpha=0.25, linewidth=0.8)
        axes.plot(curve.lrs, curve.smoothed, color=color, linewidth=1.8, label=label)
        picked = suggestions.get(curve.seed)
        end = len(curve.smoothed) if picked is None else picked.window[1]
        shown += [v for v in curve.smoothed[:end] if math.isfinite(v)]
        if picked is not None:
            step = curve.lrs.index(picked.valley)
            axes.plot(picked.valley, curve.smoothed[step], "o", color="tab:red", markersize=6)
    for rule, lr in chosen.items():
        color, style = RULE_STYLE[rule]
        label = f"{RULE_NAMES[rule]}: {lr:.3g}"
        axes.axvline(lr, color=color, linestyle=style, linewidth=1.2, label=label)
    if shown:  # up to where the rules stop reading: the exploding end would squash the rest
        low, high = min(shown), max(shown)
        margin = 0.1 * (high - low) or 0.05 * abs(high) or 1.0
        axes.set_ylim(low - margin, high + margin)
    axes.set_xscale("log")
    axes.set_xlabel("learning rate (optimizer.lr)")
    axes.set_ylabel("training loss")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.grid(alpha=0.12, which="minor", axis="x")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
