"""One training run: check, fit, test the best checkpoint, record the result, say where it is."""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
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


def in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


@rank_zero_only
def write_result(output_dir: Path, status: str, metrics: dict[str, float], **extra: Any) -> None:
    """result.json, written atomically: what a sweep summary and a sweep restart read."""
    output_dir.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "metrics": metrics, **extra}
    handle, temporary = tempfile.mkstemp(dir=output_dir, prefix=f".{RESULT_FILE}.")
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
        best = _best_checkpoint(trainer)
        if cfg.get("test", True):
            trainer.test(task, datamodule=datamodule, ckpt_path=best)
            metrics.update(_metrics(trainer))
    except DivergedError as error:
        write_result(output_dir, "diverged", {}, reason=str(error))
        if not in_sweep():
            raise
        print(f"diverged: {error}", file=sys.stderr, flush=True)
        return {str(cfg.get("optimized_metric")): math.nan}
    write_result(output_dir, "finished", metrics)
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
