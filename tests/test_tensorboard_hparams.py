"""TensorBoard's HPARAMS tab: every run's hyperparameters and its final numbers (result.json's),
read back the way the dashboard reads them (its own hparams plugin, two runs in one logdir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.runs import train
from helpers.tb import read_hparams
from optimlab.analysis.events import find_run_dirs
from optimlab.callbacks.divergence import DivergedError
from optimlab.runner.result_file import read_result

SHORT = ["trainer.max_epochs=2", "trainer.limit_train_batches=4", "trainer.limit_test_batches=1"]


def test_the_hparams_tab_compares_runs_with_result_jsons_numbers(compose_train, tmp_path) -> None:
    root = tmp_path / "sweep"
    sgd = compose_train(*SHORT, "optimizer=sgd", "optimizer.lr=0.05", output_dir=root / "0_sgd")
    train(sgd)  # (composing sets the Hydra config a run reads its choices from: one at a time)
    adam = compose_train(*SHORT, "optimizer=adam", "target=0.01", output_dir=root / "1_adam")
    train(adam)

    experiment, sessions = read_hparams(root)
    # the columns come from both runs: Adam's betas and SGD's momentum side by side
    for name in ("optimizer", "scheduler", "model", "datamodule", "optimizer.lr", "seed"):
        assert name in experiment["hparams"], name
    assert experiment["hparams"]["optimizer.betas"] == "DATA_TYPE_STRING"  # a list, as text
    assert experiment["hparams"]["optimizer.momentum"] == "DATA_TYPE_FLOAT64"
    # its metrics are the hp/ numbers, not every training curve
    assert experiment["metrics"] == [
        "hp/best/val/acc",
        "hp/test/acc",
        "hp/test/loss",
        "hp/time_to_target_s",
        "hp/time_to_target_steps",
        "hp/train/loss_final",
        "hp/wall_time_s",
    ]

    names = [s["name"] for s in sessions]
    assert names == ["0_sgd/tensorboard/hparams", "1_adam/tensorboard/hparams"]
    for session, cfg in zip(sessions, (sgd, adam), strict=True):
        assert session["status"] == "STATUS_SUCCESS"
        hparams, metrics = session["hparams"], session["metrics"]
        result = read_result(Path(cfg.paths.output_dir))
        assert hparams["optimizer.lr"] == pytest.approx(cfg.optimizer.lr)
        assert hparams["seed"] == cfg.seed and hparams["trainer.max_epochs"] == 2
        assert hparams["model"] == "lenet" and hparams["scheduler"] == "none"
        assert metrics["hp/best/val/acc"] == pytest.approx(result["best_value"])
        assert metrics["hp/test/acc"] == pytest.approx(result["metrics"]["test/acc"])
        assert metrics["hp/test/loss"] == pytest.approx(result["metrics"]["test/loss"])
        assert metrics["hp/train/loss_final"] == pytest.approx(result["final_train_loss"])
        assert metrics["hp/wall_time_s"] == pytest.approx(result["wall_time_s"])
    (sgd_hp, sgd_metrics), (adam_hp, adam_metrics) = [
        (s["hparams"], s["metrics"]) for s in sessions
    ]
    assert sgd_hp["optimizer"] == "sgd" and sgd_hp["optimizer.momentum"] == 0.0
    assert "optimizer.betas" not in sgd_hp and "target" not in sgd_hp
    assert adam_hp["optimizer"] == "adam" and adam_hp["optimizer.betas"] == "[0.9, 0.999]"
    assert adam_hp["target"] == 0.01
    reached = read_result(Path(adam.paths.output_dir))["time_to_target"]
    assert adam_metrics["hp/time_to_target_s"] == pytest.approx(reached["wall_s"])
    assert adam_metrics["hp/time_to_target_steps"] == reached["step"]
    assert "hp/time_to_target_s" not in sgd_metrics  # no target: no time to it

    # the session's folder is part of its run for compare_runs
    assert find_run_dirs(root) == [root / "0_sgd", root / "1_adam"]


def test_a_diverged_run_is_a_failed_session_and_no_logger_writes_none(
    compose_train, tmp_path
) -> None:
    diverged = compose_train(*SHORT, "optimizer.lr=1e12", output_dir=tmp_path / "runs" / "nan")
    with pytest.raises(DivergedError):
        train(diverged)
    _, (session,) = read_hparams(tmp_path / "runs")
    assert session["status"] == "STATUS_FAILURE" and session["hparams"]["optimizer.lr"] == 1e12
    assert "hp/test/acc" not in session["metrics"]  # never tested

    quiet = compose_train(*SHORT, "~logger", "test=false", output_dir=tmp_path / "quiet")
    train(quiet)
    assert read_result(tmp_path / "quiet")["status"] == "finished"
    assert not list((tmp_path / "quiet").rglob("events.out.tfevents.*"))
