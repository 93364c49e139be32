"""Time to target: the first validation at which the optimized metric reached ``target``.

The runner adds it when ``target`` is set (runner/train.py: build_trainer) and copies what it
recorded into result.json. Its state rides in the checkpoints, so a resumed run keeps the time
its first part recorded, and its wall clock goes on from where the checkpoint left it.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch

from optimlab.metrics import metric_mode


def reached(value: float, target: float, mode: str) -> bool:
    """Whether ``value`` is at or past ``target`` in the metric's direction (max or min)."""
    if not math.isfinite(value):
        return False
    return value >= target if mode == "max" else value <= target


class TimeToTarget(L.Callback):
    """Records ``{step, epoch, wall_s}`` at the first validation whose ``metric`` reaches
    ``target``: optimizer steps done, the epoch the validation ran in (1 for the first, as
    compare_runs' epoch axis) and seconds of fit so far. ``time_to_target`` stays None while
    the metric has not reached it."""

    def __init__(self, metric: str, target: float) -> None:
        self.metric = metric
        self.target = float(target)
        self.mode = metric_mode(metric)
        self.time_to_target: dict[str, Any] | None = None
        self._elapsed_before = 0.0  # seconds of fit in the runs this one resumes
        self._started: float | None = None

    @property
    def state_key(self) -> str:
        # another metric or target is another record: a resume with a new target starts over
        return self._generate_state_key(metric=self.metric, target=self.target)

    def elapsed(self) -> float:
        since = time.monotonic() - self._started if self._started is not None else 0.0
        return self._elapsed_before + since

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.monotonic()  # (a resume has restored the state already)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or self.time_to_target is not None:
            return
        value = trainer.callback_metrics.get(self.metric)
        if value is None:
            return
        # at the metric's own precision: a float32 accuracy of 0.7 is 0.69999999 < 0.7
        target = self.target
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            target = torch.tensor(target, dtype=value.dtype).item()
        if not reached(float(value), target, self.mode):
            return
        self.time_to_target = {
            "step": int(trainer.global_step),
            "epoch": int(trainer.current_epoch) + 1,
            "wall_s": round(self.elapsed(), 3),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"time_to_target": self.time_to_target, "elapsed_s": self.elapsed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.time_to_target = state_dict.get("time_to_target")
        self._elapsed_before = float(state_dict.get("elapsed_s", 0.0))
