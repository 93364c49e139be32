"""The base of every image datamodule: uint8 images held in memory, normalized per batch.

Every image datamodule shares nine config keys (``ImageOptions``); a subclass takes its
own source keys, forwards the rest as ``**options`` and sets their defaults in
``option_defaults``, so ``datamodule.batch_size`` and the others stay flat in the config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, ClassVar

import torch

from optimlab.data import settings
from optimlab.data.augment import AugmentOptions, build_augment
from optimlab.data.batches import BatchTransform
from optimlab.data.in_memory import InMemoryDataModule, Split
from optimlab.data.protocol import CLASSIFICATION
from optimlab.data.specs import ImageSpec
from optimlab.data.transforms import NormalizeImages, channel_stats
from optimlab.errors import ConfigError


@dataclass(frozen=True)
class ImageOptions:
    """The config keys every image datamodule shares, checked when they are set."""

    batch_size: int = 64
    eval_batch_size: int = 1024
    val_size: int = 5000  # training images held out for validation
    mean: Sequence[float] | None = None  # per channel, after /255; None: measured
    std: Sequence[float] | None = None
    augment: AugmentOptions | Mapping[str, Any] | None = None  # training batches only
    seed: int | None = 0
    split_seed: int = 0
    drop_last: bool = False

    def __post_init__(self) -> None:
        settings.non_negative_int(
            "val_size", self.val_size, fix="try datamodule.val_size=5000 (0: no validation)"
        )
        mean = settings.channel_values("mean", self.mean)
        std = settings.channel_values("std", self.std, positive=True)
        if (mean is None) != (std is None) or (mean and std and len(mean) != len(std)):
            raise ConfigError(
                "set both datamodule.mean and datamodule.std (one value per channel each), "
                "or both to null (null: measured on the training split)"
            )
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        object.__setattr__(self, "augment", AugmentOptions.parse(self.augment))

    def updated(self, overrides: Mapping[str, Any]) -> ImageOptions:
        """These options with ``overrides`` (config keys) applied and checked."""
        known = [field.name for field in fields(self)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown datamodule key(s) {unknown}; besides its source keys (data_dir, "
                f"...), an image datamodule takes {known}"
            )
        return replace(self, **overrides)


class InMemoryImageDataModule(InMemoryDataModule):
    """Loads each split once, holds it as uint8 (N, C, H, W), serves normalized batches.

    Subclasses say where the pixels come from (``load_split``) and how many training
    images there are (``full_train_size``); this class carves the validation images out
    of the training split (seeded by ``split_seed``, so every run validates on the same
    ones), augments training batches and normalizes every batch. ``mean``/``std`` of
    None mean "measure them on the training split".
    """

    task: ClassVar[str] = CLASSIFICATION
    spec: ImageSpec
    option_defaults: ClassVar[ImageOptions] = ImageOptions()

    def __init__(self, **options: Any) -> None:
        chosen = self.option_defaults.updated(options)
        super().__init__(
            batch_size=chosen.batch_size,
            eval_batch_size=chosen.eval_batch_size,
            seed=chosen.seed,
            split_seed=chosen.split_seed,
            drop_last=chosen.drop_last,
        )
        self.val_size = chosen.val_size
        self.augment = build_augment(chosen.augment)
        self._mean_std = (chosen.mean, chosen.std) if chosen.mean and chosen.std else None
        self._normalize: NormalizeImages | None = None

    # -- what a subclass provides ----------------------------------------------------------

    def load_split(self, split: str) -> Split:
        """Return (uint8 images (N, C, H, W), int64 labels) of ``train`` or ``test``."""
        raise NotImplementedError

    def full_train_size(self) -> int | None:
        """Images in the source's training split, before the validation images are taken
        out, known without loading them (None: only loading tells)."""
        raise NotImplementedError

    def training_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training split (for ``mean: null``)."""
        return channel_stats(self.load_split("train")[0])

    # -- sizes and splits ------------------------------------------------------------------

    def train_size(self) -> int | None:
        total = self.full_train_size()
        return None if total is None else self._rows_left_for_training(total)

    def _rows_left_for_training(self, total: int) -> int:
        if self.val_size >= total:
            raise ConfigError(
                f"datamodule.val_size={self.val_size} leaves no training data (the training "
                f"split has {total} images); lower datamodule.val_size"
            )
        return total - self.val_size

    def make_splits(self, names: Sequence[str]) -> dict[str, Split]:
        splits: dict[str, Split] = {}
        if {"train", "val"} & set(names):
            images, labels = self.load_split("train")
            self._rows_left_for_training(len(images))
            order = torch.randperm(
                len(images), generator=torch.Generator().manual_seed(self.split_seed)
            )
            val_index, train_index = order[: self.val_size], order[self.val_size :]
            splits["train"] = (images[train_index], labels[train_index])
            splits["val"] = (images[val_index], labels[val_index])
        if "test" in names:
            splits["test"] = self.load_split("test")
        return splits

    # -- normalization ---------------------------------------------------------------------

    @property
    def normalize(self) -> NormalizeImages:
        """The per-channel normalization, measuring the statistics first when asked to."""
        if self._normalize is None:
            mean, std = self._mean_std or self.training_stats()
            channels = self.spec.in_channels
            if len(mean) != channels:
                raise ConfigError(
                    f"datamodule.mean/std have {len(mean)} values but the images have "
                    f"{channels} channel(s); give one per channel, or null to measure them"
                )
            self._normalize = NormalizeImages(mean, std)
        return self._normalize

    def batch_transform(self) -> BatchTransform:
        return self.normalize
