"""Schedules equal their closed forms (D2L ch. 11's CosineScheduler) and wire into Lightning."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from omegaconf import OmegaConf

from helpers import CONF_DIR
from helpers.formulas import sgdr_lr, wsd_lr
from optimlab.errors import ConfigError
from optimlab.metrics import metric_mode
from optimlab.optim import (
    CosineLR,
    FactorLR,
    InverseTimeLR,
    LinearWarmup,
    RunLength,
    build_lr_scheduler,
    warmup_cosine_lr,
)


class D2LCosineScheduler:
    """The CosineScheduler of D2L ch. 11 (section 11.11), verbatim in behaviour."""

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
def test_closed_form_matches_d2l_cosine_scheduler(warmup: int) -> None:
    d2l = D2LCosineScheduler(20, base_lr=0.3, final_lr=0.01, warmup_steps=warmup)
    for epoch in range(30):
        ours = warmup_cosine_lr(
            epoch, base_lr=0.3, max_steps=20, warmup_steps=warmup, final_lr=0.01
        )
        assert ours == pytest.approx(d2l(epoch), abs=1e-12), epoch


def test_d2l_printed_values() -> None:
    """Spot values: start of warm-up, its end, the middle of the cosine, after max_update."""
    lr = lambda t: warmup_cosine_lr(t, base_lr=0.3, max_steps=20, warmup_steps=5, final_lr=0.01)  # noqa: E731
    assert lr(0) == 0.0
    assert lr(1) == pytest.approx(0.06)
    assert lr(5) == pytest.approx(0.3)
    assert lr(12.5) == pytest.approx((0.3 + 0.01) / 2)
    assert lr(20) == pytest.approx(0.01)
    assert lr(29) == pytest.approx(0.01)


COSINE = {
    "_target_": "optimlab.optim.CosineLR",
    "warmup_steps": None,
    "warmup_epochs": 1,
    "warmup_start_lr": 0.0,
    "final_lr": 0.0,
    "max_steps": None,
    "interval": "step",
    "frequency": 1,
}


def _cosine_warmup(optimizer: torch.optim.Optimizer, **keys: object) -> LinearWarmup:
    """scheduler=cosine_warmup as the builder makes it: the warm-up in front of the cosine."""
    cfg = {**COSINE, "warmup_steps": 5, "final_lr": 0.01, "max_steps": 20, **keys}
    return build_lr_scheduler(optimizer, cfg, RunLength(100, 10))["scheduler"]


def test_the_built_cosine_warmup_follows_d2l_when_stepped() -> None:
    optimizer = _optimizer(0.3)
    scheduler = _cosine_warmup(optimizer)
    seen = []
    for _ in range(25):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    d2l = D2LCosineScheduler(20, base_lr=0.3, final_lr=0.01, warmup_steps=5)
    assert seen == pytest.approx([d2l(t) for t in range(25)], rel=1e-12, abs=1e-15)


def test_scheduler_state_restores_the_curve() -> None:
    optimizer = _optimizer()
    scheduler = _cosine_warmup(optimizer)
    for _ in range(7):
        optimizer.step()
        scheduler.step()
    state = copy.deepcopy(scheduler.state_dict())
    resumed_optimizer = _optimizer()
    resumed = _cosine_warmup(resumed_optimizer)
    resumed.load_state_dict(state)
    resumed_optimizer.param_groups[0]["lr"] = optimizer.param_groups[0]["lr"]
    for _ in range(5):
        for opt, sch in ((optimizer, scheduler), (resumed_optimizer, resumed)):
            opt.step()
            sch.step()
        assert resumed_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_lightning_keys_go_to_lightning_and_the_rest_to_the_schedule() -> None:
    config = build_lr_scheduler(
        _optimizer(), COSINE, RunLength(optimizer_steps=100, steps_per_epoch=10)
    )
    assert config is not None
    assert config["interval"] == "step" and config["frequency"] == 1
    scheduler = config["scheduler"]
    assert isinstance(scheduler, LinearWarmup) and isinstance(scheduler.schedule, CosineLR)
    # 1 epoch of 10 steps, then the cosine over the 90 steps left
    assert (scheduler.warmup_steps, scheduler.schedule.total_steps) == (10, 90)


def test_warmup_steps_wins_over_warmup_epochs_and_max_steps_caps_the_cosine() -> None:
    cfg = {**COSINE, "warmup_steps": 5, "max_steps": 40}
    scheduler = build_lr_scheduler(_optimizer(), cfg, RunLength(100, 10))["scheduler"]
    # max_steps counts from step 0, warm-up included (D2L's max_update)
    assert (scheduler.warmup_steps, scheduler.schedule.total_steps) == (5, 35)


def test_per_epoch_cosine_counts_epochs() -> None:
    cfg = {**COSINE, "interval": "epoch", "warmup_epochs": 5}
    config = build_lr_scheduler(
        _optimizer(), cfg, RunLength(optimizer_steps=200, steps_per_epoch=10)
    )
    assert config["interval"] == "epoch"
    assert (config["scheduler"].warmup_steps, config["scheduler"].schedule.total_steps) == (5, 15)


def test_warmup_longer_than_the_run_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"warmup_epochs=11 .* longer than the whole run"):
        build_lr_scheduler(_optimizer(), {**COSINE, "warmup_epochs": 11}, RunLength(100, 10))


def test_no_scheduler_means_constant_lr() -> None:
    assert build_lr_scheduler(_optimizer(), {}) is None
    assert build_lr_scheduler(_optimizer(), None) is None


def test_multistep_matches_the_d2l_recipe() -> None:
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
        "_target_": "optimlab.optim.reduce_on_plateau",
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
    with pytest.raises(ConfigError, match=r"scheduler\.interval must be one of"):
        build_lr_scheduler(_optimizer(), {**COSINE, "interval": "batch"}, RunLength(10, 1))


# ---------------------------------------------------------------- every schedule file

LR0 = 0.3
TOTAL = 40  # schedule steps in the run


# closed form of each file's defaults: lr(t, run length T)
CLOSED_FORMS = {
    "constant": lambda t, T: LR0,
    "step": lambda t, T: LR0 * 0.5 ** (t // 4),
    "multistep": lambda t, T: LR0 * 0.5 ** sum(t >= m for m in (5, 8)),
    "exponential": lambda t, T: LR0 * 0.9**t,
    "inverse_time": lambda t, T: LR0 / (1 + 0.1 * t),
    "factor": lambda t, T: max(0.01, LR0 * 0.9**t),
    "polynomial": lambda t, T: LR0 * max(0.0, 1 - t / T),
    "cosine": lambda t, T: warmup_cosine_lr(t, base_lr=LR0, max_steps=T),
    "cosine_restarts": lambda t, T: sgdr_lr(t, LR0),
}
SCHEDULE_FILES = sorted(p.stem for p in (CONF_DIR / "scheduler").glob("*.yaml"))


def scheduler_cfg(name: str, **overrides: object) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "scheduler" / f"{name}.yaml")) or {}
    return {**cfg, **overrides}


def lr_curve(cfg: dict, steps: int = TOTAL, metrics: list[float] | None = None) -> list[float]:
    """The LR over TOTAL schedule steps of 4 per epoch (stepped as if interval=step)."""
    optimizer = _optimizer(LR0)
    if not cfg.get("monitor"):  # (a plateau acts per validation only)
        cfg = {**cfg, "interval": "step"}
    config = build_lr_scheduler(optimizer, cfg, RunLength(optimizer_steps=TOTAL, steps_per_epoch=4))
    lrs = []
    for t in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if config.get("reduce_on_plateau"):
            config["scheduler"].step(metrics[t])
        else:
            config["scheduler"].step()
    return lrs


def test_every_schedule_file_has_a_closed_form_test() -> None:
    tested = set(CLOSED_FORMS) | {"none", "plateau", "one_cycle", "cosine_warmup", "wsd"}
    assert set(SCHEDULE_FILES) == tested


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
def test_schedule_equals_its_closed_form(name: str) -> None:
    expected = [CLOSED_FORMS[name](t, TOTAL) for t in range(TOTAL)]
    assert lr_curve(scheduler_cfg(name)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(CLOSED_FORMS))
@pytest.mark.parametrize("warmup", [{"warmup_steps": 5}, {"warmup_epochs": 1.25}])
def test_warmup_composes_with_every_schedule(name: str, warmup: dict) -> None:
    """5 warm-up steps (or 1.25 epochs of 4 steps) from 0.01, then the schedule from its start."""
    cfg = scheduler_cfg(name, **warmup, warmup_start_lr=0.01)
    ramp = [0.01 + (LR0 - 0.01) * t / 5 for t in range(5)]
    # the schedule starts when the warm-up ends and gets the rest of the run
    rest = [CLOSED_FORMS[name](t, TOTAL - 5) for t in range(TOTAL - 5)]
    assert lr_curve(cfg) == pytest.approx(ramp + rest, rel=1e-9, abs=1e-12)


def test_d2l_factor_scheduler() -> None:
    """D2L ch. 11's FactorScheduler(0.9, stop_factor_lr=1e-2, base_lr=2.0); call t is step t+1."""

    class D2LFactorScheduler:
        def __init__(self, factor=1, stop_factor_lr=1e-7, base_lr=0.1):
            self.factor, self.stop_factor_lr, self.base_lr = factor, stop_factor_lr, base_lr

        def __call__(self, num_update):
            self.base_lr = max(self.stop_factor_lr, self.base_lr * self.factor)
            return self.base_lr

    d2l = D2LFactorScheduler(factor=0.9, stop_factor_lr=1e-2, base_lr=2.0)
    optimizer = _optimizer(2.0)
    scheduler = FactorLR(optimizer, factor=0.9, min_lr=1e-2)
    for t in range(60):
        optimizer.step()
        scheduler.step()
        assert optimizer.param_groups[0]["lr"] == pytest.approx(d2l(t), rel=1e-12)
    assert optimizer.param_groups[0]["lr"] == 1e-2  # floored


