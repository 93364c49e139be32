"""Refuse a bad configuration before any data is loaded or any directory is written.

It runs once per run: Hydra calls ``Preflight`` (conf/hydra/default.yaml) before it makes
the run directory, and in-process callers call ``preflight(cfg)``. It keeps the checks that
belong to no one else (trainer, paths, which model fits which data) and asks the owners for
the rest: the optimizer and schedule builders (optim/build.py) with the run's length, the task
for what it logs, the datamodule for its size and its files. Every refusal is a ConfigError
(or a DataError) with one line naming the key and a fix.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import InstantiationException
from hydra.experimental.callback import Callback
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from optimlab.config import to_plain
from optimlab.data.batches import EpochSampler, count_batches
from optimlab.errors import EXIT_BAD_INPUT, ConfigError, OptimlabError
from optimlab.models import INIT_SCHEMES
from optimlab.optim.build import check_optimizer, plan_schedule, run_length
from optimlab.optim.schedule_free import check_schedule_free_schedule, optimizer_class
from optimlab.runner.resume import is_resumed, original_choices, resume_config
from optimlab.runner.value_checks import check_values
from optimlab.study.settings import StudySettings
from optimlab.tasks import TASKS

MODEL_DIR = Path(__file__).resolve().parents[3] / "conf" / "model"


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_trainer(trainer: Mapping[str, Any]) -> None:
    max_epochs = trainer.get("max_epochs")
    if isinstance(max_epochs, int) and (max_epochs == 0 or max_epochs < -1):
        raise ConfigError(f"trainer.max_epochs must be > 0 (or -1 for no limit), got {max_epochs}")
    for key in ("log_every_n_steps", "accumulate_grad_batches", "check_val_every_n_epoch"):
        value = trainer.get(key)
        if isinstance(value, int) and value < 1:
            raise ConfigError(f"trainer.{key} must be >= 1, got {value}")
    clip = trainer.get("gradient_clip_val")
    if isinstance(clip, int | float) and clip < 0:
        raise ConfigError(f"trainer.gradient_clip_val must be >= 0, got {clip}")
    algorithm = trainer.get("gradient_clip_algorithm")
    if algorithm is not None and algorithm not in ("norm", "value"):
        raise ConfigError(
            f"trainer.gradient_clip_algorithm must be norm or value, got {algorithm!r}"
        )
    if trainer.get("accelerator") in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("trainer.accelerator=gpu but no CUDA GPU is visible; use trainer=cpu")


def check_paths(cfg: Mapping[str, Any]) -> None:
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path and not Path(str(ckpt_path)).expanduser().is_file():
        raise ConfigError(f"ckpt_path={ckpt_path} does not exist; point it at a .ckpt file")
    resume = cfg.get("resume")
    if resume:
        run_dir = Path(str(resume)).expanduser()
        if not (run_dir / ".hydra" / "config.yaml").is_file():
            raise ConfigError(f"resume={resume} is not a run directory (no .hydra/config.yaml)")
        if not (run_dir / "checkpoints" / "last.ckpt").is_file():
            raise ConfigError(f"resume={resume} has no checkpoints/last.ckpt to resume from")
    if cfg.get("test_ckpt") not in (None, "best", "last"):
        raise ConfigError(f"test_ckpt must be best or last, got {cfg['test_ckpt']!r}")
    seed = cfg.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer or null, got {seed!r}")


def check_target(cfg: Mapping[str, Any]) -> None:
    """target is a number the optimized metric can reach (its direction follows the metric)."""
    target, metric = cfg.get("target"), cfg.get("optimized_metric")
    if target is None:
        return
    if isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target):
        raise ConfigError(
            f"target must be a number (a value of optimized_metric, e.g. target=0.85 for "
            f"val/acc) or null, got {target!r}"
        )
    if not metric:
        raise ConfigError("target is a value of optimized_metric, which is null; set both")


def _class(section: str, target: str) -> type:
    try:
        return get_class(target)
    except Exception as error:
        raise ConfigError(
            f"{section}._target_ {target!r} cannot be imported; check the {section} config"
        ) from error


def models_for(kind: str) -> list[str]:
    """The model options whose network does ``kind`` (for the error message)."""
    from omegaconf import OmegaConf

    names = []
    for path in sorted(MODEL_DIR.glob("*.yaml")):
        target = OmegaConf.load(path).get("_target_")
        if target and getattr(get_class(target), "task", None) == kind:
            names.append(f"model={path.stem}")
    return names


def check_model(model: Mapping[str, Any], data_kind: str) -> None:
    """The network does what the data asks (classification or regression), with valid options."""
    model_cls = _class("model", model["_target_"])
    kind = getattr(model_cls, "task", data_kind)
    if kind != data_kind:
        raise ConfigError(
            f"model {model_cls.__name__} is a {kind} model but the datamodule holds {data_kind} "
            f"data; pick a {data_kind} model ({', '.join(models_for(data_kind))})"
        )
    init = model.get("init")
    if init is not None and init not in INIT_SCHEMES:
        raise ConfigError(f"model.init={init!r} is unknown; choose one of {list(INIT_SCHEMES)}")
    dropout = model.get("dropout")
    if isinstance(dropout, int | float) and not 0 <= dropout < 1:
        raise ConfigError(f"model.dropout must be in [0, 1), got {dropout}")


def check_logged(cfg: Mapping[str, Any], kind: str) -> None:
    """optimized_metric and a plateau monitor must be metrics the task logs (it says which)."""
    logged = list(TASKS[kind].logged_metrics)
    for key, metric in (
        ("optimized_metric", cfg.get("optimized_metric")),
        ("scheduler.monitor", (cfg.get("scheduler") or {}).get("monitor")),
    ):
        if metric and metric not in logged:
            raise ConfigError(
                f"{key}={metric!r} is not logged by a {kind} run; choose one of {logged}"
            )


def build_datamodule(section: Mapping[str, Any]) -> Any:
    """The configured datamodule (its constructor loads nothing), or the user's mistake."""
    try:
        return instantiate(section)
    except InstantiationException as error:
        cause = error.__cause__
        if isinstance(cause, OptimlabError):
            raise cause from None
        raise ConfigError(f"datamodule: {' '.join(str(cause or error).split())}") from error


