"""Schedule-free optimizers (Defazio et al. 2024): what they need from a run.

They keep two weight sequences: y, where the gradient is taken, and x, an average of the
iterates that replaces a decaying schedule. ``optimizer.train()`` puts y into the model's
weights and ``optimizer.eval()`` puts x there (callbacks.ScheduleFreeModes calls them
wherever the model's mode changes). Because the average already does what a decay would,
a decaying schedule on top is refused; a warm-up in front of a constant lr is allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import get_object

from optimlab.errors import ConfigError
from optimlab.optim.schedules import ConstantLR


def is_schedule_free(optimizer: object) -> bool:
    """True for an optimizer (class or instance) that switches weights with train()/eval();
    torch's own optimizers have neither."""
    return callable(getattr(optimizer, "train", None)) and callable(
        getattr(optimizer, "eval", None)
    )


def check_schedule_free_schedule(optimizer: object, scheduler: Mapping[str, Any] | None) -> None:
    """Refuse a decaying schedule for a schedule-free ``optimizer`` (class or instance)."""
    target = (scheduler or {}).get("_target_")
    if not target or not is_schedule_free(optimizer) or get_object(str(target)) is ConstantLR:
        return
    name = getattr(optimizer, "__name__", type(optimizer).__name__)
    schedule = str(target).rsplit(".", 1)[-1]
    raise ConfigError(
        f"{name} is schedule-free: its averaged weights replace a decaying lr, so {schedule} "
        "would decay twice; use scheduler=constant (a warm-up in front, "
        "scheduler.warmup_steps=N, is allowed) or scheduler=none"
    )


def optimizer_class(cfg: Mapping[str, Any]) -> object:
    """The class an optimizer config builds (None when its target cannot be imported)."""
    try:
        return get_object(str(cfg.get("_target_")))
    except Exception:
        return None
