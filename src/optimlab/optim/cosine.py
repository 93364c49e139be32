"""Linear warm-up followed by cosine decay: the seeds' CosineScheduler as a torch scheduler."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def warmup_cosine_lr(
    step: int,
    *,
    base_lr: float,
    max_steps: int,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    final_lr: float = 0.0,
) -> float:
    """LR at ``step``: linear ramp, then half a cosine down to ``final_lr``, then flat.

    Same numbers as the seeds' ``CosineScheduler(max_update, base_lr, final_lr,
    warmup_steps, warmup_begin_lr)`` called with ``step``.
    """
    if step < warmup_steps:
        return warmup_start_lr + (base_lr - warmup_start_lr) * step / warmup_steps
    if step >= max_steps:
        return final_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return final_lr + (base_lr - final_lr) * (1 + math.cos(math.pi * progress)) / 2


class WarmupCosineLR(LRScheduler):
    """Closed-form schedule, so a resumed run lands on exactly the same curve."""

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        max_steps: int,
        warmup_steps: int = 0,
        warmup_start_lr: float = 0.0,
        final_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if max_steps <= 0:
            raise ValueError(f"the cosine schedule needs max_steps > 0, got {max_steps}")
        if not 0 <= warmup_steps <= max_steps:
            raise ValueError(
                f"warm-up of {warmup_steps} steps does not fit a schedule of {max_steps} steps"
            )
        self.max_steps = max_steps
        self.warmup_steps = warmup_steps
        self.warmup_start_lr = warmup_start_lr
        self.final_lr = final_lr
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [
            warmup_cosine_lr(
                self.last_epoch,
                base_lr=base_lr,
                max_steps=self.max_steps,
                warmup_steps=self.warmup_steps,
                warmup_start_lr=self.warmup_start_lr,
                final_lr=self.final_lr,
            )
            for base_lr in self.base_lrs
        ]
