"""Regression networks on feature vectors: D2L ch. 11's linear model and an MLP."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from optimlab.errors import ConfigError
from optimlab.models.init import initialize
from optimlab.models.layers import ACTIVATIONS, choose


class LinearRegression(nn.Module):
    """y = x w + b, initialized as in D2L ch. 11: w ~ N(0, 0.01^2), b = 0."""

    task = "regression"

    def __init__(
        self,
        in_features: int = 5,
        out_features: int = 1,
        init: str = "small_normal",
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        initialize(self, init, std=init_std)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x)


class MLP(nn.Module):
    """Fully connected layers with an activation (and optional dropout) between them."""

    task = "regression"

    def __init__(
        self,
        in_features: int = 5,
        out_features: int = 1,
        hidden: Sequence[int] = (64, 64),
        activation: str = "relu",
        dropout: float = 0.0,
        init: str = "default",
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {dropout}")
        act = choose("activation", activation, ACTIVATIONS)
        layers: list[nn.Module] = []
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), act()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)
        initialize(self, init, std=init_std)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
