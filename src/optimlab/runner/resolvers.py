"""OmegaConf resolvers the config files use; registered once before Hydra composes."""

from __future__ import annotations

import hashlib

from omegaconf import OmegaConf

from optimlab.metrics import metric_mode

# Characters kept in run-directory names: a path made of these can be pasted into a Hydra
# override unquoted (ckpt_path=...), which "=", "," and brackets would break.
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+")


MAX_TAG = 120  # file names stop at 255 bytes; a long override list is cut and hashed


def run_tag(override_dirname: str) -> str:
    """``_optimizer-adam+scheduler-cosine_warmup`` from a run's overrides ('' if none)."""
    tag = "".join(c if c in _SAFE else "-" for c in override_dirname)
    if len(tag) > MAX_TAG:
        digest = hashlib.sha1(tag.encode()).hexdigest()[:8]
        tag = f"{tag[:MAX_TAG]}...{digest}"
    return f"_{tag}" if tag else ""


def register_resolvers() -> None:
    for name, resolver in (("metric_mode", metric_mode), ("run_tag", run_tag)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
