"""Training-batch augmentation on uint8 image tensors, vectorized and seeded.

Every image of a batch gets its own crop offset and flip, drawn from a CPU
``torch.Generator`` and applied by two gathers on whatever device the batch lives on:
no per-sample Python loop, no PIL, and the same seed gives the same pixels on CPU and GPU.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor

from optimlab.data import settings
from optimlab.errors import ConfigError

# (uint8 batch (N, C, H, W), generator) -> augmented batch of the same shape and dtype
BatchAugment = Callable[[Tensor, torch.Generator], Tensor]

DEFAULT_PADDING = 4  # the classic CIFAR recipe: pad 4 pixels, crop back to the original size
FLIP_PROBABILITY = 0.5


@dataclass(frozen=True)
class AugmentOptions:
    """What the ``augment`` config block of an image datamodule says (all off by default)."""

    random_crop_padding: int = 0  # zero padding on each side before the random crop; 0 = off
    horizontal_flip: bool = False  # mirror half of the images left-right

    def __post_init__(self) -> None:
        settings.non_negative_int(
            "augment.random_crop_padding",
            self.random_crop_padding,
            fix="0 turns it off, 4 is usual",
        )
        settings.flag("augment.horizontal_flip", self.horizontal_flip)

    @classmethod
    def parse(cls, value: AugmentOptions | Mapping[str, Any] | None) -> AugmentOptions:
        """Accept the config block (a mapping), an instance, or None (= no augmentation)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        known = {field.name for field in fields(cls)}
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"datamodule.augment must be a block of the keys {sorted(known)}, got {value!r}"
            )
        unknown = sorted(set(value) - known)
        if unknown:
            raise ConfigError(
                f"unknown datamodule.augment keys {unknown}; the keys are {sorted(known)}"
            )
        return cls(**value)

    @property
    def enabled(self) -> bool:
        return self.random_crop_padding > 0 or self.horizontal_flip


class RandomCropFlip:
    """Random crop with zero padding, then a random horizontal flip, per image.

    Equivalent to torchvision's ``RandomCrop(size, padding)`` + ``RandomHorizontalFlip()``
    applied image by image, but done for the whole batch at once: the output pixel (i, j)
    of image n is the input pixel (i + dy_n - p, j' + dx_n - p), where j' is j or W-1-j,
    and zero where that falls outside the image.
    """

    def __init__(self, padding: int = DEFAULT_PADDING, horizontal_flip: bool = True) -> None:
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.padding = padding
        self.horizontal_flip = horizontal_flip

    def __repr__(self) -> str:
        return f"RandomCropFlip(padding={self.padding}, horizontal_flip={self.horizontal_flip})"

    def _draw(self, count: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
        """Per-image (dy, dx, flip), drawn on the CPU so every device sees the same draws."""
        span = 2 * self.padding + 1
        if self.padding:
            dy = torch.randint(0, span, (count,), generator=generator)
            dx = torch.randint(0, span, (count,), generator=generator)
        else:
            dy = dx = torch.full((count,), 0, dtype=torch.int64)
        if self.horizontal_flip:
            flip = torch.rand(count, generator=generator) < FLIP_PROBABILITY
        else:
            flip = torch.zeros(count, dtype=torch.bool)
        return dy, dx, flip

    def __call__(self, images: Tensor, generator: torch.Generator) -> Tensor:
        if images.ndim != 4:
            raise ValueError(f"expected a batch (N, C, H, W), got shape {tuple(images.shape)}")
        n, c, h, w = images.shape
        if n == 0 or not (self.padding or self.horizontal_flip):
            return images
        device = images.device
        dy, dx, flip = (t.to(device, non_blocking=True) for t in self._draw(n, generator))
        i = torch.arange(h, device=device)
        j = torch.arange(w, device=device)
        rows = dy[:, None] + i - self.padding  # (N, H) source row of each output row
        cols_j = torch.where(flip[:, None], (w - 1) - j, j)  # (N, W) after the flip
        cols = dx[:, None] + cols_j - self.padding  # (N, W) source column
        row_ok = (rows >= 0) & (rows < h)
        col_ok = (cols >= 0) & (cols < w)
        out = images.gather(2, rows.clamp(0, h - 1).view(n, 1, h, 1).expand(n, c, h, w))
        out = out.gather(3, cols.clamp(0, w - 1).view(n, 1, 1, w).expand(n, c, h, w))
        inside = row_ok.view(n, 1, h, 1) & col_ok.view(n, 1, 1, w)
        return out.masked_fill_(~inside, 0)


# The classic CIFAR recipe: pad-4 random crop plus horizontal flip.
STANDARD_AUGMENT = AugmentOptions(random_crop_padding=DEFAULT_PADDING, horizontal_flip=True)


def build_augment(options: AugmentOptions | Mapping[str, Any] | None) -> BatchAugment | None:
    """The training-batch augmentation the options ask for, or None when it is off."""
    parsed = AugmentOptions.parse(options)
    if not parsed.enabled:
        return None
    return RandomCropFlip(parsed.random_crop_padding, parsed.horizontal_flip)
