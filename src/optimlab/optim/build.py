"""The optimizer and the learning-rate schedule, from their config files.

This module is the one owner of a schedule's length and warm-up. ``plan_schedule`` splits a
scheduler file and checks it against the run's length; ``build_lr_scheduler`` (called by the
task's ``configure_optimizers``) and the preflight (before anything is built) both call it.

A scheduler file is flat, so users write ``scheduler.gamma=0.3``. Lightning's keys
(interval, frequency, monitor, strict, name) go to Lightning; the warm-up keys and
``max_steps`` are the builder's; everything else goes to the schedule's ``_target_``. Every
schedule may have a linear warm-up in front (schedules.LinearWarmup); the schedule then
starts when the warm-up ends and gets the steps that are left as its ``total_steps``.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import lightning as L
import torch
from hydra.utils import get_object, instantiate
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

from optimlab.errors import ConfigError
from optimlab.optim.schedule_free import check_schedule_free_schedule, optimizer_class
from optimlab.optim.schedules import DECAY_SHAPES, LinearWarmup

LIGHTNING_KEYS = ("interval", "frequency", "monitor", "strict", "name")
WARMUP_KEYS = ("warmup_steps", "warmup_epochs", "warmup_start_lr")
INTERVALS = ("step", "epoch")


# ---------------------------------------------------------------------------- optimizer
# keys of the optimizer section that are optimlab's (train.yaml), not the optimizer's arguments
OPTIMLAB_KEYS = ("param_groups", "lr_scale")


def _number(section: Mapping[str, Any], key: str) -> float | None:
    value = section.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def check_optimizer(cfg: Mapping[str, Any]) -> None:
    """Refuse hyperparameters no optimizer accepts, naming the key and a usual value."""
    if "_target_" not in cfg:
        raise ConfigError("the optimizer config has no _target_; pick one with optimizer=<name>")
    lr = _number(cfg, "lr")
    if lr is not None and not lr > 0:
        raise ConfigError(f"optimizer.lr must be > 0, got {cfg['lr']}; try optimizer.lr=0.01")
    scale = cfg.get("lr_scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ConfigError(
            f"optimizer.lr_scale must be a number > 0, got {scale!r}; 1.0 keeps every lr as set"
        )
    momentum = _number(cfg, "momentum")
    if momentum is not None and not 0 <= momentum < 1:
        raise ConfigError(
            f"optimizer.momentum must be in [0, 1), got {cfg['momentum']}; 0.9 is usual"
        )
    betas = cfg.get("betas")
    if betas is not None and not (
        len(betas) in (2, 3) and all(isinstance(b, int | float) and 0 <= b < 1 for b in betas)
    ):
        raise ConfigError(
            f"optimizer.betas must be two (or, for AdEMAMix and Yogi-like rules, three) numbers "
            f"in [0, 1), got {list(betas)}"
        )
    for key in ("weight_decay", "eps", "dampening", "lr_decay"):
        value = _number(cfg, key)
        if value is not None and value < 0:
            raise ConfigError(f"optimizer.{key} must be >= 0, got {cfg[key]}")
    # rho, and RMSprop's alpha, are decay rates; AdEMAMix's alpha (it has betas) is a weight
    for key in ("rho",) if "betas" in cfg else ("alpha", "rho"):
        value = _number(cfg, key)
        if value is not None and not 0 <= value <= 1:
            raise ConfigError(f"optimizer.{key} must be in [0, 1], got {cfg[key]}")
    alpha = _number(cfg, "alpha")
    if alpha is not None and alpha < 0:
        raise ConfigError(f"optimizer.alpha must be >= 0, got {cfg['alpha']}")
    if cfg.get("nesterov") and not (momentum or 0) > 0:
        raise ConfigError(
            "optimizer.nesterov=true needs optimizer.momentum > 0 (try optimizer=nesterov)"
        )
    own_check = getattr(optimizer_class(cfg), "check_config", None)
    if callable(own_check):  # a factory's own keys (optimizer=muon: ns_steps, adamw.*)
        own_check(cfg)


NORM_LAYERS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
PARAM_KINDS = ("weight", "bias", "norm")


def parameter_kind(module: nn.Module, name: str) -> str:
    """norm (any parameter of a normalization layer), bias, or weight."""
    if isinstance(module, NORM_LAYERS):
        return "norm"
    return "bias" if name == "bias" else "weight"


def group_rules(rules: Mapping[str, Any]) -> tuple[set[str], dict[str, float]]:
    """``optimizer.param_groups`` read and checked: (kinds with no decay, lr multipliers)."""
    no_decay = set(rules.get("no_decay") or ())
    multipliers = dict(rules.get("lr_multipliers") or {})
    for kind in (*no_decay, *multipliers):
        if kind not in PARAM_KINDS:
            raise ConfigError(
                f"optimizer.param_groups: unknown kind {kind!r}; the kinds are {list(PARAM_KINDS)}"
            )
    return no_decay, multipliers


def param_groups(
    model: nn.Module,
    rules: Mapping[str, Any],
    base_lr: float | None,
    weight_decay: float | None = None,
) -> list[dict]:
    """The model's trainable parameters split by ``optimizer.param_groups``: no weight decay
    for the kinds in ``no_decay``, the lr times ``lr_multipliers[kind]``. The plain weights
    come first, so group 0 (what train/lr shows) has the optimizer's own lr and decay."""
    no_decay, multipliers = group_rules(rules)
    if not weight_decay:  # nothing to switch off: one group fewer to step
        no_decay = set()
    groups: dict[tuple[bool, float], dict[str, Any]] = {}
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad:
                continue
            kind = parameter_kind(module, name)
            key = (kind in no_decay, float(multipliers.get(kind, 1.0)))
            group = groups.setdefault(key, {"params": [], "kinds": set()})
            group["params"].append(parameter)
            group["kinds"].add(kind)
    result = []
    for (decay_off, multiplier), group in sorted(groups.items()):
        entry: dict[str, Any] = {
            "params": group["params"],
            "name": "+".join(sorted(group["kinds"])),
        }
        if decay_off:
            entry["weight_decay"] = 0.0
        if multiplier != 1.0 and base_lr is not None:
            entry["lr"] = base_lr * multiplier
        result.append(entry)
    return result


