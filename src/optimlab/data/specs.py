"""The specs of optimlab's datamodules: the sizes a network is built with (see protocol.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from optimlab.data.protocol import CLASSIFICATION, REGRESSION


@dataclass(frozen=True)
class ImageSpec:
    """Square images in classes."""

    in_channels: int
    image_size: int
    num_classes: int
    class_names: tuple[str, ...]
    task: ClassVar[str] = CLASSIFICATION

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.in_channels, self.image_size, self.image_size)

    @property
    def num_outputs(self) -> int:
        return self.num_classes  # one logit per class

    def model_kwargs(self) -> dict[str, int]:
        return {
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "num_classes": self.num_classes,
        }


@dataclass(frozen=True)
class RegressionSpec:
    """Rows of features with continuous targets."""

    num_features: int
    num_outputs: int
    task: ClassVar[str] = REGRESSION

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.num_features,)

    def model_kwargs(self) -> dict[str, int]:
        return {"in_features": self.num_features, "out_features": self.num_outputs}
