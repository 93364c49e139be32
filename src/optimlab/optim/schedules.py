"""Schedule factories: the ``_target_`` of the files in conf/scheduler/.

The scheduler builder passes ``total_steps``, ``steps_per_epoch`` (both counted in the
schedule's own steps: optimizer steps for interval=step, epochs for interval=epoch) and
``monitor`` to any factory whose signature asks for them.
"""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

from optimlab.optim.closed_form import PolynomialDecayLR, WarmupCosineLR

# Metric names (last path part) that are better when larger; everything else is minimized.
_MAXIMIZED = ("acc", "accuracy", "r2", "f1", "auroc", "precision", "recall")


def metric_mode(metric: str) -> str:
    """``max`` for accuracy-like metrics (val/acc, val/r2), ``min`` for losses and errors."""
    leaf = metric.rsplit("/", 1)[-1].lower()
    return "max" if leaf.startswith(_MAXIMIZED) else "min"


def resolve_warmup(
    warmup_steps: int | None, warmup_epochs: float | None, steps_per_epoch: int
) -> int:
    """Warm-up length in schedule steps; ``warmup_steps`` wins over ``warmup_epochs``."""
    if warmup_steps is not None:
        return int(warmup_steps)
    if warmup_epochs is not None:
        return round(warmup_epochs * steps_per_epoch)
    return 0


def _check_warmup(warmup: int, horizon: int) -> None:
    if warmup < 0:
        raise ValueError(f"warm-up must be >= 0 steps, got {warmup}")
    if warmup > horizon:
        raise ValueError(
            f"warm-up ({warmup} steps) is longer than the schedule ({horizon} steps); "
            "shorten scheduler.warmup_steps/warmup_epochs or train longer"
        )


def cosine_warmup(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    warmup_steps: int | None = None,
    warmup_epochs: float | None = None,
    warmup_start_lr: float = 0.0,
    final_lr: float = 0.0,
    max_steps: int | None = None,
) -> WarmupCosineLR:
    """Warm up linearly, then cosine-decay to ``final_lr`` by ``max_steps`` (default: run end).

    ``max_steps`` counts from step 0, warm-up included, as the seeds' ``max_update`` does.
    """
    warmup = resolve_warmup(warmup_steps, warmup_epochs, steps_per_epoch)
    horizon = max_steps if max_steps is not None else total_steps
    _check_warmup(warmup, horizon)
    return WarmupCosineLR(
        optimizer,
        max_steps=horizon,
        warmup_steps=warmup,
        warmup_start_lr=warmup_start_lr,
        final_lr=final_lr,
    )


def polynomial(
    optimizer: Optimizer,
    *,
    total_steps: int,
    power: float = 1.0,
    final_lr: float = 0.0,
    max_steps: int | None = None,
) -> PolynomialDecayLR:
    """Decay to ``final_lr`` over ``max_steps`` (default: the rest of the run)."""
    horizon = max_steps if max_steps is not None else total_steps
    return PolynomialDecayLR(optimizer, max_steps=horizon, power=power, final_lr=final_lr)


def one_cycle(
    optimizer: Optimizer,
    *,
    total_steps: int,
    max_lr: float | None = None,
    cycle_momentum: bool | str = "auto",
    **kwargs: Any,
) -> OneCycleLR:
    """torch's OneCycleLR over the run; ``max_lr`` defaults to the optimizer's lr.

    ``cycle_momentum=auto`` cycles momentum (or Adam's beta1) only where the optimizer has
    one, since OneCycleLR refuses optimizers without it.
    """
    if max_lr is None:
        max_lr = [float(group["lr"]) for group in optimizer.param_groups]
    if cycle_momentum == "auto":
        group = optimizer.param_groups[0]
        cycle_momentum = bool(group.get("momentum")) or "betas" in group
    return OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total_steps, cycle_momentum=cycle_momentum, **kwargs
    )


def reduce_on_plateau(
    optimizer: Optimizer, *, monitor: str, mode: str = "auto", **kwargs: Any
) -> ReduceLROnPlateau:
    """torch's ReduceLROnPlateau, with ``mode=auto`` following the monitored metric."""
    if mode == "auto":
        mode = metric_mode(monitor)
    return ReduceLROnPlateau(optimizer, mode=mode, **kwargs)
