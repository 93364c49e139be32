"""Play a schedule through a run without training, as Lightning would step it.

Used by scripts/plot_schedules.py so its pictures come from the same factories as train.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from optimlab.errors import ConfigError
from optimlab.optim.build import RunLength, build_lr_scheduler, build_optimizer


def simulate_lr(
    optimizer_cfg: Mapping[str, Any],
    scheduler_cfg: Mapping[str, Any] | None,
    *,
    total_steps: int,
    steps_per_epoch: int,
    plateau_metric: float = 1.0,
) -> list[float]:
    """LR at each of ``total_steps`` optimizer steps.

    Per-epoch schedules step every ``steps_per_epoch`` optimizer steps. A plateau schedule
    sees ``plateau_metric`` at every epoch, i.e. a metric that never improves.
    """
    if total_steps <= 0 or steps_per_epoch <= 0:
        raise ConfigError(
            "total_steps and steps_per_epoch must be positive, "
            f"got {total_steps} and {steps_per_epoch}"
        )
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer(optimizer_cfg, [weight])
    interval = (scheduler_cfg or {}).get("interval", "epoch")
    length = RunLength(optimizer_steps=total_steps, steps_per_epoch=steps_per_epoch)
    config = build_lr_scheduler(optimizer, scheduler_cfg, length)
    lrs = []
    for step in range(total_steps):
        lrs.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()  # no gradient: the weight stays, only the schedule moves
        end_of_epoch = (step + 1) % steps_per_epoch == 0
        if config is None or (interval == "epoch" and not end_of_epoch):
            continue
        if config.get("reduce_on_plateau"):
            config["scheduler"].step(plateau_metric)
        else:
            config["scheduler"].step()
    return lrs
