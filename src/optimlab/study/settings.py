"""The ``study`` section of a study's config (conf/study/base.yaml documents each key)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from optimlab.errors import ConfigError

PROFILE_TIMES = ("wall_s", "step", "epoch")  # the keys of result.json's time_to_target


@dataclass(frozen=True)
class StudySettings:
    name: str
    question: str = ""
    variant_key: str = "optimizer"
    lr_key: str = "optimizer.lr_scale"
    workload_key: str | None = None
    profile_time: str = "wall_s"
    profile_max_tau: float = 10.0

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> StudySettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in dict(section).items() if k in known}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(f"study: unknown keys {unknown}; the keys are {sorted(known)}")
        settings = cls(**values)
        if settings.profile_time not in PROFILE_TIMES:
            raise ConfigError(
                f"study.profile_time must be one of {list(PROFILE_TIMES)}, "
                f"got {settings.profile_time!r}"
            )
        if not settings.profile_max_tau > 1:
            raise ConfigError(
                f"study.profile_max_tau must be > 1, got {settings.profile_max_tau}; 10 is usual"
            )
        return settings


def saved_name(study_dir: Path) -> str | None:
    """The study name a directory was made with (None: not a study's directory)."""
    try:
        return saved_settings(study_dir).name
    except ConfigError:
        return None


def saved_settings(study_dir: Path) -> StudySettings:
    """The settings a study ran with, from the multirun.yaml Hydra wrote into its directory."""
    path = study_dir / "multirun.yaml"
    if not path.is_file():
        raise ConfigError(
            f"{study_dir} has no multirun.yaml: give the directory of a study "
            "(outputs/studies/<name>), made by python train.py -m study=<name>"
        )
    section = OmegaConf.load(path).get("study")
    if section is None:
        raise ConfigError(f"{path} has no study section: that sweep was not a study")
    return StudySettings.from_config(OmegaConf.to_container(section, resolve=True))
