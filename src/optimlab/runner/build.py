"""Build the objects of one run (datamodule, task, trainer) from the composed config."""

from __future__ import annotations

import warnings
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from optimlab.config import to_plain
from optimlab.runner.checkpoint_io import AtomicCheckpointIO
from optimlab.tasks import TASKS, OptimTask

# model config keys that say how the network runs, not what it is: not passed to the
# network, not in checkpoints (docs/performance.md has their measured effect)
SPEED_KEYS = ("channels_last", "compile")


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group of named objects (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def build_task(cfg: DictConfig, datamodule: L.LightningDataModule) -> OptimTask:
    """The task that fits the data (preflight checked the model does), the network sized
    for the data."""
    spec = datamodule.spec
    options = to_plain(cfg.get("task"))
    kwargs: dict[str, Any] = {"log_grad_norm": options.get("log_grad_norm", True)}
    if datamodule.task == "classification":
        kwargs["num_classes"] = spec.num_classes
    else:
        kwargs["loss"] = options.get("regression_loss", "mse")
    net = to_plain(cfg.model)
    speed = {key: bool(net.pop(key, False)) for key in SPEED_KEYS}
    task = TASKS[datamodule.task](
        net={**net, **spec.model_kwargs()},
        optimizer=to_plain(cfg.optimizer),
        scheduler=to_plain(cfg.get("scheduler")) or None,
        **kwargs,
    )
    if speed["channels_last"]:
        task.use_channels_last()
    if speed["compile"]:
        task.net.compile()  # in place: the state_dict keys (and checkpoints) stay the same
    return task


def build_trainer(cfg: DictConfig, **overrides: Any) -> L.Trainer:
    # the tasks write every step's values themselves (optimlab.callbacks.step_scalars), so
    # Lightning's warning that an epoch shorter than log_every_n_steps logs nothing is wrong
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    callbacks = instantiate_all(cfg.get("callbacks"))
    loggers = instantiate_all(cfg.get("logger"))
    overrides.setdefault("plugins", [AtomicCheckpointIO()])  # no half-written checkpoints
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **overrides)
