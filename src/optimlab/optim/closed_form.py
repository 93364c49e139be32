"""Schedules written as lr(step) in closed form.

A closed form puts a resumed run back on exactly the same curve (the LR depends only on
the step count in the checkpoint) and makes every value testable against its formula.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class ClosedFormLR(LRScheduler):
    """Base class: subclasses define ``lr_at(step, base_lr)``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [self.lr_at(self.last_epoch, base_lr) for base_lr in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()


class ConstantLR(ClosedFormLR):
    """lr(t) = lr0: an explicit no-op, so a constant run still has a schedule object."""

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr


class InverseTimeLR(ClosedFormLR):
    """lr(t) = lr0 / (1 + k t)^p. p=1 is the seeds' 1/t decay; p=0.5 their square-root decay."""

    def __init__(
        self, optimizer: Optimizer, *, decay_rate: float, power: float = 1.0, last_epoch: int = -1
    ) -> None:
        if decay_rate < 0:
            raise ValueError(f"scheduler.decay_rate must be >= 0, got {decay_rate}")
        self.decay_rate = decay_rate
        self.power = power
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * (1 + self.decay_rate * step) ** (-self.power)


class FactorLR(ClosedFormLR):
    """lr(t) = max(min_lr, lr0 f^t): the seeds' FactorScheduler (its call t is our step t+1)."""

    def __init__(
        self, optimizer: Optimizer, *, factor: float, min_lr: float = 0.0, last_epoch: int = -1
    ) -> None:
        if not 0 < factor <= 1:
            raise ValueError(f"scheduler.factor must be in (0, 1], got {factor}")
        self.factor = factor
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        return max(self.min_lr, base_lr * self.factor**step)


class PolynomialDecayLR(ClosedFormLR):
    """lr(t) = final + (lr0 - final) (1 - t/T)^p for t < T, then final (p=1: linear decay)."""

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        max_steps: int,
        power: float = 1.0,
        final_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if max_steps <= 0:
            raise ValueError(f"the polynomial schedule needs max_steps > 0, got {max_steps}")
        self.max_steps = max_steps
        self.power = power
        self.final_lr = final_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        remaining = max(0.0, 1 - step / self.max_steps)
        return self.final_lr + (base_lr - self.final_lr) * remaining**self.power


def warmup_cosine_lr(
    step: int,
    *,
    base_lr: float,
    max_steps: int,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    final_lr: float = 0.0,
) -> float:
    """Linear ramp, then half a cosine down to ``final_lr`` at ``max_steps``, then flat.

    The same numbers as the seeds' ``CosineScheduler(max_update, base_lr, final_lr,
    warmup_steps, warmup_begin_lr)`` called with ``step``.
    """
    if step < warmup_steps:
        return warmup_start_lr + (base_lr - warmup_start_lr) * step / warmup_steps
    if step >= max_steps:
        return final_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return final_lr + (base_lr - final_lr) * (1 + math.cos(math.pi * progress)) / 2


class WarmupCosineLR(ClosedFormLR):
    """The seeds' CosineScheduler: warm-up, cosine to ``final_lr`` by ``max_steps``, flat after."""

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

    def lr_at(self, step: int, base_lr: float) -> float:
        return warmup_cosine_lr(
            step,
            base_lr=base_lr,
            max_steps=self.max_steps,
            warmup_steps=self.warmup_steps,
            warmup_start_lr=self.warmup_start_lr,
            final_lr=self.final_lr,
        )