def describe_groups(
    groups: list[dict[str, Any]],
    base_lr: float | None = None,
    base_weight_decay: float | None = None,
) -> str:
    """``weight: 4 tensors 61,470 values; bias+norm: 5 tensors 230 values, wd 0``: each
    group's lr and weight decay where they differ from the optimizer's own (``base_*``; the
    first group's decay when not given)."""
    if base_weight_decay is None and groups:
        base_weight_decay = groups[0].get("weight_decay")
    parts = []
    for group in groups:
        count = sum(p.numel() for p in group["params"])
        text = f"{group.get('name', 'all')}: {len(group['params'])} tensors {count:,} values"
        if group.get("lr", base_lr) != base_lr:
            text += f", lr {group['lr']:g}"
        decay = group.get("weight_decay", base_weight_decay)
        if decay is not None and decay != (base_weight_decay or 0.0):
            text += f", wd {decay:g}"
        parts.append(text)
    return "; ".join(parts)


def build_optimizer(
    cfg: Mapping[str, Any], params: nn.Module | Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """Instantiate ``cfg`` (a ``_partial_`` of an optimizer class) for a model's parameters,
    grouped by ``cfg.param_groups``, or for a plain list of tensors (one group).

    A factory that declares ``model`` (optimizer=muon) splits the parameters itself: it is
    called with ``model=`` (the module or the list) and ``param_group_rules=cfg.param_groups``.
    """
    check_optimizer(cfg)
    settings = {k: v for k, v in cfg.items() if k not in OPTIMLAB_KEYS}
    rules = cfg.get("param_groups") or {}
    # _convert_=all: plain lists, not ListConfig, in param_groups, so checkpoints hold only
    # types torch.load(weights_only=True) accepts
    factory = instantiate({**settings, "_partial_": True, "_convert_": "all"})
    if _builds_own_groups(optimizer_class(cfg)):
        optimizer = factory(model=params, param_group_rules=rules)
    else:
        if isinstance(params, nn.Module):
            params = param_groups(params, rules, settings.get("lr"), settings.get("weight_decay"))
        optimizer = factory(params)
    return scale_lrs(optimizer, float(cfg.get("lr_scale", 1.0)))


def scaled_lr(cfg: Mapping[str, Any]) -> float | None:
    """The optimizer's own lr as a run uses it: ``lr`` times ``lr_scale``."""
    lr = _number(cfg, "lr")
    return None if lr is None else lr * float(cfg.get("lr_scale", 1.0))


def scale_lrs(optimizer: torch.optim.Optimizer, scale: float) -> torch.optim.Optimizer:
    """Every group's lr times ``optimizer.lr_scale``, before a schedule reads them.

    Scaling the built groups, not the config's ``lr``, moves every lr an optimizer has
    together (Muon's AdamW roles, per-group multipliers), so a study's lr grid is relative to
    each variant's own defaults.
    """
    if scale != 1.0:
        for group in optimizer.param_groups:
            group["lr"] = group["lr"] * scale
    return optimizer


def _builds_own_groups(target: Any) -> bool:
    """Whether an optimizer's ``_target_`` takes the model (and makes its own groups)."""
    try:
        return "model" in inspect.signature(target).parameters
    except (TypeError, ValueError):  # None (not importable), or no signature to read
        return False


# ---------------------------------------------------------------------------- run length
@dataclass(frozen=True)
class RunLength:
    """A run's length in optimizer steps: in all, and per epoch."""

    optimizer_steps: int
    steps_per_epoch: int
    planned_epochs: int | None = None  # max_epochs, when set (max_steps may end the run sooner)

    def in_schedule_steps(self, interval: str) -> tuple[int, int]:
        """(total, per epoch) counted in the schedule's own steps."""
        if interval == "step":
            return self.optimizer_steps, self.steps_per_epoch
        return math.ceil(self.optimizer_steps / self.steps_per_epoch), 1


def run_length(
    *,
    batches_per_epoch: int,
    max_epochs: int | None,
    max_steps: int | None = None,
    accumulate_grad_batches: int = 1,
) -> RunLength | None:
    """Lightning's count (Trainer.estimated_stepping_batches): the first reached of
    ``max_steps`` and ``max_epochs`` ends the run. None when neither limits it."""
    per_epoch = max(1, math.ceil(batches_per_epoch / accumulate_grad_batches))
    epochs = max_epochs if max_epochs is not None and max_epochs > 0 else None
    steps = per_epoch * epochs if epochs else None
    if max_steps is not None and max_steps > 0:
        steps = min(steps, max_steps) if steps else max_steps
    if steps is None:
        return None
    return RunLength(optimizer_steps=steps, steps_per_epoch=per_epoch, planned_epochs=epochs)


def trainer_run_length(trainer: L.Trainer) -> RunLength | None:
    """The run's length as the trainer will run it (after it has set up its data)."""
    trainer.estimated_stepping_batches  # noqa: B018  (sets up the training data once)
    batches = trainer.num_training_batches
    return run_length(
        batches_per_epoch=int(batches) if math.isfinite(batches) else 1,
        max_epochs=trainer.max_epochs,
        max_steps=trainer.max_steps,
        accumulate_grad_batches=trainer.accumulate_grad_batches,
    )


# ---------------------------------------------------------------------------- schedule
@dataclass(frozen=True)
class SchedulePlan:
    """A scheduler file split by owner and measured against the run."""

    target_args: dict[str, Any]  # what goes to the schedule's _target_
    lightning: dict[str, Any]  # interval, frequency, monitor, ... for Lightning
    warmup_steps: int = 0  # in schedule steps
    warmup_start_lr: float = 0.0
    factory_args: dict[str, Any] = field(default_factory=dict)  # total_steps, ... if declared
    needs_length: bool = False  # the schedule declares total_steps but the run has no end


def _warmup_steps(cfg: Mapping[str, Any], steps_per_epoch: int | None) -> int:
    """Warm-up length in schedule steps; ``warmup_steps`` wins over ``warmup_epochs``."""
    for key in ("warmup_steps", "warmup_epochs"):
        value = _number(cfg, key)
        if value is not None and value < 0:
            raise ConfigError(f"scheduler.{key} must be >= 0, got {cfg[key]}")
    if cfg.get("warmup_steps") is not None:
        return int(cfg["warmup_steps"])
    if cfg.get("warmup_epochs") is not None and steps_per_epoch is not None:
        return round(float(cfg["warmup_epochs"]) * steps_per_epoch)
    return 0


def _check_values(cfg: Mapping[str, Any]) -> None:
    gamma = _number(cfg, "gamma")
    if gamma is not None and not gamma > 0:
        raise ConfigError(f"scheduler.gamma must be > 0, got {cfg['gamma']}")
    factor = _number(cfg, "factor")
    if factor is not None and not 0 < factor < 1:
        raise ConfigError(f"scheduler.factor must be in (0, 1), got {cfg['factor']}; 0.5 is usual")
    for key in ("step_size", "T_0", "T_mult"):
        value = _number(cfg, key)
        if value is not None and value < 1:
            raise ConfigError(f"scheduler.{key} must be >= 1, got {cfg[key]}")
    for key in ("patience", "cooldown", "decay_rate", "min_lr", "final_lr", "eta_min"):
        value = _number(cfg, key)
        if value is not None and value < 0:
            raise ConfigError(f"scheduler.{key} must be >= 0, got {cfg[key]}")
    fraction = _number(cfg, "decay_fraction")
    if fraction is not None and not 0 < fraction <= 1:
        raise ConfigError(
            f"scheduler.decay_fraction must be in (0, 1], got {cfg['decay_fraction']}"
        )
    shape = cfg.get("decay_shape")
    if shape is not None and shape not in DECAY_SHAPES:
        raise ConfigError(
            f"scheduler.decay_shape must be one of {list(DECAY_SHAPES)}, got {shape!r}"
        )
    milestones = cfg.get("milestones")
    if milestones is not None:
        values = list(milestones)
        if not values or any(b <= a for a, b in itertools.pairwise(values)):
            raise ConfigError(
                f"scheduler.milestones must be increasing, got {values}; e.g. [15,30]"
            )
        if values[0] < 1:
            raise ConfigError(f"scheduler.milestones must be >= 1, got {values}")


def plan_schedule(cfg: Mapping[str, Any], length: RunLength | None) -> SchedulePlan:
    """Split ``cfg`` and check it against ``length`` (None: unknown yet, length checks wait).

    Raises ConfigError naming the key: a warm-up or milestones past the end of the run, a
    ``max_steps`` shorter than the warm-up, values no schedule accepts.
    """
    rest = dict(cfg)
    lightning = {key: rest.pop(key) for key in LIGHTNING_KEYS if key in rest}
    lightning.setdefault("interval", "epoch")
    interval = lightning["interval"]
    if interval not in INTERVALS:
        raise ConfigError(f"scheduler.interval must be one of {list(INTERVALS)}, got {interval!r}")
    if "_target_" not in rest:
        raise ConfigError("the scheduler config has no _target_; pick one with scheduler=<name>")
    if interval == "step" and lightning.get("monitor"):
        raise ConfigError(
            f"scheduler.interval=step with scheduler.monitor={lightning['monitor']}: a plateau "
            "schedule acts on a validation value, once per validation; keep "
            "scheduler.interval=epoch (its warm-up then counts epochs)"
        )
    _check_values(rest)
    warmup = {key: rest.pop(key) for key in WARMUP_KEYS if key in rest}
    max_steps = rest.pop("max_steps", None)
    try:
        wanted = inspect.signature(get_object(rest["_target_"])).parameters
    except Exception as error:
        raise ConfigError(
            f"scheduler._target_ {rest['_target_']!r} cannot be imported; check the scheduler file"
        ) from error
    if max_steps is not None and "total_steps" not in wanted:
        raise ConfigError(
            f"scheduler.max_steps does not apply to {rest['_target_']}, which has no length; "
            "drop it"
        )

    total, per_epoch = length.in_schedule_steps(interval) if length else (None, None)
    warmup_steps = _warmup_steps(warmup, per_epoch)
    horizon = int(max_steps) if max_steps is not None else total
    where = "optimizer steps" if interval == "step" else "epochs"
    if horizon is not None and warmup_steps > horizon:
        whose = "scheduler.max_steps" if max_steps is not None else "the whole run"
        given = "warmup_steps" if warmup.get("warmup_steps") is not None else "warmup_epochs"
        raise ConfigError(
            f"scheduler.{given}={warmup[given]} ({warmup_steps} {where}) is longer than {whose} "
            f"({horizon} {where}); shorten the warm-up or train longer"
        )
    fraction = rest.get("decay_fraction")
    if isinstance(fraction, int | float) and horizon is not None:
        decay = round(fraction * horizon)
        if decay > horizon - warmup_steps:
            raise ConfigError(
                f"scheduler.decay_fraction={fraction} ({decay} {where}) and the warm-up "
                f"({warmup_steps}) do not fit in the run ({horizon} {where}); lower one of them"
            )
    milestones = rest.get("milestones")
    if interval == "epoch" and length and length.planned_epochs:
        total = length.planned_epochs  # a max_steps cut does not make a recipe's milestones wrong
    if milestones and total is not None and list(milestones)[-1] > total - warmup_steps:
        after = " after the warm-up" if warmup_steps else ""
        raise ConfigError(
            f"scheduler.milestones {list(milestones)} go beyond the run ({total - warmup_steps} "
            f"{where}{after}, interval={interval}); lower them or train longer"
        )

    factory_args: dict[str, Any] = {}
    if horizon is not None:
        factory_args["total_steps"] = max(1, horizon - warmup_steps)  # what the warm-up leaves
        factory_args["run_steps"] = horizon  # the whole schedule, warm-up included
    if per_epoch is not None:
        factory_args["steps_per_epoch"] = per_epoch
    if lightning.get("monitor") is not None:
        factory_args["monitor"] = lightning["monitor"]
    factory_args = {k: v for k, v in factory_args.items() if k in wanted and k not in rest}
    return SchedulePlan(
        needs_length="total_steps" in wanted and horizon is None,
        target_args=rest,
        lightning={k: v for k, v in lightning.items() if v is not None},
        warmup_steps=warmup_steps,
        warmup_start_lr=float(warmup.get("warmup_start_lr") or 0.0),
        factory_args=factory_args,
    )


def build_lr_scheduler(
    optimizer: torch.optim.Optimizer,
    cfg: Mapping[str, Any] | None,
    length: RunLength | None = None,
    *,
    trainer: L.Trainer | None = None,
) -> dict[str, Any] | None:
    """The Lightning ``lr_scheduler`` dict for ``cfg``, or None for a constant LR.

    The run's length comes from ``length``, or else from ``trainer``.
    """
    if not cfg:
        return None
    check_schedule_free_schedule(optimizer, cfg)
    if length is None and trainer is not None:
        length = trainer_run_length(trainer)
    plan = plan_schedule(cfg, length)
    if plan.needs_length:
        raise ConfigError(
            f"{cfg['_target_']} needs the run's length, but trainer.max_epochs and "
            "trainer.max_steps are both -1; set one of them, or scheduler.max_steps"
        )
    schedule = instantiate({**plan.target_args, "_partial_": True, "_convert_": "all"})(
        optimizer, **plan.factory_args
    )
    plateau = isinstance(schedule, ReduceLROnPlateau)
    if plan.warmup_steps > 0:
        schedule = LinearWarmup(
            optimizer, schedule, warmup_steps=plan.warmup_steps, start_lr=plan.warmup_start_lr
        )
    config = {"scheduler": schedule, **plan.lightning}
    if plateau:
        config["reduce_on_plateau"] = True  # Lightning then passes the monitored value
    return config