def _world_size(trainer: Mapping[str, Any]) -> int:
    devices, nodes = trainer.get("devices"), trainer.get("num_nodes") or 1
    if not str(trainer.get("strategy", "")).startswith("ddp") or not isinstance(devices, int):
        return 1
    return max(1, devices) * nodes


def check_data(cfg: Mapping[str, Any], datamodule: Any) -> int | None:
    """The data is there and holds a batch; returns the training batches per epoch (per rank)."""
    datamodule.check_files()
    size = datamodule.train_size()
    data, trainer = cfg.get("datamodule") or {}, cfg.get("trainer") or {}
    batch = data.get("batch_size")
    if size is None or not _positive_int(batch):
        return None
    if batch > size:
        raise ConfigError(
            f"datamodule.batch_size={batch} is larger than the training split ({size} "
            "examples); lower it"
        )
    # what the training loader will serve each rank (optimlab.data.batches)
    shard = EpochSampler(size, shuffle=True, seed=0, world_size=_world_size(trainer)).shard_size
    batches = count_batches(shard, batch, bool(data.get("drop_last")))
    limit = trainer.get("limit_train_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        batches = min(batches, limit)
    elif isinstance(limit, float):
        batches = int(batches * limit)
    return batches


def check_schedule(cfg: Mapping[str, Any], batches_per_epoch: int | None) -> None:
    """The schedule against the run's length, with the same function that builds it."""
    scheduler = cfg.get("scheduler")
    if not scheduler:
        return
    check_schedule_free_schedule(optimizer_class(cfg.get("optimizer") or {}), scheduler)
    trainer = cfg.get("trainer") or {}
    length = None
    if batches_per_epoch:
        length = run_length(
            batches_per_epoch=batches_per_epoch,
            max_epochs=trainer.get("max_epochs"),
            max_steps=trainer.get("max_steps"),
            accumulate_grad_batches=trainer.get("accumulate_grad_batches") or 1,
        )
    plan_schedule(scheduler, length)


def check_callbacks(callbacks: Mapping[str, Any]) -> None:
    """optimlab's callbacks check their settings when built: build them now, before the
    run directory exists."""
    for spec in callbacks.values():
        if isinstance(spec, Mapping) and str(spec.get("_target_")).startswith("optimlab."):
            try:
                instantiate(spec)
            except InstantiationException as error:
                if isinstance(error.__cause__, ConfigError):
                    raise error.__cause__ from None
                raise


def check(cfg: Mapping[str, Any]) -> None:
    """Raise ConfigError (or DataError) for the first problem in a plain config."""
    check_values(cfg)  # first: the checks below may compare what they read
    check_trainer(cfg.get("trainer") or {})
    check_paths(cfg)
    check_target(cfg)
    if "optimizer" in cfg:
        check_optimizer(cfg["optimizer"])
    check_callbacks(cfg.get("callbacks") or {})
    if cfg.get("study") is not None:
        StudySettings.from_config(cfg["study"])
    if not (cfg.get("datamodule") or {}).get("_target_"):
        return
    data_cls = _class("datamodule", cfg["datamodule"]["_target_"])
    kind = data_cls.task
    if (cfg.get("model") or {}).get("_target_"):
        check_model(cfg["model"], kind)
    check_logged(cfg, kind)
    batches = check_data(cfg, build_datamodule(cfg["datamodule"]))
    check_schedule(cfg, batches)


def preflight(cfg: DictConfig) -> DictConfig:
    """Check ``cfg`` and return the config to run: ``cfg`` itself, or with ``resume=<run>``
    the config of that run pointed at its last.ckpt."""
    if cfg.get("resume") and not is_resumed(cfg):
        if cfg.get("ckpt_path"):
            raise ConfigError("give resume=<run dir> or ckpt_path=<file>, not both")
        check_paths({"resume": cfg.resume})
        cfg = resume_config(cfg)
    check(to_plain(cfg, exclude=("hydra",)))
    return cfg


def refuse(error: OptimlabError) -> None:
    """One line and exit code 2: what a user sees for a config refused before the run."""
    print(f"error: {' '.join(str(error).split())}", file=sys.stderr, flush=True)
    sys.exit(EXIT_BAD_INPUT)


def _ddp_in_multirun(config: DictConfig) -> str | None:
    """Lightning's DDP launcher re-runs the command line per rank: with -m, the whole sweep."""
    trainer = config.get("trainer") or {}
    strategy = str(trainer.get("strategy", ""))
    devices = trainer.get("devices", 1)
    launcher = str(config.hydra.launcher.get("_target_", ""))
    count = len(devices) if OmegaConf.is_list(devices) else devices
    several = count in (-1, "auto") or (isinstance(count, int) and count > 1)
    several = several or (trainer.get("num_nodes") or 1) > 1
    spawned = strategy.startswith("ddp") and "spawn" not in strategy and several
    if spawned and "submitit" not in launcher:  # SLURM starts one task per device itself
        return (
            f"trainer.strategy={strategy} with {devices} devices in a multirun (-m) would "
            "start the whole sweep again in every rank; use trainer.strategy=ddp_spawn, "
            "hydra/launcher=slurm, or run the jobs one by one without -m"
        )
    return None


def _sweep_job_overrides(config: DictConfig) -> list[list[str]] | None:
    """The jobs to check before a sweep starts: every job of Hydra's basic sweeper; for an
    Optuna search, trials that together pick every choice and both ends of every range
    (after the search's own settings are checked). None for other sweepers."""
    sweeper = str(config.hydra.sweeper.get("_target_", ""))
    if sweeper.endswith("OptunaSweeper"):
        from optimlab.search.sweeper import check_search  # Optuna: only for a search

        return check_search(config)
    if not sweeper.endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    # as the sweeper builds its grid: the config's hydra.sweeper.params (a study's grid),
    # then the command line's overrides, which replace a param of the same key
    params = config.hydra.sweeper.get("params") or {}
    overrides = [f"{key}={value}" for key, value in params.items()]
    overrides += OmegaConf.to_container(config.hydra.overrides.task, resolve=False)  # type: ignore[arg-type]
    parsed = OverridesParser.create().parse_overrides(overrides=overrides)
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    first: dict[tuple[str, ...], list[str]] = {}
    for job in jobs:
        first.setdefault(tuple(_without_seed(job)), job)
    return list(first.values())


def _without_seed(job: list[str]) -> list[str]:
    """A job's overrides but its seed: jobs that differ only in seed pass or fail together,
    so a study of 3 seeds is checked once per setting (each check composes a config)."""
    return [o for o in job if o.split("=", 1)[0] != "seed"]


class Preflight(Callback):
    """Hydra calls this before it makes the run directory: a refused run writes nothing."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            checked = preflight(config)
        except OptimlabError as error:
            refuse(error)
        if checked is not config:  # resume=<run>: this run continues that run's config
            with read_write(config), open_dict(config):
                for key in checked:
                    if key != "hydra":
                        config[key] = checked[key]
                config.hydra.runtime.choices.update(original_choices(Path(str(config.resume))))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Every job of a basic sweep is checked before the first starts; a search, at the
        corners of its space (each trial's optimizer and schedule are checked again where
        they are built)."""
        loader = GlobalHydra.instance().config_loader()
        params = config.hydra.sweeper.get("params") or {}
        given = [*(f"{k}={v}" for k, v in params.items()), *config.hydra.overrides.task]
        swept = {o.split("=", 1)[0] for o in given if "," in o}
        try:
            jobs = _sweep_job_overrides(config)
            ddp_problem = _ddp_in_multirun(config)
            if ddp_problem:
                raise ConfigError(ddp_problem)
            if jobs is None:
                preflight(config)
            for job in jobs or []:
                try:
                    preflight(loader.load_sweep_config(config, job))
                except OptimlabError as error:
                    choice = " ".join(o for o in job if o.split("=", 1)[0] in swept)
                    raise ConfigError(f"{error} (in a sweep job: {choice})") from error
        except OptimlabError as error:
            refuse(error)
