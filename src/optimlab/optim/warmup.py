"""Linear warm-up in front of any schedule: the seeds say it "can be applied to any scheduler"."""

from __future__ import annotations

from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

Schedule = LRScheduler | ReduceLROnPlateau


class LinearWarmup(LRScheduler):
    """Ramp from ``start_lr`` to the schedule's first LR over ``warmup_steps``, then hand over.

    The wrapped schedule starts counting when the warm-up ends: step ``warmup_steps + k``
    of the run is step ``k`` of ``schedule``. Works with recursive torch schedules
    (StepLR, ...) because the group LR is handed back exactly as ``schedule`` left it,
    and with ReduceLROnPlateau, whose metric is passed through (and ignored during warm-up).
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
        if warmup_steps <= 0:
            raise ValueError(f"warm-up needs warmup_steps > 0, got {warmup_steps}")
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
            fraction = step / self.warmup_steps
            lrs = [self.start_lr + (t - self.start_lr) * fraction for t in self.target_lrs]
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
