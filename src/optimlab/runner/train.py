"""One training run: build its objects, fit, test the best checkpoint, record the result.

The config has passed the preflight already (train.py's Hydra callback runs it before the run
directory exists; in-process callers call ``preflight(cfg)`` first).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
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

from optimlab.callbacks.time_to_target import TimeToTarget
from optimlab.config import to_plain
from optimlab.errors import DivergedError
from optimlab.optim.build import build_optimizer, describe_groups, scaled_lr
from optimlab.runner import provenance
from optimlab.runner.checkpoint_io import AtomicCheckpointIO
from optimlab.runner.hparams import group_choice as _choice
from optimlab.runner.hparams import write_hparams
from optimlab.runner.quiet import quiet_startup
from optimlab.runner.result_file import DIVERGED, FINISHED, PRUNED, read_result, write_result
from optimlab.runner.resume import check_checkpoint_matches, interrupted_checkpoint
from optimlab.search.pruning import RunPruned, trial_callbacks
from optimlab.tasks import TASKS, OptimTask

DONE = (FINISHED, DIVERGED)  # a rerun skips these: a diverged run diverges again (runs are seeded)


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit the configured task on the configured data; return the final metrics.

    A NaN/inf loss raises DivergedError in a single run; inside a sweep the run is recorded
    as diverged (metrics NaN) and the sweep goes on.
    """
    quiet_startup()
    started = time.time()
    output_dir = Path(cfg.paths.output_dir)
    previous = read_result(output_dir)
    if previous and previous.get("status") in DONE and cfg.get("skip_finished", True):
        status = previous["status"]
        print(f"{output_dir} already {status}: skipped (skip_finished=false runs it again)")
        return previous.get("metrics") or {str(cfg.get("optimized_metric")): math.nan}

    ckpt_path = cfg.get("ckpt_path") or interrupted_checkpoint(output_dir)
    if ckpt_path and not cfg.get("ckpt_path"):
        _say(f"{output_dir} was interrupted: continuing from {ckpt_path}")
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.datamodule)
    task = build_task(cfg, datamodule)
    if ckpt_path:
        check_checkpoint_matches(ckpt_path, task.hparams)
    trainer = build_trainer(cfg)
    for logger in trainer.loggers:
        logger.log_hyperparams(run_hparams(cfg))
    _say(describe_run(cfg, device=trainer.strategy.root_device.type, task=task))

    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics = _metrics(trainer)
        record = _run_record(cfg, trainer, started)
        best = _best_checkpoint(trainer)
        if cfg.get("test", True):
            # test_ckpt=last tests the final weights, as D2L ch. 11 reports its numbers
            tested = None if cfg.get("test_ckpt", "best") == "last" else best
            trainer.test(task, datamodule=datamodule, ckpt_path=tested)
            metrics.update(_metrics(trainer))
    except DivergedError as error:
        record = _run_record(cfg, trainer, started, diverged=True)
        write_result(output_dir, DIVERGED, {}, reason=str(error), **record)
        write_hparams(trainer, cfg, {}, record, diverged=True)
        if not in_sweep():
            raise
        print(f"diverged: {error}", file=sys.stderr, flush=True)
        return {str(cfg.get("optimized_metric")): math.nan}
    except RunPruned as pruned:  # only a search's trial has a pruner
        metrics = _metrics(trainer)
        record = _run_record(cfg, trainer, started)
        record["epochs"] = trainer.current_epoch + 1  # the pruned epoch was validated
        write_result(output_dir, PRUNED, metrics, reason=str(pruned), **record)
        write_hparams(trainer, cfg, metrics, record)
        _say(f"{output_dir}: {pruned}")
        return metrics
    record["fit_time_s"] = record["wall_time_s"]  # to the end of fit: data, model, epochs
    record["wall_time_s"] = round(time.time() - started, 3)  # testing included
    metric = cfg.get("optimized_metric")
    if metric and record["best_value"] is not None:
        metrics.setdefault(f"{metric}_best", record["best_value"])  # val/acc_best is logged
    write_result(output_dir, FINISHED, metrics, **record)
    write_hparams(trainer, cfg, metrics, record)  # TensorBoard's HPARAMS tab
    _say(closing_summary(cfg, metrics, best))
    return metrics


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
    if cfg.get("target") is not None:  # time to target, recorded in result.json
        callbacks.append(TimeToTarget(str(cfg.optimized_metric), float(cfg.target)))
    callbacks += trial_callbacks(cfg.get("optimized_metric"))  # a search's trial: report, prune
    loggers = instantiate_all(cfg.get("logger"))
    overrides.setdefault("plugins", [AtomicCheckpointIO()])  # no half-written checkpoints
    return instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **overrides)


