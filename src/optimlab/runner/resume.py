"""Resuming: rebuild a run's own config, and refuse a checkpoint made for another setup."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf, open_dict

from optimlab.runner.preflight import ConfigError

COMPARED = ("net", "optimizer", "scheduler")  # what must match for a checkpoint to continue


def resume_config(cfg: DictConfig) -> DictConfig:
    """The config of run ``cfg.resume``, pointed at its last.ckpt and this run's directory.

    Plain ``key=value`` overrides given with ``resume=...`` still apply (e.g. a longer
    ``trainer.max_epochs``); choosing another group option does not, since the checkpoint
    could not continue it.
    """
    run_dir = Path(str(cfg.resume)).expanduser()
    run_cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert isinstance(run_cfg, DictConfig)
    overrides: list[str] = []
    if HydraConfig.initialized():
        overrides = list(HydraConfig.get().overrides.task)
    groups = set(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else set()
    with open_dict(run_cfg):
        run_cfg.paths = cfg.paths
        run_cfg.ckpt_path = str(run_dir / "checkpoints" / "last.ckpt")
        run_cfg.resume = None
        for override in OverridesParser.create().parse_overrides(overrides):
            key = override.key_or_group
            if key == "resume":
                continue
            if key in groups:
                raise ConfigError(
                    f"{key}={override.value()} cannot change with resume=: the checkpoint was "
                    f"made with {key}={HydraConfig.get().runtime.choices[key]}; start a new run"
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
