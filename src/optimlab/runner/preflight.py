"""Refuse a bad configuration before any data is loaded or any directory is written.

Each check raises ConfigError with one line: what is wrong and how to fix it. Checks only
look at keys that exist, so the same preflight serves train, eval and the scripts.
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from optimlab.errors import ConfigError
from optimlab.models.init import INIT_SCHEMES
from optimlab.optim.lr_schedulers import INTERVALS

# what each kind of task logs (a plateau monitor or optimized_metric must be one of these)
LOGGED_METRICS = {
    "classification": ["train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best"],
    "regression": [
        f"{stage}/{name}"
        for stage in ("train", "val")
        for name in ("loss", "mse", "rmse", "mae", "r2", "rmse_raw", "mae_raw")
    ],
}
# official training-split sizes, to refuse a batch larger than the data before loading it
OFFICIAL_TRAIN_SIZES = {
    "optimlab.data.FashionMNISTDataModule": 60_000,
    "optimlab.data.fashion_mnist.FashionMNISTDataModule": 60_000,
    "optimlab.data.CIFAR10DataModule": 50_000,
    "optimlab.data.cifar10.CIFAR10DataModule": 50_000,
}
AIRFOIL_ROWS = 1503


def _fail(message: str) -> None:
    raise ConfigError(message)


def _number(section: Mapping[str, Any], key: str) -> float | None:
    value = section.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def check_optimizer(opt: Mapping[str, Any]) -> None:
    lr = _number(opt, "lr")
    if lr is not None and not lr > 0:
        _fail(f"optimizer.lr must be > 0, got {opt['lr']}; try optimizer.lr=0.01")
    momentum = _number(opt, "momentum")
    if momentum is not None and not 0 <= momentum < 1:
        _fail(f"optimizer.momentum must be in [0, 1), got {opt['momentum']}; 0.9 is usual")
    betas = opt.get("betas")
    valid = betas is None or (
        len(betas) == 2 and all(isinstance(b, int | float) and 0 <= b < 1 for b in betas)
    )
    if not valid:
        _fail(f"optimizer.betas must be two numbers in [0, 1), got {list(betas)}")
    for key in ("weight_decay", "eps", "dampening", "lr_decay"):
        value = _number(opt, key)
        if value is not None and value < 0:
            _fail(f"optimizer.{key} must be >= 0, got {opt[key]}")
    for key in ("alpha", "rho"):
        value = _number(opt, key)
        if value is not None and not 0 <= value <= 1:
            _fail(f"optimizer.{key} must be in [0, 1], got {opt[key]}")
    if opt.get("nesterov") and not (momentum or 0) > 0:
        _fail("optimizer.nesterov=true needs optimizer.momentum > 0 (try optimizer=nesterov)")


def check_scheduler(sched: Mapping[str, Any], trainer: Mapping[str, Any]) -> None:
    if not sched:
        return
    interval = sched.get("interval", "epoch")
    if interval not in INTERVALS:
        _fail(f"scheduler.interval must be one of {list(INTERVALS)}, got {interval!r}")
    max_epochs = trainer.get("max_epochs")
    epochs = max_epochs if isinstance(max_epochs, int) and max_epochs > 0 else None
    for key in ("warmup_steps", "warmup_epochs"):
        value = _number(sched, key)
        if value is not None and value < 0:
            _fail(f"scheduler.{key} must be >= 0, got {sched[key]}")
    warmup_epochs = _number(sched, "warmup_epochs")
    if sched.get("warmup_steps") is None and warmup_epochs and epochs and warmup_epochs > epochs:
        _fail(
            f"scheduler.warmup_epochs={sched['warmup_epochs']} is longer than the whole run "
            f"(trainer.max_epochs={epochs}); shorten the warm-up or train longer"
        )
    warmup_steps = _number(sched, "warmup_steps")
    if interval == "epoch" and warmup_steps and epochs and warmup_steps > epochs:
        _fail(
            f"scheduler.warmup_steps={sched['warmup_steps']} epochs (interval=epoch) is longer "
            f"than the whole run (trainer.max_epochs={epochs}); shorten the warm-up"
        )
    milestones = sched.get("milestones")
    if milestones is not None:
        values = list(milestones)
        if not values or any(b <= a for a, b in itertools.pairwise(values)):
            _fail(f"scheduler.milestones must be increasing, got {values}; e.g. [15,30]")
        if values[0] < 1:
            _fail(f"scheduler.milestones must be >= 1, got {values}")
        if interval == "epoch" and epochs and values[-1] > epochs:
            _fail(
                f"scheduler.milestones {values} go beyond the run (trainer.max_epochs={epochs}); "
                "lower them or train longer"
            )
    for key in ("gamma", "factor"):
        value = _number(sched, key)
        if value is not None and not value > 0:
            _fail(f"scheduler.{key} must be > 0, got {sched[key]}")
    for key in ("step_size", "T_0", "T_mult"):
        value = _number(sched, key)
        if value is not None and value < 1:
            _fail(f"scheduler.{key} must be >= 1, got {sched[key]}")
    for key in ("patience", "cooldown", "decay_rate", "min_lr", "final_lr", "eta_min"):
        value = _number(sched, key)
        if value is not None and value < 0:
            _fail(f"scheduler.{key} must be >= 0, got {sched[key]}")


def task_kind(cfg: Mapping[str, Any]) -> str | None:
    """classification or regression, from the model class (known without building anything)."""
    target = (cfg.get("model") or {}).get("_target_")
    if not target:
        return None
    try:
        return getattr(get_class(target), "task", None)
    except Exception:
        _fail(f"model._target_ {target!r} cannot be imported; check the model config")
    return None


def data_kind(cfg: Mapping[str, Any]) -> str | None:
    target = (cfg.get("datamodule") or {}).get("_target_")
    if not target:
        return None
    try:
        datamodule = get_class(target)
    except Exception:
        _fail(f"datamodule._target_ {target!r} cannot be imported; check the datamodule config")
    spec = datamodule.__dict__.get("spec") or getattr(datamodule, "spec", None)
    kind = getattr(spec, "task", None)
    return kind if isinstance(kind, str) else "classification"  # image folders: a property


def check_task(cfg: Mapping[str, Any]) -> None:
    model, data = task_kind(cfg), data_kind(cfg)
    if model and data and model != data:
        name = cfg["model"]["_target_"].rsplit(".", 1)[-1]
        fitting = (
            "model=lenet, model=cnn" if data == "classification" else "model=linear, model=mlp"
        )
        _fail(
            f"model {name} is a {model} model but the datamodule holds {data} data; "
            f"pick a {data} model ({fitting})"
        )
    kind = model or data
    if kind is None:
        return
    logged = LOGGED_METRICS[kind]
    metric = cfg.get("optimized_metric")
    if metric and metric not in logged:
        _fail(f"optimized_metric={metric!r} is not logged by a {kind} run; choose one of {logged}")
    monitor = (cfg.get("scheduler") or {}).get("monitor")
    if monitor and monitor not in logged:
        _fail(
            f"scheduler.monitor={monitor!r} is not logged by a {kind} run; choose one of {logged}"
        )
    init = (cfg.get("model") or {}).get("init")
    if init is not None and init not in INIT_SCHEMES:
        _fail(f"model.init={init!r} is unknown; choose one of {list(INIT_SCHEMES)}")
    dropout = _number(cfg.get("model") or {}, "dropout")
    if dropout is not None and not 0 <= dropout < 1:
        _fail(f"model.dropout must be in [0, 1), got {cfg['model']['dropout']}")


def train_size(data: Mapping[str, Any]) -> int | None:
    """Training-split size known from the config alone (None for a user's image folder)."""
    target = data.get("_target_", "")
    size = OFFICIAL_TRAIN_SIZES.get(target)
    val_size = data.get("val_size")
    if size is not None and isinstance(val_size, int):
        size -= val_size
    if target.endswith("AirfoilDataModule"):
        if data.get("mode") == "d2l":
            return data.get("d2l_rows")
        held_out = (data.get("val_fraction") or 0) + (data.get("test_fraction") or 0)
        size = int(AIRFOIL_ROWS * (1 - held_out))
    return size


def run_steps(cfg: Mapping[str, Any]) -> int | None:
    """Optimizer steps of the whole run, as Lightning will count them, if the config says:
    the first reached of max_steps and max_epochs' worth of steps ends it."""
    trainer = cfg.get("trainer") or {}
    data = cfg.get("datamodule") or {}
    max_steps = trainer.get("max_steps")
    max_steps = max_steps if isinstance(max_steps, int) and max_steps > 0 else None
    size, batch, epochs = train_size(data), data.get("batch_size"), trainer.get("max_epochs")
    if not (size and isinstance(batch, int) and isinstance(epochs, int) and epochs > 0):
        return max_steps
    batches = size // batch if data.get("drop_last") else math.ceil(size / batch)
    limit = trainer.get("limit_train_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        batches = min(batches, limit)
    elif isinstance(limit, float):
        batches = int(batches * limit)
    accumulate = trainer.get("accumulate_grad_batches") or 1
    steps = max(1, batches // accumulate) * epochs
    return min(steps, max_steps) if max_steps else steps


def check_schedule_length(cfg: Mapping[str, Any]) -> None:
    """Per-step warm-up and milestones against the run's length in steps."""
    sched = cfg.get("scheduler") or {}
    if sched.get("interval", "epoch") != "step":
        return
    steps = run_steps(cfg)
    if steps is None:
        return
    warmup = _number(sched, "warmup_steps")
    if warmup and warmup > steps:
        _fail(
            f"scheduler.warmup_steps={sched['warmup_steps']} is longer than the whole run "
            f"({steps} optimizer steps); shorten the warm-up or train longer"
        )
    milestones = sched.get("milestones")
    if milestones and list(milestones)[-1] > steps:
        _fail(
            f"scheduler.milestones {list(milestones)} go beyond the run ({steps} optimizer "
            "steps, interval=step); lower them or train longer"
        )


def check_data_files(cfg: Mapping[str, Any]) -> None:
    """The datamodule's constructor checks (it loads nothing), then its own check of
    data_dir: file names, IDX headers, airfoil's 60 KB sha1."""
    from optimlab.data.errors import DataError

    data = cfg.get("datamodule") or {}
    target = data.get("_target_")
    if not target or any("${" in str(value) for value in data.values()):
        return
    try:
        cls = get_class(target)
    except Exception:
        return  # check_task has said what is wrong with the target
    accepted = inspect.signature(cls).parameters
    try:
        datamodule = cls(**{k: v for k, v in data.items() if k in accepted})
        if hasattr(datamodule, "check_files"):
            datamodule.check_files()
    except (DataError, ValueError) as error:
        _fail(str(error))


def check_data(cfg: Mapping[str, Any]) -> None:
    data = cfg.get("datamodule") or {}
    for key in ("batch_size", "eval_batch_size"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or value <= 0):
            _fail(f"datamodule.{key} must be a positive integer, got {value}")
    val_size = data.get("val_size")
    if val_size is not None and (not isinstance(val_size, int) or val_size < 0):
        _fail(f"datamodule.val_size must be an integer >= 0, got {val_size}")
    total = OFFICIAL_TRAIN_SIZES.get(data.get("_target_", ""))
    if total is not None and isinstance(val_size, int) and val_size >= total:
        _fail(f"datamodule.val_size={val_size} leaves no training data ({total} images)")
    train_size_ = train_size(data)
    batch = data.get("batch_size")
    if train_size_ and isinstance(batch, int) and batch > train_size_:
        _fail(
            f"datamodule.batch_size={batch} is larger than the training split "
            f"({train_size_} samples); lower it"
        )
    data_dir = data.get("data_dir")
    folder = Path(str(data_dir)).expanduser() if data_dir else None
    archive = str(data_dir).endswith((".tar.gz", ".tgz", ".tar"))
    if folder and folder.exists() and not folder.is_dir() and not archive:
        _fail(f"datamodule.data_dir={data_dir} is a file, not a directory")


def check_trainer(trainer: Mapping[str, Any]) -> None:
    max_epochs = trainer.get("max_epochs")
    if isinstance(max_epochs, int) and (max_epochs == 0 or max_epochs < -1):
        _fail(f"trainer.max_epochs must be > 0 (or -1 for no limit), got {max_epochs}")
    for key in ("log_every_n_steps", "accumulate_grad_batches", "check_val_every_n_epoch"):
        value = trainer.get(key)
        if isinstance(value, int) and value < 1:
            _fail(f"trainer.{key} must be >= 1, got {value}")
    clip = _number(trainer, "gradient_clip_val")
    if clip is not None and clip < 0:
        _fail(f"trainer.gradient_clip_val must be >= 0, got {trainer['gradient_clip_val']}")
    algorithm = trainer.get("gradient_clip_algorithm")
    if algorithm is not None and algorithm not in ("norm", "value"):
        _fail(f"trainer.gradient_clip_algorithm must be norm or value, got {algorithm!r}")
    accelerator = trainer.get("accelerator")
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            _fail("trainer.accelerator=gpu but no CUDA GPU is visible; use trainer=cpu")


def check_paths(cfg: Mapping[str, Any]) -> None:
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not Path(str(ckpt_path)).expanduser().is_file():
        _fail(f"ckpt_path={ckpt_path} does not exist; point it at a .ckpt file")
    resume = cfg.get("resume")
    if resume:
        run_dir = Path(str(resume)).expanduser()
        if not (run_dir / ".hydra" / "config.yaml").is_file():
            _fail(f"resume={resume} is not a run directory (no .hydra/config.yaml in it)")
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():
            _fail(f"resume={resume} has no checkpoints/last.ckpt to resume from")
        if ckpt_path:
            _fail("give resume=<run dir> or ckpt_path=<file>, not both")
    if cfg.get("test_ckpt") not in (None, "best", "last"):
        _fail(f"test_ckpt must be best or last, got {cfg['test_ckpt']!r}")
    seed = cfg.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        _fail(f"seed must be a non-negative integer or null, got {seed!r}")


CHECKS: list[Callable[[Mapping[str, Any]], None]] = [
    lambda c: check_optimizer(c.get("optimizer") or {}),
    lambda c: check_scheduler(c.get("scheduler") or {}, c.get("trainer") or {}),
    check_task,
    check_data,
    lambda c: check_trainer(c.get("trainer") or {}),
    check_schedule_length,
    check_paths,
    check_data_files,  # last: it may read a file
]


def _plain(cfg: DictConfig) -> dict[str, Any]:
    """Resolved sections; a section that needs the run's Hydra context stays unresolved."""
    plain: dict[str, Any] = {}
    for key in cfg:
        if key == "hydra":
            continue
        node = cfg._get_node(key)
        if not OmegaConf.is_config(node):
            try:
                plain[key] = cfg[key]
            except Exception:
                plain[key] = None
            continue
        try:
            plain[key] = OmegaConf.to_container(node, resolve=True)
        except Exception:  # e.g. ${hydra:runtime.output_dir} before the run exists
            plain[key] = OmegaConf.to_container(node, resolve=False)
    return plain


def preflight(cfg: DictConfig | Mapping[str, Any]) -> None:
    """Raise ConfigError for the first problem found in ``cfg`` (the job's config)."""
    plain = _plain(cfg) if isinstance(cfg, DictConfig) else dict(cfg)
    for check in CHECKS:
        check(plain)
