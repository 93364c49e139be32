"""Which way is better for a logged metric: the one rule checkpoints, plateau and sweeps use."""

from __future__ import annotations

# Metric names (last path part) that are better when larger; everything else is minimized.
MAXIMIZED_PREFIXES = ("acc", "accuracy", "r2", "f1", "auroc", "precision", "recall")


def metric_mode(metric: str) -> str:
    """``max`` for accuracy-like metrics (val/acc, val/r2), ``min`` for losses and errors."""
    leaf = metric.rsplit("/", 1)[-1].lower()
    return "max" if leaf.startswith(MAXIMIZED_PREFIXES) else "min"
