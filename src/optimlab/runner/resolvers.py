"""OmegaConf resolvers the config files use; registered once before Hydra composes."""

from __future__ import annotations

from omegaconf import OmegaConf

from optimlab.optim.schedules import metric_mode


def run_tag(override_dirname: str) -> str:
    """A directory-safe name built from a run's overrides ('' for a default run)."""
    tag = override_dirname.replace("/", "-").replace("\\", "-")
    return f"_{tag}" if tag else ""


def register_resolvers() -> None:
    for name, resolver in (("metric_mode", metric_mode), ("run_tag", run_tag)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