def test_inverse_time_decays() -> None:
    """1/t decay lr0 / (1 + k t) (the deeplearning.ai notes), and (1 + 0.1 t)^-0.5 (D2L ch. 11)."""
    for power in (1.0, 0.5):
        optimizer = _optimizer(1.0)
        scheduler = InverseTimeLR(optimizer, decay_rate=0.1, power=power)
        for t in range(1, 60):
            optimizer.step()
            scheduler.step()
            assert optimizer.param_groups[0]["lr"] == pytest.approx((1 + 0.1 * t) ** -power)


def test_one_cycle_rises_to_the_optimizer_lr_then_anneals() -> None:
    lrs = lr_curve(scheduler_cfg("one_cycle"))
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(LR0 / 25)
    assert max(lrs) == pytest.approx(LR0, rel=1e-3)
    assert peak == pytest.approx(0.3 * TOTAL, abs=1)
    assert lrs[:peak] == sorted(lrs[:peak]) and lrs[peak:] == sorted(lrs[peak:], reverse=True)
    assert lrs[-1] < LR0 / 25


def test_one_cycle_cycles_momentum_only_where_there_is_one() -> None:
    sgd = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    cfg = scheduler_cfg("one_cycle")
    build_lr_scheduler(sgd, cfg, RunLength(10, 2))  # plain SGD: no momentum to cycle
    momentum = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    build_lr_scheduler(momentum, cfg, RunLength(10, 2))
    assert momentum.param_groups[0]["momentum"] == pytest.approx(0.95)


