"""A study's runs arranged as its grid: workload × variant × learning rate, seeds pooled.

Every run is read from what it wrote (result.json, .hydra/), never from the study's config,
so a report can be rewritten from any set of finished runs: a study cut short, one continued
later, or several studies taken together as the workloads of a performance profile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from optimlab.analysis.groups import Stats, describe, median_time, shared_target
from optimlab.analysis.results import row_from_result, sweep_job_dirs
from optimlab.analysis.table import RunRow
from optimlab.metrics import metric_mode
from optimlab.optim.build import scaled_lr
from optimlab.runner.result_file import read_result
from optimlab.study.settings import StudySettings

DEFAULT_VARIANT = "default"  # a run that does not set the variant key ran the config's default


@dataclass(frozen=True)
class StudyRun:
    """One job of a study, located in the grid."""

    run_dir: Path
    row: RunRow  # status, best val, test, time to target (the sweep summary's row)
    workload: str
    variant: str
    lr_scale: float
    lr: float | None  # the variant's own lr times lr_scale (None: the optimizer has no lr)
    final_val: float | None  # the optimized metric at the last validation
    commit: str | None
    machine: str | None


@dataclass
class Cell:
    """The seeds of one (workload, variant, lr scale)."""

    workload: str
    variant: str
    lr_scale: float
    runs: list[StudyRun] = field(default_factory=list)

    @property
    def finished(self) -> list[StudyRun]:
        return [r for r in self.runs if r.row.status == "finished"]

    @property
    def diverged(self) -> int:
        return sum(r.row.status == "diverged" for r in self.runs)

    @property
    def complete(self) -> bool:
        """Every run finished: a cell where some seed diverged cannot be a variant's best."""
        return bool(self.runs) and len(self.finished) == len(self.runs)

    @property
    def lr(self) -> float | None:
        return next((r.lr for r in self.runs if r.lr is not None), None)

    @property
    def final_val(self) -> Stats:
        return describe([r.final_val for r in self.finished])

    @property
    def best_val(self) -> Stats:
        return describe([r.row.best_val for r in self.finished])

    @property
    def test(self) -> Stats:
        return describe([r.row.test for r in self.finished])

    @property
    def target(self) -> float | None:
        return shared_target(r.row for r in self.runs)

    @property
    def reached(self) -> int:
        return sum(r.row.time_to_target is not None for r in self.finished)

    @property
    def time_to_target(self) -> dict[str, float] | None:
        """Median step, epoch and wall_s over the finished seeds (None: the median missed)."""
        if self.target is None:
            return None
        return median_time([r.row.time_to_target for r in self.finished])


def _override(overrides: Iterable[str], key: str | None) -> str | None:
    for override in overrides:
        name, _, value = override.partition("=")
        if key is not None and name.lstrip("+~") == key:
            return value
    return None


def _run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / ".hydra" / "config.yaml"
    if not path.is_file():
        return {}
    config = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    return config if isinstance(config, dict) else {}


def read_run(run_dir: Path, settings: StudySettings, fallback_workload: str) -> StudyRun:
    """One job directory as a point of the grid."""
    result = read_result(run_dir)
    row = row_from_result(run_dir, result, None)
    config = _run_config(run_dir)
    optimizer = config.get("optimizer") or {}
    scale = _override(row.overrides, settings.lr_key)
    metric = row.metric or config.get("optimized_metric")
    final = ((result or {}).get("metrics") or {}).get(metric) if metric else None
    return StudyRun(
        run_dir=run_dir,
        row=row,
        workload=_override(row.overrides, settings.workload_key) or fallback_workload,
        variant=_override(row.overrides, settings.variant_key) or DEFAULT_VARIANT,
        lr_scale=float(scale) if scale is not None else 1.0,
        lr=scaled_lr(optimizer) if isinstance(optimizer, dict) else None,
        final_val=final if isinstance(final, int | float) and math.isfinite(final) else None,
        commit=(result or {}).get("commit"),
        machine=(result or {}).get("machine"),
    )


def read_runs(study_dirs: Sequence[Path], settings: StudySettings) -> list[StudyRun]:
    """Every job of the studies; a study directory is a workload unless workload_key says."""
    return [
        read_run(job, settings, study_dir.name)
        for study_dir in study_dirs
        for job in sweep_job_dirs(study_dir)
    ]


def cells(runs: Sequence[StudyRun]) -> list[Cell]:
    """The runs pooled over seeds, in the order the grid first met each cell."""
    by_key: dict[tuple[str, str, float], Cell] = {}
    for run in runs:
        key = (run.workload, run.variant, run.lr_scale)
        by_key.setdefault(key, Cell(*key)).runs.append(run)
    return list(by_key.values())


def _score(stats: Stats, mode: str) -> float:
    if stats.mean is None:
        return -math.inf
    return stats.mean if mode == "max" else -stats.mean


def best_cells(all_cells: Sequence[Cell], metric: str) -> list[Cell]:
    """Each (workload, variant)'s best lr: the highest mean best-validation value (lowest for
    a loss) among its cells where every seed finished; the test set never chooses."""
    mode = metric_mode(metric)
    best: dict[tuple[str, str], Cell] = {}
    for cell in all_cells:
        key = (cell.workload, cell.variant)
        current = best.get(key)
        better = current is None or (cell.complete, _score(cell.best_val, mode)) > (
            current.complete,
            _score(current.best_val, mode),
        )
        if better:
            best[key] = cell
    return list(best.values())


def study_metric(runs: Sequence[StudyRun]) -> str | None:
    return next((r.row.metric for r in runs if r.row.metric), None)
