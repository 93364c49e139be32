"""Optimizers from config: a ``_partial_`` of any optimizer class, bound to parameters here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from hydra.utils import instantiate


def build_optimizer(
    cfg: Mapping[str, Any], params: Iterable[torch.nn.Parameter]
) -> torch.optim.Optimizer:
    """Instantiate ``cfg`` (a Hydra ``_target_`` node) for ``params``."""
    if "_target_" not in cfg:
        raise ValueError("the optimizer config has no _target_; pick one with optimizer=<name>")
    # _convert_=all: plain lists, not ListConfig, in param_groups, so checkpoints hold only
    # types torch.load(weights_only=True) accepts
    factory = instantiate({**cfg, "_partial_": True, "_convert_": "all"})
    return factory(params)
