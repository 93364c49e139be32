"""Test a checkpoint on the configured data, without retraining."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from optimlab.errors import ConfigError
from optimlab.runner.quiet import quiet_startup
from optimlab.runner.train import build_trainer
from optimlab.tasks import TASKS, OptimTask


def load_task(ckpt_path: str | Path) -> OptimTask:
    """Rebuild the task saved in ``ckpt_path`` (its network config travels inside it)."""
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise ConfigError(f"ckpt_path {path} does not exist; point it at a .ckpt file")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    kind = checkpoint.get("optimlab_task")
    if kind not in TASKS:
        raise ConfigError(f"{path} is not an optimlab checkpoint (no known task kind: {kind!r})")
    return TASKS[kind].load_from_checkpoint(path, map_location="cpu", weights_only=False)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    quiet_startup()
    task = load_task(cfg.ckpt_path)
    datamodule = instantiate(cfg.datamodule)
    trainer = build_trainer(cfg)
    results = trainer.test(task, datamodule=datamodule)
    metrics = {name: float(value) for name, value in results[0].items()} if results else {}
    print(
        f"tested {cfg.ckpt_path}: " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()))
    )
    return metrics
