"""The LR range test as a short run of the project's own Trainer (scripts/lr_find.py).

One test builds what ``train.py`` builds from the same config (the datamodule, the task with
its network sized from the data, the optimizer with its parameter groups, the Trainer) and
fits for ``num_steps`` optimizer steps, with no validation, checkpoints or logger. The
``LRRangeTest`` callback sets the lr of every step and records the loss; the arithmetic
(lr sequence, smoothing, divergence, the rules) is optimlab.analysis.lr_find's.

Every group's lr is its configured lr times the sweep's factor, so the groups keep their ratios
(``optimizer.param_groups.lr_multipliers``) and the swept value is ``optimizer.lr`` itself;
each seed is a fresh model, so nothing is restored afterwards. Why this and not Lightning's
``Tuner.lr_find``: scripts/lr_find.py's docstring.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning as L
from hydra.utils import get_object, instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from optimlab.analysis.lr_find import LossSmoother, RangeCurve, RangeTestSettings, check_settings
from optimlab.callbacks.divergence import DivergenceGuard
from optimlab.callbacks.lr_logger import LearningRateLogger
from optimlab.config import to_plain
from optimlab.errors import ConfigError, OptimlabError
from optimlab.runner.preflight import Preflight, check_data, refuse
from optimlab.runner.quiet import quiet_startup
from optimlab.runner.train import build_task, build_trainer

# callbacks of conf/callbacks/ a range test does without: checkpoints (nothing to keep), the
# NaN guard (the test stops itself at divergence, without an error), the lr logger (no logger)
NOT_IN_A_RANGE_TEST = (ModelCheckpoint, DivergenceGuard, LearningRateLogger)


def _not_the_planned_end(record: logging.LogRecord) -> bool:
    """Lightning's "`Trainer.fit` stopped: `max_steps=N` reached.": the test's planned end."""
    return "stopped: `max_steps=" not in record.getMessage()


def settings_of(cfg: DictConfig) -> RangeTestSettings:
    """The range test's keys (start_lr, end_lr, num_steps, beta, diverge_factor, seeds) checked,
    and the run refused where a range test makes no sense."""
    plain = to_plain(cfg)
    settings = check_settings(
        {key: plain.get(key) for key in RangeTestSettings.__dataclass_fields__}
    )
    trainer = cfg.get("trainer") or {}
    if str(trainer.get("strategy", "")).startswith("ddp"):
        raise ConfigError("the LR range test runs on one device; drop trainer=ddp")
    return settings


class LRRangeTest(L.Callback):
    """Set the lr of each optimizer step from ``lrs``, record the step's loss, stop when the
    smoothed loss diverges.

    Every parameter group gets ``lrs[step]`` times its own configured ratio to
    ``optimizer.lr`` (``param_groups.lr_multipliers`` stay in force). With gradient
    accumulation a step's loss is the mean over its batches.
    """

    def __init__(self, lrs: list[float], beta: float, diverge_factor: float) -> None:
        self.lrs = lrs
        self.smoother = LossSmoother(beta, diverge_factor)
        self.ratios: list[float] = []
        self.recorded_lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self._pending: list[float] = []  # batch losses of the optimizer step in progress
        self._steps_seen = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if len(trainer.optimizers) != 1:
            raise ConfigError("the LR range test needs a task with exactly one optimizer")
        optimizer = trainer.optimizers[0]
        if any("d" in group for group in optimizer.param_groups):
            raise ConfigError(
                f"{type(optimizer).__name__} is learning-rate-free: its lr multiplies a step "
                "size it estimates itself (d), so sweeping lr finds no step size; train it "
                "with its lr of 1"
            )
        base = float(optimizer.defaults["lr"])
        self.ratios = [float(group["lr"]) / base for group in optimizer.param_groups]

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any
    ) -> None:
        lr = self.lrs[min(trainer.global_step, len(self.lrs) - 1)]
        for group, ratio in zip(trainer.optimizers[0].param_groups, self.ratios, strict=True):
            group["lr"] = lr * ratio

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, *args: Any
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self._pending.append(math.nan if loss is None else float(loss.detach().float().mean()))
        if trainer.global_step == self._steps_seen:
            return  # accumulating: no optimizer step in this batch
        self._steps_seen = trainer.global_step
        value = sum(self._pending) / len(self._pending)
        self._pending = []
        self.recorded_lrs.append(self.lrs[trainer.global_step - 1])
        self.losses.append(value)
        self.smoothed.append(self.smoother.add(value))
        if self.smoother.diverged:
            trainer.should_stop = True


def _wanted(node: Any) -> bool:
    """A callback config a range test keeps (anything but NOT_IN_A_RANGE_TEST)."""
    if not isinstance(node, dict) or "_target_" not in node:
        return False
    target = get_object(str(node["_target_"]))
    return not (isinstance(target, type) and issubclass(target, NOT_IN_A_RANGE_TEST))


def _range_test_config(cfg: DictConfig, seed: int | None) -> DictConfig:
    """``cfg`` for one test: this seed, no schedule (the test sets the lr), no logger, and
    without the callbacks a range test does without."""
    plain = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(plain, dict)
    callbacks = plain.get("callbacks") or {}
    plain["callbacks"] = {name: node for name, node in callbacks.items() if _wanted(node)}
    plain.update(seed=seed, scheduler=None, logger=None)
    return OmegaConf.create(plain)


def run_range_test(cfg: DictConfig, settings: RangeTestSettings, seed: int | None) -> RangeCurve:
    """One range test with ``seed`` (a fresh model, data order and augmentation)."""
    quiet_startup()
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_not_the_planned_end)
    run = _range_test_config(cfg, seed)
    if seed is not None:
        L.seed_everything(seed, workers=True, verbose=False)
    datamodule = instantiate(run.datamodule)
    task = build_task(run, datamodule)
    recorder = LRRangeTest(settings.lrs(), settings.beta, settings.diverge_factor)
    # as many epochs as the steps take (what the loader serves per epoch, as the preflight
    # counts it), so the progress bar counts to a real end
    batches = check_data(to_plain(run), datamodule)
    accumulate = int(run.trainer.get("accumulate_grad_batches") or 1)
    trainer = build_trainer(
        run,
        max_steps=settings.num_steps,
        max_epochs=math.ceil(settings.num_steps * accumulate / batches) if batches else -1,
        min_epochs=None,  # (a minimum would overrule the stop at divergence)
        min_steps=None,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        enable_checkpointing=False,
    )
    trainer.callbacks.append(recorder)
    trainer.fit(task, datamodule=datamodule)
    return RangeCurve(
        seed=seed,
        lrs=recorder.recorded_lrs,
        losses=recorder.losses,
        smoothed=recorder.smoothed,
        num_steps=settings.num_steps,
    )


class LRFindPreflight(Preflight):
    """conf/lr_find.yaml's preflight: the range test's own keys, then everything train.py's
    preflight checks, before the run directory is made."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            settings_of(config)
        except OptimlabError as error:
            refuse(error)
        super().on_run_start(config, **kwargs)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            settings_of(config)
        except OptimlabError as error:
            refuse(error)
        super().on_multirun_start(config, **kwargs)
