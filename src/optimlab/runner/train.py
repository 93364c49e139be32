"""One training run: check, fit, test the best checkpoint, record the result, say where it is."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from optimlab.callbacks.divergence import DivergedError
from optimlab.runner.build import build_task, build_trainer, to_dict
from optimlab.runner.preflight import preflight
from optimlab.runner.quiet import quiet_startup
from optimlab.runner.resume import check_checkpoint_matches, resume_config

log = logging.getLogger(__name__)
RESULT_FILE = "result.json"  # status + metrics of a finished (or diverged) run


def _best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
        return callback.best_model_path
    return None


def _metrics(trainer: L.Trainer) -> dict[str, float]:
    return {name: float(value) for name, value in trainer.callback_metrics.items()}


def _best_score(trainer: L.Trainer, metric: str | None) -> float | None:
    """The optimized metric of best.ckpt (what test used), when a checkpoint monitors it."""
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and metric and callback.monitor == metric:
        score = callback.best_model_score
        return float(score) if score is not None else None
    return None


def _final_train_loss(fitted: dict[str, float]) -> float | None:
    """The last epoch's mean training loss (the last step's if the task logs no epoch mean)."""
    for name in ("train/loss_epoch", "train/loss_step", "train/loss"):
        if name in fitted:
            return fitted[name]
    return None


def _job_overrides() -> list[str]:
    """This run's command-line overrides (a sweep job's own, with the sweep's fixed ones)."""
    if not HydraConfig.initialized():
        return []
    return [str(o) for o in HydraConfig.get().overrides.task]


def _run_record(
    cfg: DictConfig, trainer: L.Trainer, started: float, *, diverged: bool = False
) -> dict[str, Any]:
    """What a summary table needs besides the metrics, so it never has to parse event files.

    Called right after fit (or the divergence): testing replaces the trainer's logged metrics.
    A diverged run's final loss is NaN (the last logged value may still be from before).
    """
    metric = cfg.get("optimized_metric")
    return {
        "optimized_metric": metric,
        "best_value": _best_score(trainer, metric),
        "final_train_loss": math.nan if diverged else _final_train_loss(_metrics(trainer)),
        "epochs": trainer.current_epoch,  # completed epochs (the one in progress when diverged)
        "steps": trainer.global_step,
        "wall_time_s": round(time.time() - started, 3),
        "started_at": datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        "overrides": _job_overrides(),
    }


def objective(metrics: dict[str, float], metric: str | None) -> float | None:
    """The number a sweeper optimizes: the best epoch's ``metric`` (what best.ckpt scored).

    None instead of NaN for a diverged run: hydra-optuna-sweeper (<= 1.3.0, optuna 2.10)
    crashes the whole study on a NaN (hydra issue #2237), while a value it cannot convert
    is recorded as a FAIL trial and the study goes on. The basic sweeper ignores the value.
    """
    if not metric:
        return None
    value = metrics.get(f"{metric}_best", metrics.get(metric))
    return None if value is None or math.isnan(value) else float(value)


def in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@rank_zero_only
def write_result(output_dir: Path, status: str, metrics: dict[str, float], **extra: Any) -> None:
    """result.json, written atomically: what a sweep summary and a sweep restart read."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "metrics": metrics, **extra}
    handle, temporary = tempfile.mkstemp(dir=output_dir, prefix=f".{RESULT_FILE}.")
    os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide it from a lab mate's summary
    with os.fdopen(handle, "w") as f:
        json.dump(record, f, indent=2, allow_nan=True)
    os.replace(temporary, output_dir / RESULT_FILE)


def read_result(output_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((output_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None


@rank_zero_only
def _report(cfg: DictConfig, metrics: dict[str, float], best: str | None) -> None:
    output_dir = Path(cfg.paths.output_dir)
    lines = ["", "optimlab run finished"]
    for name in sorted(metrics):
        if name.startswith("test/"):
            lines.append(f"  {name:<14} {metrics[name]:.4f}")
    lines.append(f"  run directory  {output_dir}")
    if best:
        lines.append(f"  checkpoint     {best}")
    lines.append(f"  view it:       tensorboard --logdir {output_dir}")
    if in_sweep():
        lines.append(f"  whole sweep:   tensorboard --logdir {HydraConfig.get().sweep.dir}")
    print("\n".join(lines), flush=True)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured task on the configured data; return the final metrics.

    A NaN/inf loss raises DivergedError in a single run; inside a sweep the run is recorded
    as diverged (metrics NaN) and the sweep goes on.
    """
    quiet_startup()
    if cfg.get("resume"):
        preflight(cfg)
        cfg = resume_config(cfg)
    preflight(cfg)
    started = time.time()
    output_dir = Path(cfg.paths.output_dir)
    previous = read_result(output_dir)
    if previous and previous.get("status") == "finished" and cfg.get("skip_finished", True):
        print(f"{output_dir} already finished: skipped (skip_finished=false runs it again)")
        return previous["metrics"]

    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.datamodule)
    task = build_task(cfg, datamodule)
    if cfg.get("ckpt_path"):
        check_checkpoint_matches(cfg.ckpt_path, task.hparams)
    trainer = build_trainer(cfg)
    for logger in trainer.loggers:
        logger.log_hyperparams(_run_hparams(cfg))

    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
        metrics = _metrics(trainer)
        record = _run_record(cfg, trainer, started)
        best = _best_checkpoint(trainer)
        if cfg.get("test", True):
            # test_ckpt=last tests the final weights, as the seeds report their numbers
            tested = None if cfg.get("test_ckpt", "best") == "last" else best
            trainer.test(task, datamodule=datamodule, ckpt_path=tested)
            metrics.update(_metrics(trainer))
    except DivergedError as error:
        record = _run_record(cfg, trainer, started, diverged=True)
        write_result(output_dir, "diverged", {}, reason=str(error), **record)
        if not in_sweep():
            raise
        print(f"diverged: {error}", file=sys.stderr, flush=True)
        return {str(cfg.get("optimized_metric")): math.nan}
    record["wall_time_s"] = round(time.time() - started, 3)  # testing included
    metric = cfg.get("optimized_metric")
    if metric and record["best_value"] is not None:
        metrics.setdefault(f"{metric}_best", record["best_value"])  # val/acc_best is logged
    write_result(output_dir, "finished", metrics, **record)
    _report(cfg, metrics, best)
    return metrics


def _run_hparams(cfg: DictConfig) -> dict[str, Any]:
    """What distinguishes runs in TensorBoard's HPARAMS tab."""
    return {
        "optimizer": to_dict(cfg.optimizer),
        "scheduler": to_dict(cfg.get("scheduler")),
        "model": to_dict(cfg.model),
        "datamodule": {k: v for k, v in to_dict(cfg.datamodule).items() if k != "data_dir"},
        "max_epochs": cfg.trainer.get("max_epochs"),
        "seed": cfg.get("seed"),
    }
