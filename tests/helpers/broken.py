"""A network with a bug: its forward raises a plain ValueError, which is no user error and
must keep its traceback (loaded by ``model._target_=helpers.broken.ForwardRaises``)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn


class ForwardRaises(nn.Module):
    task = "regression"

    def __init__(self, in_features: int = 5, out_features: int = 1, **_: Any) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor) -> Tensor:
        raise ValueError("a bug inside the network's forward")
