"""scripts/plot_schedules.py: the same factories as training, drawn and written as CSV."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT
from helpers.cli import run_script
from optimlab.optim import warmup_cosine_lr
from optimlab.optim.simulate import simulate_lr

SGD = {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.3}


def test_per_epoch_schedules_step_at_epoch_ends() -> None:
    step = {"_target_": "torch.optim.lr_scheduler.StepLR", "step_size": 1, "gamma": 0.5}
    lrs = simulate_lr(SGD, {**step, "interval": "epoch"}, total_steps=12, steps_per_epoch=4)
    assert lrs == pytest.approx([0.3] * 4 + [0.15] * 4 + [0.075] * 4)


def test_plateau_sees_a_metric_that_never_improves() -> None:
    plateau = {
        "_target_": "optimlab.optim.schedules.reduce_on_plateau",
        "factor": 0.5,
        "patience": 0,
        "monitor": "val/loss",
        "interval": "epoch",
    }
    lrs = simulate_lr(SGD, plateau, total_steps=6, steps_per_epoch=2)
    assert lrs == pytest.approx([0.3, 0.3, 0.3, 0.3, 0.15, 0.15])


def test_no_schedule_is_constant() -> None:
    assert simulate_lr(SGD, None, total_steps=3, steps_per_epoch=1) == [0.3] * 3


def read_csv(path: Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))


def test_script_writes_png_and_csv_of_the_configured_schedule(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "plot_schedules.py"),
            "scheduler=cosine_warmup",
            "scheduler.warmup_steps=5",
            "scheduler.final_lr=0.01",
            "optimizer.lr=0.3",
            "total_steps=30",
            "steps_per_epoch=10",
            f"hydra.run.dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "lr.png").stat().st_size > 10_000
    rows = read_csv(tmp_path / "lr.csv")
    assert rows[0] == ["step", "lr"]
    values = [float(lr) for _, lr in rows[1:]]
    expected = [
        warmup_cosine_lr(t, base_lr=0.3, max_steps=30, warmup_steps=5, final_lr=0.01)
        for t in range(30)
    ]
    assert values == pytest.approx(expected, rel=1e-8)
    assert f"picture: {tmp_path / 'lr.png'}" in result.stdout


def test_script_draws_every_schedule_in_one_figure(tmp_path: Path) -> None:
    result = run_script(  # (the test above runs the script in a fresh interpreter)
        "scripts/plot_schedules.py",
        "all=true",
        "total_steps=40",
        "steps_per_epoch=4",
        f"hydra.run.dir={tmp_path}",
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    header = read_csv(tmp_path / "lr.csv")[0]
    schedules = {p.stem for p in (ROOT / "conf" / "scheduler").glob("*.yaml")} - {"none"}
    assert header[0] == "step" and set(header[1:]) == schedules
