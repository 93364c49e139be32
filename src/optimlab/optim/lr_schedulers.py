"""Turn a scheduler config file into the lr_scheduler dict Lightning expects.

A scheduler file is flat, so users override ``scheduler.<name>=value``: the keys below
are Lightning's, everything else goes to the schedule's ``_target_``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightning as L
from hydra.utils import instantiate
from torch.optim import Optimizer

LIGHTNING_KEYS = ("interval", "frequency", "monitor", "strict", "name")
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
    per_epoch = (
        max(1, int(batches) // trainer.accumulate_grad_batches) if math.isfinite(batches) else 1
    )
    if interval == "step":
        return ScheduleLength(total_steps=total_optimizer_steps, steps_per_epoch=per_epoch)
    epochs = trainer.max_epochs
    if epochs is None or epochs < 0:
        epochs = math.ceil(total_optimizer_steps / per_epoch)
    return ScheduleLength(total_steps=int(epochs), steps_per_epoch=1)


def build_lr_scheduler(
    optimizer: Optimizer,
    cfg: Mapping[str, Any] | None,
    length: ScheduleLength | None = None,
    *,
    trainer: L.Trainer | None = None,
) -> dict[str, Any] | None:
    """The Lightning ``lr_scheduler`` dict for ``cfg``, or None for a constant LR.

    The run length comes from ``length`` or else from ``trainer``; it is only computed
    when the schedule asks for it.
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
    factory = instantiate({**schedule_cfg, "_partial_": True})
    wanted = inspect.signature(factory.func).parameters
    context: dict[str, Any] = {}
    if {"total_steps", "steps_per_epoch"} & wanted.keys():
        if length is None:
            if trainer is None:
                raise ValueError("this schedule needs the run length: pass length or trainer")
            length = schedule_length(trainer, lightning["interval"])
        context = {"total_steps": length.total_steps, "steps_per_epoch": length.steps_per_epoch}
    if "monitor" in wanted and lightning.get("monitor") is not None:
        context["monitor"] = lightning["monitor"]
    context = {k: v for k, v in context.items() if k in wanted and k not in factory.keywords}
    scheduler = factory(optimizer, **context)
    return {"scheduler": scheduler, **{k: v for k, v in lightning.items() if v is not None}}
