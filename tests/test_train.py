"""Whole runs on tiny data: each optimizer and each schedule once, the pairs that interact,
TensorBoard contents, resume, eval."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from helpers import CONF_DIR
from helpers.formulas import sgdr_lr, wsd_lr
from helpers.runs import train
from helpers.tb import read_scalars
from optimlab.errors import ConfigError
from optimlab.optim import warmup_cosine_lr
from optimlab.runner.evaluate import evaluate, load_task
from optimlab.runner.preflight import preflight

OPTIMIZERS = sorted(p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml"))
SCHEDULERS = sorted(p.stem for p in (CONF_DIR / "scheduler").glob("*.yaml"))
STEPS_PER_EPOCH = 10  # 500 training images / batch 50


# ------------------------------------------------------------------ each optimizer once


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains_and_its_checkpoint_loads_safely(
    compose_train, optimizer: str
) -> None:
    """A whole run with a schedule attached; testing then reloads best.ckpt with
    torch.load(weights_only=True), so the optimizer's and the schedule's state hold only
    plain types."""
    # schedule-free optimizers refuse a decay: their schedule is a warm-up
    schedule = (
        ["scheduler=constant", "scheduler.warmup_steps=1"]
        if optimizer.startswith("schedule_free")
        else ["scheduler=multistep", "scheduler.milestones=[1]"]
    )
    cfg = compose_train(
        f"optimizer={optimizer}",
        *schedule,
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "~logger",
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss_epoch"])
    assert 0.0 <= metrics["val/acc"] <= 1.0
    assert 0.0 <= metrics["test/acc"] <= 1.0


# ------------------------------------------------------------------ each schedule once

README = CONF_DIR.parent / "README.md"
LR0 = 0.1  # optimizer=sgd
BATCHES, EPOCHS = 3, 4  # 12 optimizer steps
WARMUP_START = 0.02


def readme_schedule_units() -> dict[str, str]:
    """{name: the unit its lr(t) counts ("step", "epoch" or "" for none)}, from README.md."""
    section = README.read_text().split("### Schedules", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if match := re.match(r"\| `(\w+)`", line):
            rows[match.group(1)] = line.split("|")[4].strip()
    return rows


def one_cycle_lr(t: int, total: int, max_lr: float, *, momentum: bool = False) -> float:
    """torch's OneCycleLR (cos): up over 30% of the run from max_lr/25, down to max_lr/25/1e4;
    momentum (beta1) the other way, 0.95 -> 0.85 -> 0.95."""
    low, high, end = (0.95, 0.85, 0.95) if momentum else (max_lr / 25, max_lr, max_lr / 25e4)
    peak = 0.3 * total - 1
    start, stop, pct = (
        (low, high, t / peak) if t <= peak else (high, end, (t - peak) / (total - 1 - peak))
    )
    return stop + (start - stop) * (1 + math.cos(math.pi * pct)) / 2


# lr(t, T) of each file as README.md's table writes it (its defaults, or FIT's), t and T
# counted in the file's unit after the warm-up
README_FORMULAS = {
    "none": lambda t, T: LR0,
    "constant": lambda t, T: LR0,
    "step": lambda t, T: LR0 * 0.5 ** (t // 2),
    "multistep": lambda t, T: LR0 * 0.5 ** sum(t >= m for m in (1, 2)),
    "exponential": lambda t, T: LR0 * 0.9**t,
    "inverse_time": lambda t, T: LR0 / (1 + 0.1 * t),
    "factor": lambda t, T: max(0.01, LR0 * 0.9**t),
    "polynomial": lambda t, T: LR0 * (1 - t / T),
    "cosine": lambda t, T: LR0 * (1 + math.cos(math.pi * t / T)) / 2,
    "cosine_warmup": lambda t, T: LR0 * (1 + math.cos(math.pi * t / T)) / 2,
    "one_cycle": lambda t, T: one_cycle_lr(t, T, LR0),
    "cosine_restarts": lambda t, T: sgdr_lr(t, LR0),
    # counted from the warm-up's end (one epoch, BATCHES steps); the decay takes the last
    # 20% of the whole run
    "wsd": lambda t, T: wsd_lr(t + BATCHES, LR0, run_steps=T + BATCHES, warmup_steps=BATCHES),
    "plateau": lambda t, T: LR0 * 0.5 ** max(0, t - 1),  # the metric never improves enough
}
FIT = {  # what fits a 4-epoch run, or makes the schedule move in it
    "step": ["scheduler.step_size=2"],
    "multistep": ["scheduler.milestones=[1,2]"],
    "plateau": ["scheduler.patience=0", "scheduler.factor=0.5", "scheduler.threshold=0.99"],
}


def logged_lrs(cfg) -> list[float]:
    """train/lr of every optimizer step, from the run's TensorBoard files."""
    logged = sorted(read_scalars(Path(cfg.paths.output_dir) / "tensorboard")["train/lr"])
    assert [step for step, _ in logged] == list(range(len(logged)))
    return [lr for _, lr in logged]


