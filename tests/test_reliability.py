"""Bad input refused up front, divergence handled, exact resume, atomic and separate outputs."""

from __future__ import annotations

import csv
import re
import subprocess
from pathlib import Path

import pytest
import torch

from helpers import ROOT, fast_overrides
from helpers.cli import run_script, start_script
from helpers.runs import train
from helpers.tb import read_scalars
from optimlab.callbacks.divergence import DivergedError
from optimlab.errors import ConfigError, OptimlabError
from optimlab.runner.checkpoint_io import AtomicCheckpointIO
from optimlab.runner.cli import EXIT_BAD_INPUT, run_or_exit
from optimlab.runner.preflight import preflight
from optimlab.runner.result_file import read_result

CONFIG_GROUPS = {path.name for path in (ROOT / "conf").iterdir() if path.is_dir()}
# (overrides, words the one-line message must contain)
BAD_INPUTS = [
    (["optimizer.lr=0"], ["optimizer.lr must be > 0"]),
    (["optimizer=adam", "optimizer.lr=-0.001"], ["optimizer.lr must be > 0"]),
    (["optimizer=momentum", "optimizer.momentum=1.0"], ["momentum", "[0, 1)"]),
    (["optimizer=adam", "optimizer.betas=[0.9,1.2]"], ["betas", "[0, 1)"]),
    (["optimizer.weight_decay=-0.1"], ["weight_decay must be >= 0"]),
    (["optimizer=sgd", "optimizer.nesterov=true"], ["nesterov", "momentum > 0"]),
    (
        ["optimizer=schedule_free_adamw", "scheduler=cosine"],
        ["schedule-free", "scheduler=constant"],
    ),
    (
        ["optimizer=schedule_free_sgd", "callbacks.schedule_free.bn_batches=-1"],
        ["bn_batches", ">= 0"],
    ),
    (["scheduler=cosine_warmup", "scheduler.warmup_epochs=3"], ["longer than the whole run"]),
    (["scheduler=step", "scheduler.warmup_steps=5"], ["longer than the whole run"]),
    (["scheduler=multistep", "scheduler.milestones=[2,1]"], ["milestones must be increasing"]),
    (["scheduler=multistep", "scheduler.milestones=[1,9]"], ["beyond the run"]),
    (["scheduler=plateau", "scheduler.monitor=val/accuracy"], ["val/accuracy", "not logged"]),
    (["scheduler=step", "scheduler.gamma=0"], ["gamma must be > 0"]),
    (["scheduler=step", "scheduler.interval=batch"], ["interval must be one of"]),
    (["datamodule=airfoil", "model=lenet"], ["classification model", "model=linear"]),
    (["model=mlp"], ["regression model", "model=lenet"]),
    (["datamodule.batch_size=0"], ["batch_size must be a positive integer"]),
    (["datamodule.batch_size=70000"], ["larger than the training split"]),
    (
        ["datamodule=airfoil", "model=linear", "datamodule.batch_size=2000"],
        ["larger than the training split"],
    ),
    (["datamodule.val_size=-5"], ["val_size"]),
    (["trainer.max_epochs=0"], ["max_epochs must be > 0"]),
    (["trainer.log_every_n_steps=0"], ["log_every_n_steps must be a positive integer"]),
    (["trainer.gradient_clip_val=-1"], ["gradient_clip_val must be >= 0"]),
    (["ckpt_path=/no/such/run/last.ckpt"], ["ckpt_path", "does not exist"]),
    (["resume=/no/such/run"], ["not a run directory"]),
    (["optimized_metric=val/accuracy"], ["optimized_metric", "not logged"]),
    (["model.init=glorot"], ["model.init", "unknown"]),
    (["model=cnn", "model.dropout=1.5"], ["dropout must be in [0, 1)"]),
    (["seed=-3"], ["seed must be"]),
    (
        ["scheduler=cosine_warmup", "scheduler.warmup_steps=100000"],
        ["warmup_steps=100000", "longer than the whole run", "optimizer steps"],
    ),
    (  # max_steps does not lengthen a run that max_epochs ends first
        ["scheduler=cosine_warmup", "scheduler.warmup_steps=5000", "trainer.max_steps=100000"],
        ["warmup_steps=5000", "longer than the whole run", "20 optimizer steps"],
    ),
    (
        ["scheduler=multistep", "scheduler.interval=step", "scheduler.milestones=[10,100000]"],
        ["beyond the run", "optimizer steps"],
    ),
    (["datamodule.data_dir=/no/such/folder"], ["not found", "three ways"]),
    (
        ["datamodule=airfoil", "model=mlp", "datamodule.log_features=[freq]"],
        ["log_features", "unknown feature", "frequency"],
    ),
    (
        ["datamodule=image_folder", "datamodule.data_dir=/no/such/folder"],
        ["does not exist", "datamodule.data_dir"],
    ),
    (
        [
            "datamodule=airfoil",
            "model=linear",
            "datamodule.data_dir=/no/such",
            "datamodule.download=false",
        ],
        ["airfoil_self_noise.dat not found", "three ways"],
    ),
]


