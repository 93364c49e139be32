"""Build the objects of one run (datamodule, task, trainer) from the composed config."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

from optimlab.runner.checkpoint_io import AtomicCheckpointIO
from optimlab.tasks import TASKS, OptimTask

# model config keys that say how the network runs, not what it is: not passed to the
# network, not in checkpoints (docs/performance.md has their measured effect)
SPEED_KEYS = ("channels_last", "compile")


def to_dict(cfg: DictConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """A resolved plain dict (what checkpoints and hyperparameter logs should hold)."""
    if cfg is None:
        return {}
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group of named objects (callbacks, loggers)."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node and "_target_" in node]


def build_task(cfg: DictConfig, datamodule: L.LightningDataModule) -> OptimTask:
    """The task that fits the data, wrapping the configured network sized for the data."""
    spec = datamodule.spec
    model_cls = get_class(cfg.model._target_)
    model_task = getattr(model_cls, "task", spec.task)
    if model_task != spec.task:
        raise ValueError(
            f"model {model_cls.__name__} is a {model_task} model but datamodule "
            f"{type(datamodule).__name__} holds {spec.task} data; pick a {spec.task} model "
            f"({', '.join(models_for(spec.task))})"
        )
    options = to_dict(cfg.get("task"))
    kwargs: dict[str, Any] = {"log_grad_norm": options.get("log_grad_norm", True)}
    if spec.task == "classification":
        kwargs["num_classes"] = spec.num_classes
    else:
        kwargs["loss"] = options.get("regression_loss", "mse")
    net = to_dict(cfg.model)
    speed = {key: bool(net.pop(key, False)) for key in SPEED_KEYS}
    task = TASKS[spec.task](
        net={**net, **spec.model_kwargs()},
        optimizer=to_dict(cfg.optimizer),
        scheduler=to_dict(cfg.get("scheduler")) or None,
        **kwargs,
    )
    if speed["channels_last"]:
        task.use_channels_last()
    if speed["compile"]:
        task.net.compile()  # in place: the state_dict keys (and checkpoints) stay the same
    return task


def models_for(task: str) -> list[str]:
    """The model config names whose network does ``task`` (for error messages)."""
    from omegaconf import OmegaConf

    model_dir = Path(__file__).resolve().parents[3] / "conf" / "model"
    names = []
    for path in sorted(model_dir.glob("*.yaml")):
        target = OmegaConf.load(path).get("_target_")
        if target and getattr(get_class(target), "task", None) == task:
            names.append(f"model={path.stem}")
    return names


def build_trainer(cfg: DictConfig, **overrides: Any) -> L.Trainer:
    # the tasks write every step's values themselves (optimlab.callbacks.step_scalars), so
    # Lightning's warning that an epoch shorter than log_every_n_steps logs nothing is wrong
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")
    callbacks = instantiate_all(cfg.get("callbacks"))
    loggers = instantiate_all(cfg.get("logger"))
    overrides.setdefault("plugins", [AtomicCheckpointIO()])  # no half-written checkpoints
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **overrides)
