"""Resuming: rebuild a run's own config, and refuse a checkpoint made for another setup."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from optimlab.errors import ConfigError

COMPARED = ("net", "optimizer", "scheduler")  # what must match for a checkpoint to continue


def resumed_checkpoint(run_dir: str | Path) -> str:
    """The checkpoint a resumed run continues from."""
    return str(Path(str(run_dir)).expanduser() / "checkpoints" / "last.ckpt")


def interrupted_checkpoint(run_dir: Path) -> str | None:
    """The last.ckpt of a run killed in ``run_dir``, which a rerun there continues from.

    Only a continued sweep (``hydra.sweep.dir`` given, or a study) reruns a job in a directory
    that already holds one: finished jobs are skipped, an interrupted one picks up where it
    stopped instead of overwriting what it wrote.
    """
    checkpoint = Path(resumed_checkpoint(run_dir))
    return str(checkpoint) if checkpoint.is_file() else None


def is_resumed(cfg: DictConfig) -> bool:
    """Whether ``cfg`` already is the config ``resume_config`` made."""
    resume = cfg.get("resume")
    return bool(resume) and cfg.get("ckpt_path") == resumed_checkpoint(resume)


def original_choices(run_dir: Path) -> dict[str, str]:
    """The group options (optimizer=adam, ...) the run in ``run_dir`` was made with."""
    try:
        saved = OmegaConf.load(run_dir / ".hydra" / "hydra.yaml")
        return {str(k): str(v) for k, v in saved.hydra.runtime.choices.items()}
    except Exception:  # a run directory from an older layout: the options are unknown
        return {}


def resume_config(cfg: DictConfig) -> DictConfig:
    """The config of run ``cfg.resume``, pointed at its last.ckpt and this run's directory.

    Plain ``key=value`` overrides given with ``resume=...`` still apply (e.g. a longer
    ``trainer.max_epochs``); choosing another group option does not, since the checkpoint
    could not continue it.
    """
    run_dir = Path(str(cfg.resume)).expanduser()
    run_cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert isinstance(run_cfg, DictConfig)
    hydra = (
        cfg.hydra if "hydra" in cfg else HydraConfig.get() if HydraConfig.initialized() else None
    )
    overrides = list(hydra.overrides.task) if hydra else []
    groups = set(hydra.runtime.choices) if hydra else set()
    made_with = original_choices(run_dir)
    with open_dict(run_cfg):
        run_cfg.paths = cfg.paths
        run_cfg.ckpt_path = resumed_checkpoint(run_dir)
        run_cfg.resume = str(cfg.resume)  # names this run's directory: <run dir>_resumed
        for override in OverridesParser.create().parse_overrides(overrides):
            key = override.key_or_group
            if key == "resume":
                continue
            if key in groups:
                raise ConfigError(
                    f"{key}={override.value()} cannot change with resume=: the checkpoint was "
                    f"made with {key}={made_with.get(key, 'another option')}; start a new run"
                )
            OmegaConf.update(run_cfg, key, override.value(), force_add=True)
    return run_cfg


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    else:
        out[prefix] = list(value) if isinstance(value, list | tuple) else value


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``key: saved -> current`` for every compared setting that differs."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in COMPARED:
        _flatten(name, saved.get(name) or {}, before)
        _flatten(name, current.get(name) or {}, after)
    return [
        f"{key}: {before.get(key, '<unset>')} -> {after.get(key, '<unset>')}"
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    ]


def check_checkpoint_matches(ckpt_path: str, hparams: Mapping[str, Any]) -> None:
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    saved = checkpoint.get("hyper_parameters") or {}
    differences = config_differences(saved, hparams)
    if differences:
        shown = "; ".join(differences[:3]) + ("; ..." if len(differences) > 3 else "")
        raise ConfigError(
            f"ckpt_path {ckpt_path} was made with another setup ({shown}); resume with the same "
            "settings (resume=<run dir> reuses them) or start a new run without ckpt_path"
        )
