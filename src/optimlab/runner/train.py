"""One training run: fit, then test the best checkpoint, then say where everything is."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from optimlab.runner.build import build_task, build_trainer, to_dict
from optimlab.runner.quiet import quiet_startup

log = logging.getLogger(__name__)


def _best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
        return callback.best_model_path
    return None


def _metrics(trainer: L.Trainer) -> dict[str, float]:
    return {name: float(value) for name, value in trainer.callback_metrics.items()}


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
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        lines.append(f"  whole sweep:   tensorboard --logdir {HydraConfig.get().sweep.dir}")
    print("\n".join(lines), flush=True)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured task on the configured data; return the final metrics."""
    quiet_startup()
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(cfg.datamodule)
    task = build_task(cfg, datamodule)
    trainer = build_trainer(cfg)
    for logger in trainer.loggers:
        logger.log_hyperparams(_run_hparams(cfg))

    trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = _metrics(trainer)

    best = _best_checkpoint(trainer)
    if cfg.get("test", True):
        trainer.test(task, datamodule=datamodule, ckpt_path=best)
        metrics.update(_metrics(trainer))
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
