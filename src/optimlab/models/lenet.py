"""LeNet-5 as in D2L ch. 11: the classic (sigmoid, average pooling) or the modern one."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from optimlab.models.init import initialize
from optimlab.models.layers import ACTIVATIONS, POOLS, choose


class LeNet(nn.Module):
    """conv 6@5x5 (pad 2), pool, conv 16@5x5, pool, dense 120-84-classes.

    The default (ReLU + max-pool) is D2L ch. 11's "modern" LeNet; ``activation=sigmoid,
    pool=avg`` is LeCun's original. Any square input size works (28x28 grey, 32x32 RGB).
    """

    task = "classification"

    def __init__(
        self,
        in_channels: int = 1,
        image_size: int = 28,
        num_classes: int = 10,
        activation: str = "relu",
        pool: str = "max",
        init: str = "default",
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        act = choose("activation", activation, ACTIVATIONS)
        pool_cls = choose("pool", pool, POOLS)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2),
            act(),
            pool_cls(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            act(),
            pool_cls(kernel_size=2, stride=2),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, image_size, image_size)).shape[1]
        self.classifier = nn.Sequential(
            nn.Linear(flat, 120),
            act(),
            nn.Linear(120, 84),
            act(),
            nn.Linear(84, num_classes),
        )
        initialize(self, init, std=init_std)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