def objective(metrics: dict[str, float], metric: str | None) -> float | None:
    """The number a sweeper optimizes: the best epoch's ``metric`` (what best.ckpt scored).

    None for a diverged run: the Optuna sweeper records it as a FAIL trial (it reads the
    run's status from result.json). The basic sweeper ignores the value.
    """
    if not metric:
        return None
    value = metrics.get(f"{metric}_best", metrics.get(metric))
    return None if value is None or math.isnan(value) else float(value)


def in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_hparams(cfg: DictConfig) -> dict[str, Any]:
    """The config summary in the logger's hparams.yaml (the HPARAMS tab: runner/hparams.py)."""
    data = {k: v for k, v in to_plain(cfg.datamodule).items() if k != "data_dir"}
    return {
        "optimizer": to_plain(cfg.optimizer),
        "scheduler": to_plain(cfg.get("scheduler")),
        "model": to_plain(cfg.model),
        "datamodule": data,
        "max_epochs": cfg.trainer.get("max_epochs"),
        "seed": cfg.get("seed"),
    }


def describe_run(cfg: DictConfig, device: str = "cpu", task: OptimTask | None = None) -> str:
    """The one line that says what runs and where its outputs go."""
    epochs = cfg.trainer.get("max_epochs")
    length = f"{epochs} epoch{'' if epochs == 1 else 's'}"
    if (cfg.trainer.get("max_steps") or -1) > 0:
        length += f" or {cfg.trainer.max_steps} steps"
    lr = scaled_lr(cfg.get("optimizer") or {})
    return (
        f"optimlab: model={_choice(cfg, 'model')} datamodule={_choice(cfg, 'datamodule')} "
        f"optimizer={_choice(cfg, 'optimizer')}" + (f" (lr {lr:g})" if lr is not None else "") + " "
        f"scheduler={_choice(cfg, 'scheduler')}, {length} on {device} -> {cfg.paths.output_dir}"
    ) + (f"; groups {_groups(cfg, task)}" if task is not None else "")


def _groups(cfg: DictConfig, task: OptimTask) -> str:
    """The groups of the optimizer the run builds (cheap: no state before its first step)."""
    optimizer = to_plain(cfg.optimizer)
    groups = build_optimizer(optimizer, task).param_groups
    return describe_groups(groups, scaled_lr(optimizer), optimizer.get("weight_decay"))


def closing_summary(cfg: DictConfig, metrics: dict[str, float], best: str | None) -> str:
    output_dir = Path(cfg.paths.output_dir)
    lines = ["", "optimlab run finished"]
    lines += [f"  {name:<14} {metrics[name]:.4f}" for name in sorted(metrics) if "test/" in name]
    lines.append(f"  run directory  {output_dir}")
    if best:
        lines.append(f"  checkpoint     {best}")
    lines.append(f"  view it:       tensorboard --logdir {output_dir}")
    if in_sweep():
        lines.append(f"  whole sweep:   tensorboard --logdir {HydraConfig.get().sweep.dir}")
    return "\n".join(lines)


@rank_zero_only
def _say(text: str) -> None:
    print(text, flush=True)


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
    record: dict[str, Any] = {
        "optimized_metric": metric,
        "best_value": _best_score(trainer, metric),
        "final_train_loss": math.nan if diverged else _final_train_loss(_metrics(trainer)),
        "epochs": trainer.current_epoch,  # completed epochs (the one in progress when diverged)
        "steps": trainer.global_step,
        "wall_time_s": round(time.time() - started, 3),
        "started_at": datetime.fromtimestamp(started).astimezone().isoformat(timespec="seconds"),
        "overrides": _job_overrides(),
        "commit": provenance.commit(),
        "machine": provenance.machine(),
    }
    if cfg.get("target") is not None:
        record["target"] = float(cfg.target)
        record["time_to_target"] = _time_to_target(trainer)
    return record


def _time_to_target(trainer: L.Trainer) -> dict[str, Any] | None:
    """{step, epoch, wall_s} of the first validation that reached the target, or None."""
    for callback in trainer.callbacks:
        if isinstance(callback, TimeToTarget):
            return callback.time_to_target
    return None