def test_plateau_waits_out_the_warmup_then_decays_on_a_stalled_metric() -> None:
    cfg = scheduler_cfg("plateau", warmup_steps=3, factor=0.5, patience=1)
    metrics = [1.0] * 12  # never improves
    lrs = lr_curve(cfg, steps=12, metrics=metrics)
    assert lrs[:4] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert min(lrs[4:]) < LR0  # decayed after the warm-up
    assert lrs == sorted(lrs[:4]) + sorted(lrs[4:], reverse=True)


def test_warmup_state_round_trips_mid_schedule() -> None:
    cfg = scheduler_cfg("step", warmup_steps=4, step_size=3)
    optimizer = _optimizer(LR0)
    config = build_lr_scheduler(optimizer, cfg, RunLength(TOTAL, 4))
    for _ in range(9):
        optimizer.step()
        config["scheduler"].step()
    state = copy.deepcopy((optimizer.state_dict(), config["scheduler"].state_dict()))
    twin_optimizer = _optimizer(LR0)
    twin = build_lr_scheduler(twin_optimizer, cfg, RunLength(TOTAL, 4))["scheduler"]
    twin_optimizer.load_state_dict(state[0])
    twin.load_state_dict(state[1])
    for _ in range(10):
        for opt, sch in ((optimizer, config["scheduler"]), (twin_optimizer, twin)):
            opt.step()
            sch.step()
        assert twin_optimizer.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]


def test_wsd_is_the_issues_example_step_for_step() -> None:
    """100 steps, lr 1, warm-up 10, decay_fraction 0.2, final 0, linear: t/10 for t < 10,
    1 until step 80, then 1 - (t - 80)/20."""
    optimizer = _optimizer(1.0)
    cfg = scheduler_cfg("wsd", warmup_steps=10, warmup_epochs=None)
    schedule = build_lr_scheduler(optimizer, cfg, RunLength(100, 10))["scheduler"]
    lrs = []
    for _ in range(100):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    expected = [t / 10 if t < 10 else 1.0 if t < 80 else 1 - (t - 80) / 20 for t in range(100)]
    assert lrs == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("shape", ["linear", "cosine", "sqrt"])
def test_wsd_decays_in_each_shape_to_its_final_lr(shape: str) -> None:
    cfg = scheduler_cfg("wsd", warmup_steps=5, warmup_epochs=None, decay_shape=shape, final_lr=0.01)
    expected = [
        wsd_lr(t, LR0, run_steps=TOTAL, warmup_steps=5, final_lr=0.01, shape=shape)
        for t in range(TOTAL)
    ]
    assert lr_curve(cfg) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("keys", "refused"),
    [
        ({"decay_fraction": 0}, "decay_fraction must be in"),
        ({"decay_fraction": 1.5}, "decay_fraction must be in"),
        ({"decay_shape": "cubic"}, "decay_shape must be one of"),
        ({"decay_fraction": 0.9, "warmup_steps": 10}, "do not fit in the run"),
    ],
)
def test_wsd_refuses_what_cannot_be_a_wsd_schedule(keys: dict, refused: str) -> None:
    with pytest.raises(ConfigError, match=refused):
        build_lr_scheduler(_optimizer(), scheduler_cfg("wsd", **keys), RunLength(20, 4))
