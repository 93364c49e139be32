"""Rows from the result.json each run writes: cheap enough to read at the end of every sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from optimlab.analysis.table import RunRow, matching_test_metric
from optimlab.runner.result_file import read_result


def row_from_result(run_dir: Path, result: dict[str, Any] | None, metric: str | None) -> RunRow:
    """A table row; ``metric`` is the sweep's optimized metric, used when result.json has none.

    result.json files written before the summary fields existed still give status and metrics.
    """
    if result is None:  # running, or killed: what Hydra wrote before the start still says which
        return RunRow(run=run_dir.name, overrides=saved_overrides(run_dir), metric=metric)
    metrics = result.get("metrics") or {}
    metric = result.get("optimized_metric") or metric
    best = result.get("best_value")
    if best is None and metric:
        best = metrics.get(f"{metric}_best", metrics.get(metric))
    test = metrics.get(matching_test_metric(metric) or "")
    loss = result.get("final_train_loss", metrics.get("train/loss_epoch"))
    return RunRow(
        run=run_dir.name,
        overrides=list(result.get("overrides") or []),
        metric=metric,
        best_val=best,
        test=test,
        final_train_loss=loss,
        epochs=result.get("epochs"),
        wall_time_s=result.get("wall_time_s"),
        status=str(result.get("status", "unfinished")),
        target=result.get("target"),
        time_to_target=result.get("time_to_target"),
    )


def saved_overrides(run_dir: Path) -> list[str]:
    """The run's command-line overrides as Hydra saved them (.hydra/overrides.yaml)."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return []
    from omegaconf import OmegaConf

    return [str(o) for o in OmegaConf.load(path)]


STUDY_JOB_PREFIX = "run_"  # conf/study/base.yaml: a study's job directories are named by overrides


def _job_order(job: Path) -> tuple[float, str]:
    number = job.name.split("_", 1)[0]
    return (int(number) if number.isdigit() else float("inf"), job.name)


def sweep_job_dirs(sweep_dir: Path) -> list[Path]:
    """A sweep's job directories: <job number>_<overrides> in job order, then a study's
    run_<overrides> (unnumbered, so a rerun of any part of its grid finds the same ones)."""
    jobs = [
        p
        for p in sweep_dir.iterdir()
        if p.is_dir() and (p.name.split("_", 1)[0].isdigit() or p.name.startswith(STUDY_JOB_PREFIX))
    ]
    return sorted(jobs, key=_job_order)


def sweep_rows(sweep_dir: Path, metric: str | None) -> list[RunRow]:
    """One row per job of a sweep, unfinished jobs included (they have no result.json)."""
    return [row_from_result(job, read_result(job), metric) for job in sweep_job_dirs(sweep_dir)]