@pytest.mark.parametrize(("overrides", "words"), BAD_INPUTS, ids=lambda v: " ".join(v))
def test_bad_input_is_one_line_and_exit_2_before_anything_runs(
    compose_train, capsys, tmp_path: Path, overrides: list[str], words: list[str]
) -> None:
    cfg = compose_train(*overrides)
    with pytest.raises(SystemExit) as exit_info:
        run_or_exit(preflight, cfg)
    assert exit_info.value.code == EXIT_BAD_INPUT
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], lines[0]
    # it names the key the user gave (a value's key, or the group picked if only groups were):
    # in full or by its last part ("scheduler.warmup_steps/warmup_epochs")
    keys = [override.split("=", 1)[0] for override in overrides]
    named = [key for key in keys if key not in CONFIG_GROUPS] or keys
    assert any(re.search(rf"\b{re.escape(key.rsplit('.', 1)[-1])}\b", lines[0]) for key in named), (
        f"names none of {named}: {lines[0]}"
    )
    assert not Path(cfg.paths.output_dir).exists()  # nothing written


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return run_script("train.py", *args, env=env)


def cli_args(data_dir: Path, log_dir: Path) -> list[str]:
    return [*fast_overrides(data_dir), f"paths.log_dir={log_dir}", "hydra.job.chdir=false"]


def test_cli_refuses_before_writing_any_directory(tiny_fashion_dir: Path, tmp_path: Path) -> None:
    result = run_cli(*cli_args(tiny_fashion_dir, tmp_path / "logs"), "optimizer.lr=-1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: optimizer.lr must be > 0")
    assert not (tmp_path / "logs").exists()
    unknown = run_cli("optimizer=adamm", f"paths.log_dir={tmp_path / 'logs'}")
    assert unknown.returncode == 2
    assert "optimizer=adamm is not an option; valid: adadelta" in unknown.stderr
    sweep = run_cli("-m", *cli_args(tiny_fashion_dir, tmp_path / "logs"), "optimizer.lr=0.1,0")
    assert sweep.returncode == 2 and "in a sweep job: optimizer.lr=0" in sweep.stderr
    assert not (tmp_path / "logs").exists()


def refusal(compose_train, *overrides: str) -> str:
    """The preflight's one-line message for this config (a bad setting or bad data)."""
    with pytest.raises(OptimlabError) as error:
        preflight(compose_train(*overrides))
    return str(error.value)