def expected_lrs(name: str, unit: str, warmup: int) -> list[float]:
    """Per optimizer step: a linear warm-up of `warmup` units from WARMUP_START to the
    schedule's first lr, then the schedule from its t=0 over the units left."""
    per_unit = BATCHES if unit == "epoch" else 1
    total = BATCHES * EPOCHS // per_unit
    formula = README_FORMULAS[name]
    lrs = []
    for t in (step // per_unit for step in range(BATCHES * EPOCHS)):
        if t < warmup:
            lrs.append(WARMUP_START + (formula(0, total - warmup) - WARMUP_START) * t / warmup)
        else:
            lrs.append(formula(t - warmup, total - warmup))
    return lrs


def test_the_readme_table_has_a_row_and_a_formula_for_every_schedule_file() -> None:
    assert sorted(readme_schedule_units()) == SCHEDULERS == sorted(README_FORMULAS)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_schedule_follows_its_readme_formula_behind_a_warmup(
    compose_train, scheduler: str
) -> None:
    """Each file in a whole run, behind one warm-up epoch: the lr logged at every optimizer
    step is README.md's formula, stepped in the unit its table says (a per-epoch schedule
    holds the lr through an epoch, its warm-up lasts one schedule step), with T the run.
    `none` has no scheduler object to put a warm-up in front of."""
    unit = readme_schedule_units()[scheduler]
    warmup = [] if scheduler == "none" else ["scheduler.warmup_epochs=1"]
    cfg = compose_train(
        "optimizer=sgd",
        f"optimizer.lr={LR0}",
        f"scheduler={scheduler}",
        *FIT.get(scheduler, []),
        *warmup,
        *([f"scheduler.warmup_start_lr={WARMUP_START}"] if warmup else []),
        f"trainer.max_epochs={EPOCHS}",
        f"trainer.limit_train_batches={BATCHES}",
        "trainer.limit_val_batches=1",
        "test=false",
    )
    assert cfg.scheduler.get("interval", "") == unit  # the file counts what the README says
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss_epoch"])
    units = (1 if unit == "epoch" else BATCHES) if warmup else 0  # one epoch, in its unit
    expected = expected_lrs(scheduler, unit, warmup=units)
    assert logged_lrs(cfg) == pytest.approx(expected, rel=1e-6, abs=1e-12)


# ------------------------------------------------------------------ the pairs that interact


def test_plateau_counted_in_optimizer_steps_is_refused_in_one_line(compose_train) -> None:
    """Lightning would step a per-step plateau with the last validation value at every
    optimizer step, so its patience would count steps: refused, saying to keep epochs."""
    cfg = compose_train("scheduler=plateau", "scheduler.interval=step", "scheduler.warmup_steps=2")
    with pytest.raises(
        ConfigError, match=r"scheduler\.interval=step .* keep scheduler\.interval=epoch"
    ):
        preflight(cfg)


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop_eps_in_root", "adam"])
def test_one_cycle_with_and_without_a_momentum_to_cycle(compose_train, optimizer: str) -> None:
    """Adagrad and RMSprop with eps in the root have no momentum: one-cycle runs its lr curve
    on them without cycling one. Adam's beta1 is cycled, and logged as train/momentum."""
    cfg = compose_train(
        f"optimizer={optimizer}",
        "scheduler=one_cycle",
        f"trainer.max_epochs={EPOCHS}",
        f"trainer.limit_train_batches={BATCHES}",
        "trainer.limit_val_batches=1",
        "test=false",
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss_epoch"])
    total = BATCHES * EPOCHS
    lr = cfg.optimizer.lr
    assert logged_lrs(cfg) == pytest.approx([one_cycle_lr(t, total, lr) for t in range(total)])
    if optimizer == "adam":
        momentum = read_scalars(Path(cfg.paths.output_dir) / "tensorboard")["train/momentum"]
        cycle = [one_cycle_lr(t, total, lr, momentum=True) for t in range(total)]
        assert [m for _, m in sorted(momentum)] == pytest.approx(cycle)


def test_default_run_learns_and_logs_what_tensorboard_shows(compose_train) -> None:
    cfg = compose_train("trainer.max_epochs=3")
    metrics = train(cfg)
    assert metrics["test/acc"] > 0.5  # the tiny data's classes are easy; chance is 0.1
    run_dir = Path(cfg.paths.output_dir)
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    scalars = read_scalars(run_dir / "tensorboard")
    for tag in (
        "train/loss_step", "train/loss_epoch", "train/acc_step", "train/acc_epoch",
        "val/loss", "val/acc", "val/acc_best", "test/loss", "test/acc",
        "train/lr", "train/momentum",
    ):  # fmt: skip
        assert tag in scalars, f"{tag} missing; have {sorted(scalars)}"
    steps = [step for step, _ in scalars["train/lr"]]
    assert steps == list(range(3 * STEPS_PER_EPOCH))  # every optimizer step
    assert len(scalars["train/loss_step"]) == 3 * STEPS_PER_EPOCH
    assert len(scalars["val/acc"]) == 3


def test_cosine_warmup_lr_in_tensorboard_follows_the_formula(compose_train) -> None:
    cfg = compose_train(
        "optimizer=sgd",
        "optimizer.lr=0.2",
        "scheduler=cosine_warmup",
        "scheduler.warmup_steps=8",
        "scheduler.final_lr=0.01",
        "trainer.max_epochs=3",
        "test=false",
    )
    train(cfg)
    logged = sorted(read_scalars(Path(cfg.paths.output_dir) / "tensorboard")["train/lr"])
    total = 3 * STEPS_PER_EPOCH
    expected = [
        warmup_cosine_lr(step, base_lr=0.2, max_steps=total, warmup_steps=8, final_lr=0.01)
        for step in range(total)
    ]
    assert [step for step, _ in logged] == list(range(total))
    assert [lr for _, lr in logged] == pytest.approx(expected, rel=1e-6)
    lrs = [lr for _, lr in logged]
    assert lrs[:9] == sorted(lrs[:9])  # rises during warm-up ...
    assert lrs[8:] == sorted(lrs[8:], reverse=True)  # ... and falls after it
    assert max(lrs) == pytest.approx(0.2)


def test_adam_logs_beta1_as_momentum(compose_train) -> None:
    cfg = compose_train("optimizer=adam", "trainer.max_epochs=1", "test=false")
    train(cfg)
    scalars = read_scalars(Path(cfg.paths.output_dir) / "tensorboard")
    assert [v for _, v in scalars["train/momentum"]] == pytest.approx([0.9] * STEPS_PER_EPOCH)


@pytest.mark.parametrize(
    ("scheduler", "extra"),
    [
        ("cosine_warmup", ["scheduler.warmup_steps=5"]),  # stepped every optimizer step
        ("step", ["scheduler.step_size=1", "scheduler.gamma=0.5"]),  # stepped every epoch
    ],
)
def test_resume_continues_epochs_and_the_lr_schedule(
    compose_train, tmp_path: Path, scheduler: str, extra: list[str]
) -> None:
    common = ["optimizer=momentum", f"scheduler={scheduler}", *extra, "test=false"]
    straight = compose_train(*common, "trainer.max_epochs=4", output_dir=tmp_path / "straight")
    train(straight)
    first = compose_train(
        *common,
        "trainer.max_epochs=4",
        "+callbacks.crash._target_=helpers.interrupts.StopAfterEpochs",
        "+callbacks.crash.epochs=2",
        output_dir=tmp_path / "first",
    )
    train(first)
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 1
    resumed = compose_train(
        *common, "trainer.max_epochs=4", f"ckpt_path={last}", output_dir=tmp_path / "resumed"
    )
    train(resumed)

    straight_lr = dict(read_scalars(tmp_path / "straight" / "tensorboard")["train/lr"])
    first_lr = dict(read_scalars(tmp_path / "first" / "tensorboard")["train/lr"])
    resumed_lr = dict(read_scalars(tmp_path / "resumed" / "tensorboard")["train/lr"])
    assert sorted(resumed_lr) == list(range(2 * STEPS_PER_EPOCH, 4 * STEPS_PER_EPOCH))
    assert {**first_lr, **resumed_lr} == pytest.approx(straight_lr)
    resumed_ckpt = torch.load(
        tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False
    )
    assert resumed_ckpt["epoch"] == 3
    assert resumed_ckpt["global_step"] == 4 * STEPS_PER_EPOCH


def test_eval_tests_a_checkpoint_with_only_its_path(compose_train) -> None:
    cfg = compose_train("trainer.max_epochs=1")
    metrics = train(cfg)
    best = Path(cfg.paths.output_dir) / "checkpoints" / "best.ckpt"
    assert load_task(best).hparams["optimizer"]["_target_"] == "torch.optim.SGD"
    eval_cfg = compose_train(f"ckpt_path={best}", config_name="eval")
    results = evaluate(eval_cfg)
    assert results["test/acc"] == pytest.approx(metrics["test/acc"])


def test_eval_refuses_a_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_task(tmp_path / "nope.ckpt")


def test_same_seed_same_run_and_another_seed_differs(compose_train, tmp_path: Path) -> None:
    def final_weights(seed: int, name: str) -> dict[str, torch.Tensor]:
        cfg = compose_train(f"seed={seed}", "test=false", output_dir=tmp_path / name)
        train(cfg)
        return torch.load(tmp_path / name / "checkpoints" / "last.ckpt", weights_only=False)[
            "state_dict"
        ]

    first, again, other = final_weights(1, "a"), final_weights(1, "b"), final_weights(2, "c")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_test_ckpt_last_tests_the_final_weights(compose_train) -> None:
    # "best" made to mean the highest val/loss (the first epoch), so best and last differ
    worst_is_best = ["optimized_metric=val/loss", "callbacks.model_checkpoint.mode=max"]
    cfg = compose_train("test_ckpt=last", "trainer.max_epochs=3", *worst_is_best)
    metrics = train(cfg)
    checkpoints = Path(cfg.paths.output_dir) / "checkpoints"
    on_last = evaluate(compose_train(f"ckpt_path={checkpoints / 'last.ckpt'}", config_name="eval"))
    on_best = evaluate(compose_train(f"ckpt_path={checkpoints / 'best.ckpt'}", config_name="eval"))
    assert on_best["test/loss"] != pytest.approx(on_last["test/loss"])
    assert metrics["test/loss"] == pytest.approx(on_last["test/loss"])
