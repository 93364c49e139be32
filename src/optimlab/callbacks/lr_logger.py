"""Log the learning rate and momentum of every optimizer step under one fixed name.

Lightning's LearningRateMonitor names its tags after the optimizer class (lr-SGD,
lr-Adam), so runs of a sweep over optimizers land in different TensorBoard charts.
Here every run logs ``train/lr`` and ``train/momentum`` (SGD's momentum or Adam's
beta1), so one chart compares them all.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from optimlab.callbacks.step_scalars import StepScalars, StepScalarWriter
from optimlab.errors import ConfigError


def momentum_of(group: dict[str, Any]) -> float | None:
    if "momentum" in group:
        return float(group["momentum"])
    if "betas" in group:
        return float(group["betas"][0])
    return None


def effective_lr(group: dict[str, Any]) -> float:
    """The step size a group takes: lr, or d * lr for learning-rate-free methods (Prodigy,
    D-Adaptation), whose lr is a fixed multiplier of their estimate d."""
    return float(group["lr"]) * float(group.get("d", 1.0))


class LearningRateLogger(StepScalarWriter):
    """Record LR (and momentum/beta1) before each optimizer step; write them in bulk.

    Every recorded step reaches the loggers, at its own step, but they are written every
    ``trainer.log_every_n_steps`` steps, at epoch ends and when training stops (see
    optimlab.callbacks.step_scalars and optimlab.tasks.fast_steps). Writing is
    StepScalarWriter's; this class only records. Under an optimlab task the values join
    the task's own step values, so each step is one TensorBoard event holding every tag
    (each event pays for a record checksum that tensorboard computes in pure Python).
    """

    def __init__(self, log_momentum: bool = True, every_n_steps: int = 1) -> None:
        if every_n_steps < 1:
            raise ConfigError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.log_momentum = log_momentum
        self.every_n_steps = every_n_steps
        super().__init__(StepScalars())
        self._last_step = -1

    @rank_zero_only
    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        step = trainer.global_step
        if step == self._last_step or step % self.every_n_steps or not trainer.loggers:
            return  # gradient accumulation: one entry per optimizer step
        self._last_step = step
        metrics: dict[str, float] = {}
        for opt_index, optimizer in enumerate(trainer.optimizers):
            prefix = "train" if opt_index == 0 else f"train/opt{opt_index}"
            for group_index, group in enumerate(optimizer.param_groups):
                name = group.get("name", f"pg{group_index}")
                suffix = "" if group_index == 0 else f"/{name}"
                metrics[f"{prefix}/lr{suffix}"] = effective_lr(group)
                momentum = momentum_of(group) if self.log_momentum else None
                if momentum is not None:
                    metrics[f"{prefix}/momentum{suffix}"] = momentum
        shared = getattr(pl_module, "step_scalars", None)  # an OptimTask's buffer
        (shared if isinstance(shared, StepScalars) else self.buffer).add(step, metrics)
