"""Turn a scheduler config file into the lr_scheduler dict Lightning expects.

A scheduler file is flat, so users override ``scheduler.<name>=value``. Lightning's keys
(interval, frequency, monitor, ...) go to Lightning; the warm-up keys wrap the schedule in
a linear warm-up unless the schedule handles warm-up itself; everything else goes to the
schedule's ``_target_``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightning as L
from hydra.utils import get_object, instantiate
from torch.optim import Optimizer
from torch.optim.lr_scheduler import ReduceLROnPlateau

from optimlab.optim.warmup import LinearWarmup

LIGHTNING_KEYS = ("interval", "frequency", "monitor", "strict", "name")
WARMUP_KEYS = ("warmup_steps", "warmup_epochs", "warmup_start_lr")
INTERVALS = ("step", "epoch")


@dataclass(frozen=True)
class ScheduleLength:
    """The run's length counted in schedule steps."""

    total_steps: int
    steps_per_epoch: int


def schedule_length(trainer: L.Trainer, interval: str) -> ScheduleLength:
    """Optimizer steps (interval=step) or epochs (interval=epoch) in the whole run."""
    total_optimizer_steps = int(trainer.estimated_stepping_batches)
    batches = trainer.num_training_batches
    per_epoch = 1
    if math.isfinite(batches):
        per_epoch = max(1, int(batches) // trainer.accumulate_grad_batches)
    if interval == "step":
        return ScheduleLength(total_steps=total_optimizer_steps, steps_per_epoch=per_epoch)
    epochs = trainer.max_epochs
    if epochs is None or epochs < 0:
        epochs = math.ceil(total_optimizer_steps / per_epoch)
    return ScheduleLength(total_steps=int(epochs), steps_per_epoch=1)


def _parameters(target: str) -> Mapping[str, inspect.Parameter]:
    return inspect.signature(get_object(target)).parameters


def build_lr_scheduler(
    optimizer: Optimizer,
    cfg: Mapping[str, Any] | None,
    length: ScheduleLength | None = None,
    *,
    trainer: L.Trainer | None = None,
) -> dict[str, Any] | None:
    """The Lightning ``lr_scheduler`` dict for ``cfg``, or None for a constant LR.

    The run length comes from ``length`` or else from ``trainer``; it is only computed
    when the schedule or its warm-up needs it.
    """
    if not cfg:
        return None
    schedule_cfg = dict(cfg)
    lightning = {key: schedule_cfg.pop(key) for key in LIGHTNING_KEYS if key in schedule_cfg}
    lightning.setdefault("interval", "epoch")
    if lightning["interval"] not in INTERVALS:
        raise ValueError(
            f"scheduler.interval must be one of {INTERVALS}, got {lightning['interval']!r}"
        )
    if "_target_" not in schedule_cfg:
        raise ValueError("the scheduler config has no _target_; pick one with scheduler=<name>")
    wanted = _parameters(schedule_cfg["_target_"])
    warmup = {k: schedule_cfg.pop(k) for k in WARMUP_KEYS if k in schedule_cfg and k not in wanted}

    def run_length() -> ScheduleLength:
        nonlocal length
        if length is None:
            if trainer is None:
                raise ValueError("this schedule needs the run length: pass length or trainer")
            length = schedule_length(trainer, lightning["interval"])
        return length

    warmup_steps = warmup.get("warmup_steps")
    if warmup_steps is None and warmup.get("warmup_epochs") is not None:
        warmup_steps = round(warmup["warmup_epochs"] * run_length().steps_per_epoch)
    warmup_steps = int(warmup_steps or 0)

    context: dict[str, Any] = {}
    if {"total_steps", "steps_per_epoch"} & wanted.keys() or warmup_steps:
        total = run_length().total_steps
        if warmup_steps > total:
            raise ValueError(
                f"warm-up ({warmup_steps} steps) is longer than the run ({total} steps); "
                "shorten scheduler.warmup_steps/warmup_epochs or train longer"
            )
        # a wrapped schedule starts when the warm-up ends, so it gets what is left
        context = {
            "total_steps": max(1, total - warmup_steps),
            "steps_per_epoch": run_length().steps_per_epoch,
        }
    if "monitor" in wanted and lightning.get("monitor") is not None:
        context["monitor"] = lightning["monitor"]
    context = {k: v for k, v in context.items() if k in wanted and k not in schedule_cfg}
    scheduler = instantiate({**schedule_cfg, "_partial_": True, "_convert_": "all"})(
        optimizer, **context
    )
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    if warmup_steps > 0:
        scheduler = LinearWarmup(
            optimizer,
            scheduler,
            warmup_steps=warmup_steps,
            start_lr=float(warmup.get("warmup_start_lr") or 0.0),
        )
    config = {"scheduler": scheduler, **{k: v for k, v in lightning.items() if v is not None}}
    if plateau:
        config["reduce_on_plateau"] = True  # Lightning then passes the monitored value
    return config