def test_wrong_files_in_data_dir_are_refused_by_the_preflight(
    compose_train, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (wrong / name).write_bytes(b"these are not images")
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (wrong / name).write_bytes(b"nor labels")
    message = refusal(compose_train, f"datamodule.data_dir={wrong}")
    assert "train-images-idx3-ubyte" in message and "not a uint8 IDX file" in message
    (wrong / "t10k-labels-idx1-ubyte").unlink()
    message = refusal(compose_train, f"datamodule.data_dir={wrong}")
    assert "only some of the Fashion-MNIST files" in message and "t10k-labels" in message


def test_a_truncated_idx_file_is_refused_by_its_header(
    compose_train, tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in tiny_fashion_dir.iterdir():
        data = path.read_bytes()
        cut = path.name.startswith("train-images")
        (copy / path.name).write_bytes(data[: len(data) // 2] if cut else data)
    preflight(compose_train(f"datamodule.data_dir={tiny_fashion_dir}"))  # the intact copy passes
    message = refusal(compose_train, f"datamodule.data_dir={copy}")
    assert "train-images-idx3-ubyte" in message
    assert "truncated or corrupt" in message or "cannot be read" in message


def test_wrong_image_folders_and_cifar_copies_are_refused(compose_train, tmp_path: Path) -> None:
    (tmp_path / "photos" / "holiday").mkdir(parents=True)
    message = refusal(
        compose_train, "datamodule=image_folder", f"datamodule.data_dir={tmp_path / 'photos'}"
    )
    assert "expected the layout train/<class>" in message
    batches = tmp_path / "cifar" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    (batches / "data_batch_1").write_bytes(b"")
    message = refusal(
        compose_train,
        "datamodule=cifar10",
        "model=cnn",
        f"datamodule.data_dir={tmp_path / 'cifar'}",
    )
    assert "only some of the CIFAR-10 batch files" in message and "test_batch" in message


# ------------------------------------------------------------------ divergence


def test_nan_stops_a_single_run_naming_step_and_lr(compose_train) -> None:
    cfg = compose_train("optimizer.lr=1e12", "trainer.max_epochs=3")
    with pytest.raises(DivergedError) as error:
        train(cfg)
    message = str(error.value)
    assert "at step" in message and "lr 1e+12" in message and "gradient_clip_val" in message
    assert read_result(Path(cfg.paths.output_dir))["status"] == "diverged"


def test_nan_in_a_sweep_is_recorded_and_the_sweep_goes_on(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    single = run_cli(*cli_args(tiny_fashion_dir, tmp_path / "one"), "optimizer.lr=1e12")
    assert single.returncode == 3
    assert single.stderr.strip().splitlines()[-1].startswith("diverged: the loss became nan")

    sweep = run_cli("-m", *cli_args(tiny_fashion_dir, tmp_path / "logs"), "optimizer.lr=1e12,0.1")
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    with (sweep_dir / "summary.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))  # columns: tests/test_sweeps.py
    assert [(r["run"][:2], r["status"]) for r in rows] == [("0_", "diverged"), ("1_", "finished")]
    assert rows[0]["best_val"] == "" and 0.0 <= float(rows[1]["best_val"]) <= 1.0  # val/acc
    assert "diverged" in sweep.stdout and "finished" in sweep.stdout


# ------------------------------------------------------------------ resume


@pytest.mark.parametrize(
    "setup",
    [
        ["scheduler=cosine_warmup", "scheduler.warmup_steps=5"],  # per step, with warm-up
        ["scheduler=step", "scheduler.step_size=1", "scheduler.warmup_epochs=1"],  # per epoch
        ["scheduler=plateau", "scheduler.patience=0", "scheduler.factor=0.5"],  # on val/loss
        # two weight sequences, swapped at every validation and checkpoint
        ["optimizer=schedule_free_adamw", "scheduler=constant", "scheduler.warmup_steps=5"],
    ],
    ids=["per-step", "per-epoch", "plateau", "schedule-free"],
)
def test_killed_mid_epoch_resumes_to_the_same_weights(
    compose_train, tiny_fashion_dir: Path, tmp_path: Path, setup: list[str]
) -> None:
    optimizer = [] if any(o.startswith("optimizer=") for o in setup) else ["optimizer=momentum"]
    common = [*optimizer, *setup, "trainer.max_epochs=3", "test=false"]
    straight = compose_train(*common, output_dir=tmp_path / "straight")
    train(straight)

    killed = run_cli(
        *cli_args(tiny_fashion_dir, tmp_path / "logs"),
        *common,
        "+callbacks.crash._target_=helpers.interrupts.KillAtStep",
        "+callbacks.crash.step=15",  # the middle of epoch 2 (10 steps per epoch)
        env={"OPTIMLAB_TEST_KILL": "1"},
    )
    assert killed.returncode == -9  # SIGKILL
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert (
        torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 10
    )

    resumed = compose_train(
        f"resume={run_dir}", "trainer.max_epochs=3", output_dir=tmp_path / "resumed"
    )
    train(resumed)

    final = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=False)
    expected = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=False)
    assert final["global_step"] == expected["global_step"] == 30
    for key, value in expected["state_dict"].items():
        assert torch.equal(final["state_dict"][key], value), key  # bit for bit on CPU
    straight_lr = dict(read_scalars(tmp_path / "straight")["train/lr"])
    resumed_lr = dict(read_scalars(tmp_path / "resumed")["train/lr"])
    assert sorted(resumed_lr) == list(range(10, 30))
    assert resumed_lr == pytest.approx({s: straight_lr[s] for s in resumed_lr}, rel=1e-12)


def test_a_checkpoint_from_another_setup_is_refused(compose_train, tmp_path: Path) -> None:
    first = compose_train("trainer.max_epochs=1", "test=false", output_dir=tmp_path / "a")
    train(first)
    last = tmp_path / "a" / "checkpoints" / "last.ckpt"
    other = compose_train("optimizer=adam", f"ckpt_path={last}", output_dir=tmp_path / "b")
    differs = r"optimizer\._target_: torch\.optim\.SGD -> torch\.optim\.Adam"
    with pytest.raises(ConfigError, match=differs):
        train(other)


def test_finished_sweep_jobs_are_not_rerun(tiny_fashion_dir: Path, tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ["-m", *cli_args(tiny_fashion_dir, tmp_path), "optimizer=sgd,adam"]
    first = run_cli(*args, f"hydra.sweep.dir={sweep_dir}")
    assert first.returncode == 0, first.stderr[-2000:]
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name[0].isdigit())
    (jobs[1] / "result.json").unlink()  # as if the sweep was killed during job 1
    checkpoint = jobs[0] / "checkpoints" / "last.ckpt"
    stamp = checkpoint.stat().st_mtime_ns
    again = run_cli(*args, f"hydra.sweep.dir={sweep_dir}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{jobs[0]} already finished: skipped" in again.stdout
    assert checkpoint.stat().st_mtime_ns == stamp  # job 0 untouched
    assert read_result(jobs[1])["status"] == "finished"


# ------------------------------------------------------------------ outputs


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"step": 1}, target)

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"step": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=False) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_runs_started_together_get_their_own_directories(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    args = [
        *cli_args(tiny_fashion_dir, tmp_path),
        "trainer.max_epochs=1",
        "hydra.run.dir=" + str(tmp_path / "same"),  # both ask for the very same directory
    ]
    runs = [start_script("train.py", *args) for _ in range(2)]  # both run at once
    results = [run.wait() for run in runs]
    assert all(r.returncode == 0 for r in results), [r.stderr[-2000:] for r in results]
    outputs = [r.stdout for r in results]
    dirs = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("same"))
    assert dirs == ["same", "same-2"]
    writers = []
    for name in dirs:
        assert (tmp_path / name / "checkpoints" / "last.ckpt").is_file()
        # event files are named events.out.tfevents.<time>.<host>.<pid>.<n>
        pids = {p.name.split(".")[-2] for p in (tmp_path / name / "tensorboard").glob("events.*")}
        assert len(pids) == 1  # one process wrote this directory
        writers.append(pids.pop())
    assert writers[0] != writers[1]
    assert any(str(tmp_path / "same-2") in out for out in outputs)
