"""Stop at the first NaN or infinite loss, saying where it happened and what to try."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from optimlab.errors import ConfigError, DivergedError


def _finite(loss: torch.Tensor) -> bool:
    if loss.numel() == 1:  # the usual scalar loss: one op, not three
        return math.isfinite(loss.item())
    return bool(torch.isfinite(loss).all())


class DivergenceGuard(L.Callback):
    """Check the training loss every ``check_every_n_steps`` steps (a device sync each time)."""

    def __init__(self, check_every_n_steps: int = 1) -> None:
        if check_every_n_steps < 1:
            raise ConfigError(f"check_every_n_steps must be >= 1, got {check_every_n_steps}")
        self.check_every_n_steps = check_every_n_steps

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *args: Any
    ) -> None:
        if trainer.global_step % self.check_every_n_steps:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None or _finite(loss):
            return
        value = float(loss.detach().float().mean())
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else math.nan
        raise DivergedError(
            f"the loss became {value} at step {trainer.global_step} (epoch "
            f"{trainer.current_epoch}) with lr {lr:.4g}; try a lower optimizer.lr, a warm-up "
            "(scheduler.warmup_epochs=1) or gradient clipping (trainer.gradient_clip_val=1.0)"
        )
