"""Sweeps: the summary table, jobs side by side (joblib). Optuna searches: test_search.py."""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import subprocess
from pathlib import Path
from typing import Any

from helpers import sweep_job_overrides
from helpers.cli import run_script
from optimlab.analysis import RunRow, to_markdown
from optimlab.runner.hydra_callbacks import CLAIM_FILE, claim_directory, summarize_sweep
from optimlab.runner.result_file import write_result


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_script("train.py", *args, env=env, timeout=600)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def job_dirs(sweep_dir: Path) -> list[Path]:
    jobs = [p for p in sweep_dir.iterdir() if p.is_dir() and p.name[0].isdigit()]
    return sorted(jobs, key=lambda p: int(p.name.split("_", 1)[0]))


# ------------------------------------------------------------------ summary table


def _job(sweep: Path, name: str, status: str | None, **record) -> None:
    (sweep / name).mkdir(parents=True)
    if status:
        write_result(sweep / name, status, record.pop("metrics", {}), **record)


def test_summary_lists_every_job_with_status_and_only_the_swept_overrides(
    tmp_path: Path, capsys
) -> None:
    fixed = ["datamodule.data_dir=/data", "trainer.max_epochs=3"]
    _job(
        tmp_path,
        "0_optimizer-sgd",
        "finished",
        metrics={"val/acc": 0.8, "val/acc_best": 0.85, "test/acc": 0.84},
        overrides=["optimizer=sgd", *fixed],
        optimized_metric="val/acc",
        best_value=0.85,
        final_train_loss=0.4,
        epochs=3,
        wall_time_s=12.5,
    )
    _job(
        tmp_path,
        "1_optimizer-adam",
        "diverged",
        overrides=["optimizer=adam", *fixed],
        optimized_metric="val/acc",
        final_train_loss=math.nan,
        epochs=1,
        wall_time_s=3.0,
    )
    _job(tmp_path, "2_optimizer-adamw", None)  # still running (or killed): no result.json
    _job(tmp_path, "10_optimizer-lion", "finished", metrics={"val/acc": 0.5})  # an old record

    rows = summarize_sweep(tmp_path, "val/acc")

    assert [r.run for r in rows] == [
        "0_optimizer-sgd",
        "1_optimizer-adam",
        "2_optimizer-adamw",
        "10_optimizer-lion",
    ]  # job order, not string order
    table = read_csv(tmp_path / "summary.csv")
    assert list(table[0]) == [
        "run",
        "overrides",
        "metric",
        "best_val",
        "test",
        "final_train_loss",
        "epochs",
        "wall_time_s",
        "status",
    ]
    assert table[0] == {
        "run": "0_optimizer-sgd",
        "overrides": "optimizer=sgd",  # the fixed ones are the same in every job: left out
        "metric": "val/acc",
        "best_val": "0.8500",
        "test": "0.8400",
        "final_train_loss": "0.4000",
        "epochs": "3",
        "wall_time_s": "12.5",
        "status": "finished",
    }
    assert table[1]["status"] == "diverged" and table[1]["final_train_loss"] == "nan"
    assert table[1]["best_val"] == "" and table[1]["test"] == ""
    assert table[2]["status"] == "unfinished" and table[2]["metric"] == "val/acc"
    assert table[3]["best_val"] == "0.5000"  # result.json from before the summary fields
    markdown = (tmp_path / "summary.md").read_text()
    assert markdown.startswith("| run | overrides | metric | best val | test |")
    assert "| 1_optimizer-adam | optimizer=adam | val/acc | - | - | nan | 1 | 3.0 | diverged |" in (
        markdown
    )
    assert markdown in capsys.readouterr().out  # printed too


def test_markdown_escapes_pipes_and_a_single_run_shows_all_its_overrides() -> None:
    row = RunRow(run="r", overrides=["a=1", "b=x|y"], status="finished")
    assert "| r | a=1 b=x\\|y | - |" in to_markdown([row])


# ------------------------------------------------------------------ directories


def _claim(args: tuple[Path, Any]) -> str:
    path, barrier = args
    barrier.wait()
    return str(claim_directory(path))


def test_directories_claimed_at_the_same_moment_are_all_different(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    target = tmp_path / "2026-01-01_00-00-00"
    with context.Manager() as manager:
        barrier = manager.Barrier(6)
        with context.Pool(6) as pool:
            claimed = pool.map(_claim, [(target, barrier)] * 6)
    assert len(set(claimed)) == 6
    assert all((Path(p) / CLAIM_FILE).is_file() for p in claimed)


def test_an_empty_directory_is_free_but_a_claimed_one_is_not(tmp_path: Path) -> None:
    (tmp_path / "free").mkdir()
    assert claim_directory(tmp_path / "free") == tmp_path / "free"
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / CLAIM_FILE).touch()  # claimed a moment ago, still empty otherwise
    assert claim_directory(tmp_path / "taken") == tmp_path / "taken-2"


# ------------------------------------------------------------------ sweeps


def test_a_2x2_sweep_runs_two_jobs_at_once_and_writes_the_summary(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    meet = tmp_path / "meet"
    result = run_cli(
        "-m",
        "hydra/launcher=parallel",  # joblib, 2 jobs at once
        "optimizer=sgd,momentum",
        "scheduler=none,cosine_warmup",
        *sweep_job_overrides(tiny_fashion_dir, tmp_path),
        "+callbacks.meet._target_=helpers.probes.Rendezvous",  # each job waits for a second one
        env={"OPTIMLAB_TEST_MEET_DIR": str(meet)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "debug" / "multiruns").iterdir()
    jobs = job_dirs(sweep)
    # long names are cut and end in a hash: the optimizer is in each, the whole overrides are
    # in the summary (below)
    expected = ["sgd+scheduler-", "sgd+scheduler-", "momentum+scheduler-", "momentum+scheduler-"]
    assert len(jobs) == 4
    for number, (job, name) in enumerate(zip(jobs, expected, strict=True)):
        assert job.name.startswith(f"{number}_") and f"optimizer-{name}" in job.name
        writers = {p.name.split(".")[-2] for p in (job / "tensorboard").glob("events.*")}
        assert len(writers) == 1  # one process wrote each directory

    met = [json.loads(p.read_text()) for p in meet.glob("met.*")]
    assert len(met) == 4 and all(m["met"] for m in met)  # never alone: 2 jobs ran at once
    assert len({m["pid"] for m in met}) == 2  # in two worker processes

    table = read_csv(sweep / "summary.csv")
    assert [row["run"] for row in table] == [job.name for job in jobs]
    assert [row["overrides"] for row in table] == [
        "optimizer=sgd scheduler=none",
        "optimizer=sgd scheduler=cosine_warmup",
        "optimizer=momentum scheduler=none",
        "optimizer=momentum scheduler=cosine_warmup",
    ]
    for row in table:
        assert row["status"] == "finished" and row["metric"] == "val/acc"
        assert 0 <= float(row["best_val"]) <= 1 and 0 <= float(row["test"]) <= 1
        assert float(row["final_train_loss"]) > 0 and row["epochs"] == "1"
        assert float(row["wall_time_s"]) > 0
    markdown = (sweep / "summary.md").read_text()
    assert markdown.count("| finished |") == 4
    assert "| optimizer=momentum scheduler=cosine_warmup | val/acc |" in result.stdout
