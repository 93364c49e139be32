"""Whole runs on tiny data: every optimizer x schedule, TensorBoard contents, resume, eval."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import CONF_DIR
from optimlab.optim import warmup_cosine_lr
from optimlab.runner.evaluate import evaluate, load_task
from optimlab.runner.train import train
from tb import read_scalars

OPTIMIZERS = sorted(p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml"))
SCHEDULERS = sorted(p.stem for p in (CONF_DIR / "scheduler").glob("*.yaml"))
STEPS_PER_EPOCH = 10  # 500 training images / batch 50


def test_the_issue_lists_are_all_there() -> None:
    assert set(OPTIMIZERS) >= {
        "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw",
    }  # fmt: skip
    assert set(SCHEDULERS) >= {"none", "step", "multistep", "cosine_warmup", "plateau"}


@pytest.mark.parametrize("scheduler", SCHEDULERS)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_with_every_schedule_trains(
    compose_train, optimizer: str, scheduler: str
) -> None:
    fit = ["scheduler.milestones=[1,2]"] if scheduler == "multistep" else []  # a 2-epoch run
    cfg = compose_train(
        f"optimizer={optimizer}",
        f"scheduler={scheduler}",
        *fit,
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "~logger",
        "test=false",
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss_epoch"])
    assert 0.0 <= metrics["val/acc"] <= 1.0


@pytest.mark.parametrize("scheduler", [s for s in SCHEDULERS if s != "none"])
def test_every_schedule_trains_behind_a_warmup(compose_train, scheduler: str) -> None:
    """One warm-up epoch (3 steps, or 1 step for per-epoch schedules), then the schedule."""
    fit = ["scheduler.milestones=[1,2]"] if scheduler == "multistep" else []  # a 2-epoch run
    cfg = compose_train(
        "optimizer=momentum",
        f"scheduler={scheduler}",
        *fit,
        "scheduler.warmup_epochs=1",
        "scheduler.warmup_start_lr=0.0",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "test=false",
    )
    train(cfg)
    lrs = [lr for _, lr in sorted(read_scalars(Path(cfg.paths.output_dir))["train/lr"])]
    assert len(lrs) == 6
    assert lrs[0] == 0.0  # every warm-up starts at warmup_start_lr
    assert max(lrs) > 0.0


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_checkpoint_loads_safely(compose_train, optimizer: str) -> None:
    """Testing reloads best.ckpt with torch.load(weights_only=True): only plain types inside."""
    cfg = compose_train(
        f"optimizer={optimizer}",
        "scheduler=multistep",
        "scheduler.milestones=[1]",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "~logger",
    )
    assert "test/acc" in train(cfg)


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
        "+callbacks.crash._target_=interrupts.StopAfterEpochs",
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
    with pytest.raises(FileNotFoundError, match="does not exist"):
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
