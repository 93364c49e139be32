"""Schedules equal their closed forms (the seeds' CosineScheduler) and wire into Lightning."""

from __future__ import annotations

import math

import pytest
import torch

from optimlab.optim import (
    ScheduleLength,
    WarmupCosineLR,
    build_lr_scheduler,
    metric_mode,
    warmup_cosine_lr,
)


class SeedCosineScheduler:
    """The seeds' CosineScheduler, verbatim in behaviour (d2l, chapter 11.11)."""

    def __init__(self, max_update, base_lr=0.01, final_lr=0, warmup_steps=0, warmup_begin_lr=0):
        self.base_lr_orig = base_lr
        self.max_update = max_update
        self.final_lr = final_lr
        self.warmup_steps = warmup_steps
        self.warmup_begin_lr = warmup_begin_lr
        self.max_steps = self.max_update - self.warmup_steps

    def get_warmup_lr(self, epoch):
        increase = (
            (self.base_lr_orig - self.warmup_begin_lr) * float(epoch) / float(self.warmup_steps)
        )
        return self.warmup_begin_lr + increase

    def __call__(self, epoch):
        if epoch < self.warmup_steps:
            return self.get_warmup_lr(epoch)
        if epoch <= self.max_update:
            self.base_lr = (
                self.final_lr
                + (self.base_lr_orig - self.final_lr)
                * (1 + math.cos(math.pi * (epoch - self.warmup_steps) / self.max_steps))
                / 2
            )
        return self.base_lr


def _optimizer(lr: float = 0.3) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


@pytest.mark.parametrize("warmup", [0, 5])
def test_closed_form_matches_seed_cosine_scheduler(warmup: int) -> None:
    seed = SeedCosineScheduler(20, base_lr=0.3, final_lr=0.01, warmup_steps=warmup)
    for epoch in range(30):
        ours = warmup_cosine_lr(
            epoch, base_lr=0.3, max_steps=20, warmup_steps=warmup, final_lr=0.01
        )
        assert ours == pytest.approx(seed(epoch), abs=1e-12), epoch


def test_seed_printed_values() -> None:
    """Spot values: start of warm-up, its end, the middle of the cosine, after max_update."""
    lr = lambda t: warmup_cosine_lr(t, base_lr=0.3, max_steps=20, warmup_steps=5, final_lr=0.01)  # noqa: E731
    assert lr(0) == 0.0
    assert lr(1) == pytest.approx(0.06)
    assert lr(5) == pytest.approx(0.3)
    assert lr(12.5) == pytest.approx((0.3 + 0.01) / 2)
    assert lr(20) == pytest.approx(0.01)
    assert lr(29) == pytest.approx(0.01)


def test_torch_scheduler_follows_the_closed_form_when_stepped() -> None:
    optimizer = _optimizer(0.3)
    scheduler = WarmupCosineLR(optimizer, max_steps=20, warmup_steps=5, final_lr=0.01)
    seen = []
    for _ in range(25):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    seed = SeedCosineScheduler(20, base_lr=0.3, final_lr=0.01, warmup_steps=5)
    assert seen == pytest.approx([seed(t) for t in range(25)])


def test_scheduler_state_restores_the_curve() -> None:
    optimizer = _optimizer()
    scheduler = WarmupCosineLR(optimizer, max_steps=20, warmup_steps=5)
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    state = scheduler.state_dict()
    resumed_optimizer = _optimizer()
    resumed = WarmupCosineLR(resumed_optimizer, max_steps=20, warmup_steps=5)
    resumed.load_state_dict(state)
    resumed_optimizer.param_groups[0]["lr"] = optimizer.param_groups[0]["lr"]
    for _ in range(5):
        for opt, sch in ((optimizer, scheduler), (resumed_optimizer, resumed)):
            opt.step()
            sch.step()
        assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


COSINE = {
    "_target_": "optimlab.optim.schedules.cosine_warmup",
    "warmup_steps": None,
    "warmup_epochs": 1,
    "warmup_start_lr": 0.0,
    "final_lr": 0.0,
    "max_steps": None,
    "interval": "step",
    "frequency": 1,
}


def test_lightning_keys_go_to_lightning_and_the_rest_to_the_schedule() -> None:
    config = build_lr_scheduler(
        _optimizer(), COSINE, ScheduleLength(total_steps=100, steps_per_epoch=10)
    )
    assert config is not None
    assert config["interval"] == "step" and config["frequency"] == 1
    scheduler = config["scheduler"]
    assert isinstance(scheduler, WarmupCosineLR)
    assert (scheduler.warmup_steps, scheduler.max_steps) == (10, 100)  # 1 epoch of 10 steps


def test_warmup_steps_wins_over_warmup_epochs_and_max_steps_caps_the_cosine() -> None:
    cfg = {**COSINE, "warmup_steps": 5, "max_steps": 40}
    scheduler = build_lr_scheduler(_optimizer(), cfg, ScheduleLength(100, 10))["scheduler"]
    assert (scheduler.warmup_steps, scheduler.max_steps) == (5, 40)


def test_per_epoch_cosine_counts_epochs() -> None:
    cfg = {**COSINE, "interval": "epoch", "warmup_epochs": 5}
    config = build_lr_scheduler(
        _optimizer(), cfg, ScheduleLength(total_steps=20, steps_per_epoch=1)
    )
    assert config["interval"] == "epoch"
    assert (config["scheduler"].warmup_steps, config["scheduler"].max_steps) == (5, 20)


def test_warmup_longer_than_the_run_is_refused() -> None:
    with pytest.raises(ValueError, match=r"warm-up .* longer than the schedule"):
        build_lr_scheduler(_optimizer(), {**COSINE, "warmup_epochs": 11}, ScheduleLength(100, 10))


def test_no_scheduler_means_constant_lr() -> None:
    assert build_lr_scheduler(_optimizer(), {}) is None
    assert build_lr_scheduler(_optimizer(), None) is None


def test_multistep_matches_the_seed_recipe() -> None:
    optimizer = _optimizer(0.5)
    cfg = {
        "_target_": "torch.optim.lr_scheduler.MultiStepLR",
        "milestones": [15, 30],
        "gamma": 0.5,
        "interval": "epoch",
    }
    scheduler = build_lr_scheduler(optimizer, cfg)["scheduler"]
    lrs = []
    for _ in range(35):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == [0.5] * 15 + [0.25] * 15 + [0.125] * 5


@pytest.mark.parametrize(
    ("monitor", "mode"),
    [("val/loss", "min"), ("val/acc", "max"), ("val/r2", "max"), ("val/rmse", "min")],
)
def test_plateau_mode_follows_the_metric(monitor: str, mode: str) -> None:
    assert metric_mode(monitor) == mode
    cfg = {
        "_target_": "optimlab.optim.schedules.reduce_on_plateau",
        "mode": "auto",
        "factor": 0.5,
        "patience": 0,
        "monitor": monitor,
        "interval": "epoch",
    }
    config = build_lr_scheduler(_optimizer(), cfg)
    assert config["monitor"] == monitor
    assert config["scheduler"].mode == mode


def test_unknown_interval_is_refused() -> None:
    with pytest.raises(ValueError, match=r"scheduler\.interval must be one of"):
        build_lr_scheduler(_optimizer(), {**COSINE, "interval": "batch"}, ScheduleLength(10, 1))
