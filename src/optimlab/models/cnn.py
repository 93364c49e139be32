"""A plain CNN: blocks of [conv (+BatchNorm) + activation] x n, then pooling; dropout; dense."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from optimlab.errors import ConfigError
from optimlab.models.init import initialize
from optimlab.models.layers import ACTIVATIONS, choose


class CNN(nn.Module):
    """The ApX CIFAR-10 practice's network by default: conv 32@3x3, ReLU, pool, conv 64@3x3, ReLU,
    pool, dropout 0.5, dense. ``widths`` sets the blocks, ``convs_per_block`` the depth,
    ``batch_norm`` adds BatchNorm after each conv (as in the practice's experiment).
    """

    task = "classification"

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 64),
        convs_per_block: int = 1,
        kernel_size: int = 3,
        padding: int = 0,
        batch_norm: bool = False,
        activation: str = "relu",
        dropout: float = 0.5,
        hidden: int | None = None,
        init: str = "default",
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        if not widths or convs_per_block < 1:
            raise ConfigError("a CNN needs at least one block (model.widths) of >= 1 conv")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {dropout}")
        act = choose("activation", activation, ACTIVATIONS)
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            for _ in range(convs_per_block):
                layers.append(
                    nn.Conv2d(channels, width, kernel_size, padding=padding, bias=not batch_norm)
                )
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(act())
                channels = width
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        layers.append(nn.Flatten())
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
        head: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            head += [nn.Linear(flat, hidden), act(), nn.Dropout(dropout)]
            flat = hidden
        head.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*head)
        initialize(self, init, std=init_std)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
