"""train.py and eval.py as a user runs them: exit codes, what they print, where runs land.

The first test starts both in fresh interpreters; the others fork this one (helpers.cli), which
runs the same script with the same arguments without importing torch and Lightning again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpers import ROOT, cli_overrides
from helpers.cli import run_script


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """In a fresh interpreter, exactly as a user starts it (imports, sys.path and all)."""
    return subprocess.run(
        [sys.executable, str(ROOT / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )


def test_train_prints_results_run_dir_and_tensorboard_command(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    result = run(
        "train.py",
        *cli_overrides(tiny_fashion_dir, tmp_path),
        "optimizer=adam",
        "scheduler=cosine_warmup",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "debug" / "runs").iterdir())
    assert len(runs) == 1
    run_dir = runs[0]
    assert "optimizer-adam+scheduler-cosine_warmup" in run_dir.name  # named by its overrides
    assert "test/acc" in result.stdout
    assert f"tensorboard --logdir {run_dir}" in result.stdout
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (run_dir / ".hydra" / "config.yaml").is_file()

    best = run_dir / "checkpoints" / "best.ckpt"
    evaluated = run("eval.py", f"ckpt_path={best}", *cli_overrides(tiny_fashion_dir, tmp_path)[:-1])
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert "tested" in evaluated.stdout and "test/acc=" in evaluated.stdout


def test_multirun_gives_each_job_a_directory_named_by_its_overrides(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    result = run_script(
        "train.py", "-m", "optimizer=sgd,adam", *cli_overrides(tiny_fashion_dir, tmp_path)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "debug" / "multiruns").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name[0].isdigit())
    assert len(jobs) == 2
    assert jobs[0].startswith("0_") and "optimizer-sgd" in jobs[0]
    assert jobs[1].startswith("1_") and "optimizer-adam" in jobs[1]
    assert f"tensorboard --logdir {sweep}" in result.stdout


def test_missing_data_is_one_clear_line_and_a_failing_exit(tmp_path: Path) -> None:
    result = run_script("train.py", *cli_overrides(tmp_path / "empty", tmp_path / "logs"))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    assert "Fashion-MNIST not found" in errors[0]
    assert "apt-get install dataset-fashion-mnist" in errors[0]
    assert "Traceback" not in result.stderr
