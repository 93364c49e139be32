"""The learning-rate schedules the files in conf/scheduler/ name, and the linear warm-up.

Schedules written here are closed forms, lr(step): a resumed run lands back on exactly the
same curve (the LR depends only on the step count in the checkpoint), and every value can be
tested against its formula. A schedule that needs the run's length declares ``total_steps``:
the builder (optim/build.py) passes the steps left after the warm-up, counted in the
schedule's own steps (optimizer steps, or epochs for ``interval: epoch``).
"""

from __future__ import annotations

import math
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, OneCycleLR, ReduceLROnPlateau

from optimlab.metrics import metric_mode

Schedule = LRScheduler | ReduceLROnPlateau


class ClosedFormLR(LRScheduler):
    """Base class: subclasses define ``lr_at(step, base_lr)``."""

    def lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [self.lr_at(self.last_epoch, base_lr) for base_lr in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()


class ConstantLR(ClosedFormLR):
    """lr(t) = lr0: an explicit no-op, so a constant run can still have a warm-up."""

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr


class InverseTimeLR(ClosedFormLR):
    """lr(t) = lr0 / (1 + k t)^p: p=1 the deeplearning.ai notes' 1/t decay, p=0.5 D2L ch. 11's."""

    def __init__(
        self, optimizer: Optimizer, *, decay_rate: float, power: float = 1.0, last_epoch: int = -1
    ) -> None:
        self.decay_rate = decay_rate
        self.power = power
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        return base_lr * (1 + self.decay_rate * step) ** (-self.power)


class FactorLR(ClosedFormLR):
    """lr(t) = max(min_lr, lr0 f^t): D2L ch. 11's FactorScheduler (its call t is our step t+1)."""

    def __init__(
        self, optimizer: Optimizer, *, factor: float, min_lr: float = 0.0, last_epoch: int = -1
    ) -> None:
        self.factor = factor
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        return max(self.min_lr, base_lr * self.factor**step)


class PolynomialLR(ClosedFormLR):
    """lr(t) = final + (lr0 - final) (1 - t/T)^p for t < T, then final (p=1: linear decay)."""

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        total_steps: int,
        power: float = 1.0,
        final_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_steps = total_steps
        self.power = power
        self.final_lr = final_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        remaining = max(0.0, 1 - step / self.total_steps)
        return self.final_lr + (base_lr - self.final_lr) * remaining**self.power


class CosineLR(ClosedFormLR):
    """lr(t) = final + (lr0 - final)(1 + cos(pi t / T)) / 2 for t < T, then final."""

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        total_steps: int,
        final_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_steps = total_steps
        self.final_lr = final_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        if step >= self.total_steps:
            return self.final_lr
        cosine = (1 + math.cos(math.pi * step / self.total_steps)) / 2
        return self.final_lr + (base_lr - self.final_lr) * cosine


DECAY_SHAPES = ("linear", "cosine", "sqrt")


def decay_factor(progress: float, shape: str) -> float:
    """How much of the way from lr0 to final_lr is left at ``progress`` in [0, 1] of a decay."""
    if shape == "linear":
        return 1 - progress
    if shape == "cosine":
        return (1 + math.cos(math.pi * progress)) / 2
    return 1 - math.sqrt(progress)  # sqrt: the cooldown Hagele et al. (2024) found best


class WarmupStableDecayLR(ClosedFormLR):
    """WSD after its warm-up: lr0 held, then a decay to ``final_lr`` over the last
    ``decay_fraction`` of the whole run (``run_steps``, warm-up included).

    The builder puts the warm-up in front and passes ``total_steps`` (what the warm-up leaves)
    and ``run_steps``; so with 100 steps, warm-up 10 and decay_fraction 0.2 the decay starts
    at step 80 of the run.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        total_steps: int,
        run_steps: int,
        decay_fraction: float = 0.2,
        final_lr: float = 0.0,
        decay_shape: str = "linear",
        last_epoch: int = -1,
    ) -> None:
        self.total_steps = total_steps
        self.decay_steps = min(total_steps, max(1, round(decay_fraction * run_steps)))
        self.final_lr = final_lr
        self.decay_shape = decay_shape
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step: int, base_lr: float) -> float:
        decay_start = self.total_steps - self.decay_steps
        if step < decay_start:
            return base_lr
        progress = min(1.0, (step - decay_start) / self.decay_steps)
        return self.final_lr + (base_lr - self.final_lr) * decay_factor(progress, self.decay_shape)


def warmup_cosine_lr(
    step: int,
    *,
    base_lr: float,
    max_steps: int,
    warmup_steps: int = 0,
    warmup_start_lr: float = 0.0,
    final_lr: float = 0.0,
) -> float:
    """D2L ch. 11's ``CosineScheduler(max_update, base_lr, final_lr, warmup_steps,
    warmup_begin_lr)`` called with ``step``: the formula scheduler=cosine_warmup reproduces (the
    tests hold the two together)."""
    if step < warmup_steps:
        return warmup_start_lr + (base_lr - warmup_start_lr) * step / warmup_steps
    if step >= max_steps:
        return final_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)
    return final_lr + (base_lr - final_lr) * (1 + math.cos(math.pi * progress)) / 2


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


class LinearWarmup(LRScheduler):
    """Ramp from ``start_lr`` to the schedule's first LR over ``warmup_steps``, then hand over.

    The one warm-up mechanism: any schedule can sit behind it. The wrapped schedule starts
    counting when the warm-up ends (step ``warmup_steps + k`` of the run is its step ``k``).
    The group LR is handed back exactly as the schedule left it, so recursive torch schedules
    (StepLR, ...) work, and ReduceLROnPlateau gets its metric passed through (ignored during
    the warm-up).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        schedule: Schedule,
        *,
        warmup_steps: int,
        start_lr: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.start_lr = start_lr
        # where the wrapped schedule wants to start (its step 0)
        self.target_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        super().__init__(optimizer, last_epoch)

    def step(self, metrics: Any = None, epoch: None = None) -> None:  # type: ignore[override]
        self.last_epoch += 1
        step = self.last_epoch
        if step < self.warmup_steps:
            lrs = [
                self.start_lr + (target - self.start_lr) * step / self.warmup_steps
                for target in self.target_lrs
            ]
        elif step == self.warmup_steps:
            lrs = list(self.target_lrs)
        else:
            if isinstance(self.schedule, ReduceLROnPlateau):
                if metrics is not None:
                    self.schedule.step(metrics)
            else:
                self.schedule.step()
            lrs = [float(group["lr"]) for group in self.optimizer.param_groups]
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = lrs

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}
        state["schedule"] = self.schedule.state_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        self.schedule.load_state_dict(state.pop("schedule"))
        self.__dict__.update(state)
