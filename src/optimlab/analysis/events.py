"""Runs as TensorBoard recorded them, read with TensorBoard's own EventAccumulator.

Event files are the one record every run has (also runs from before result.json grew its
summary fields, killed runs and runs copied from another machine), so compare_runs reads
its curves and numbers from them and takes only status and wall time from result.json.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from optimlab.analysis.results import read_result, saved_overrides
from optimlab.analysis.table import RunRow, matching_test_metric
from optimlab.metrics import metric_mode

EVENTS_GLOB = "events.out.tfevents.*"
TB_SUBDIR = "tensorboard"  # conf/logger/tensorboard.yaml: name (events live in <run>/tensorboard)

Series = list[tuple[int, float]]  # (global step, value), in step order


@dataclass
class RunCurves:
    """Every scalar of one run, plus what its directory says about it."""

    run_dir: Path
    name: str  # the run directory relative to the directory compare_runs was given
    scalars: dict[str, Series] = field(default_factory=dict)
    wall_times: list[float] = field(default_factory=list)  # event times, for a wall-time guess

    def series(self, *tags: str) -> Series:
        """The first of ``tags`` that was logged (e.g. train/loss_step, then train/loss)."""
        for tag in tags:
            if self.scalars.get(tag):
                return self.scalars[tag]
        return []

    def by_epoch(self, *tags: str) -> list[tuple[int, float]]:
        """(epoch, value) for a metric logged once per epoch (validation, epoch means).

        Lightning logs an ``epoch`` scalar at the same step as every logged metric; the
        x value is epochs completed (1 for the end of the first epoch).
        """
        epochs = dict(self.scalars.get("epoch", []))
        points = []
        for step, value in self.series(*tags):
            epoch = epochs.get(step)
            if epoch is not None:
                points.append((int(epoch) + 1, value))
        return points


def find_run_dirs(root: Path) -> list[Path]:
    """Run directories under ``root`` (or ``root`` itself): those holding event files.

    Event files anywhere below a run's ``tensorboard`` folder are that run's (its hparams
    session, ``tensorboard/hparams``, included: runner/hparams.py).
    """
    runs = set()
    for events in root.rglob(EVENTS_GLOB):
        run = events.parent
        for folder in (events.parent, *events.parent.parents):
            if folder.name == TB_SUBDIR:
                run = folder.parent
                break
            if folder == root:
                break
        runs.add(run)
    return sorted(runs)


def load_run(run_dir: Path, root: Path) -> RunCurves:
    """All scalars of ``run_dir``: several event files (a resumed run) are merged by step."""
    name = str(run_dir.relative_to(root)) if run_dir != root else run_dir.name
    curves = RunCurves(run_dir=run_dir, name=name)
    merged: dict[str, dict[int, float]] = {}
    for events in sorted(run_dir.rglob(EVENTS_GLOB)):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            for event in accumulator.Scalars(tag):
                merged.setdefault(tag, {})[event.step] = event.value
                curves.wall_times.append(event.wall_time)
    curves.scalars = {tag: sorted(points.items()) for tag, points in merged.items()}
    return curves


def load_runs(root: Path) -> list[RunCurves]:
    return [load_run(run_dir, root) for run_dir in find_run_dirs(root)]


def _optimized_metric(run: RunCurves, result: dict[str, Any]) -> str | None:
    """The run's optimized_metric: from result.json, else its config, else the usual one."""
    if result.get("optimized_metric"):
        return str(result["optimized_metric"])
    path = run.run_dir / ".hydra" / "config.yaml"
    if path.is_file():
        metric = OmegaConf.load(path).get("optimized_metric")
        if metric:
            return str(metric)
    for guess in ("val/acc", "val/loss"):  # the defaults of classification and regression
        if guess in run.scalars:
            return guess
    return None


def _best(values: Iterable[float], mode: str) -> float | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return max(finite) if mode == "max" else min(finite)


def row_from_events(run: RunCurves) -> RunRow:
    """The summary row of a run, from its curves (status and wall time from result.json)."""
    result = read_result(run.run_dir) or {}
    metric = _optimized_metric(run, result)
    epoch_loss = run.series("train/loss_epoch")
    step_loss = run.series("train/loss_step", "train/loss")
    status = result.get("status")
    if status is None:  # no result.json: killed, still running, or NaN logged before the stop
        status = "diverged" if any(not math.isfinite(v) for _, v in step_loss) else "unfinished"
    last_loss = (epoch_loss or step_loss or [(0, None)])[-1][1]
    test = run.series(matching_test_metric(metric) or "")
    wall = result.get("wall_time_s")
    if wall is None and run.wall_times:  # first to last event: roughly the run's length
        wall = max(run.wall_times) - min(run.wall_times)
    return RunRow(
        run=run.name,
        overrides=saved_overrides(run.run_dir),
        metric=metric,
        best_val=_best((v for _, v in run.series(metric)), metric_mode(metric)) if metric else None,
        test=test[-1][1] if test else None,
        final_train_loss=math.nan if status == "diverged" else last_loss,
        epochs=len(epoch_loss) if epoch_loss else None,
        wall_time_s=wall,
        status=str(status),
        target=result.get("target"),
        time_to_target=result.get("time_to_target"),
    )
