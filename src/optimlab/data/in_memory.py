"""The shared shape of every image datamodule: whole splits held in memory as uint8."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from torch import Tensor

from optimlab.data.augment import AugmentOptions, BatchAugment, build_augment
from optimlab.data.batches import EpochSampler, TensorBatchLoader
from optimlab.data.transforms import NormalizeImages, channel_stats


@dataclass(frozen=True)
class ImageSpec:
    """What a model must know about the data it is built for."""

    in_channels: int
    image_size: int
    num_classes: int
    class_names: tuple[str, ...]
    task: str = "classification"

    def model_kwargs(self) -> dict[str, int]:
        return {
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "num_classes": self.num_classes,
        }


class InMemoryImageDataModule(L.LightningDataModule):
    """Loads each split once, holds it as uint8 (N, C, H, W), serves batches by indexing.

    Subclasses say where the pixels come from (``load_split``); this class owns the
    validation split, augmentation of training batches, normalization, sharding and
    device placement. ``mean``/``std`` of None mean "measure them on the training split".
    """

    spec: ImageSpec

    def __init__(
        self,
        *,
        batch_size: int,
        eval_batch_size: int,
        val_size: int,
        mean: Sequence[float] | None,
        std: Sequence[float] | None,
        augment: AugmentOptions | Mapping[str, Any] | None = None,
        seed: int | None = 0,
        split_seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        if batch_size <= 0 or eval_batch_size <= 0:
            raise ValueError(
                f"batch sizes must be positive (batch_size={batch_size}, "
                f"eval_batch_size={eval_batch_size}); set datamodule.batch_size to e.g. 256"
            )
        if val_size < 0:
            raise ValueError(f"datamodule.val_size must be >= 0, got {val_size}")
        if (mean is None) != (std is None):
            raise ValueError(
                "set both datamodule.mean and datamodule.std, or both to null "
                "(null: measured on the training split)"
            )
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.val_size = val_size
        # seed=null in the config means a random run; the data order follows suit
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.split_seed = split_seed
        self.drop_last = drop_last
        self.augment: BatchAugment | None = build_augment(augment)
        self._mean_std = (list(mean), list(std)) if mean is not None and std is not None else None
        self._normalize: NormalizeImages | None = None
        self._splits: dict[str, tuple[Tensor, Tensor]] = {}
        self._device_cache: dict[tuple[str, str], tuple[Tensor, Tensor]] = {}

    def load_split(self, split: str) -> tuple[Tensor, Tensor]:
        """Return (uint8 images (N, C, H, W), int64 labels) of ``train`` or ``test``."""
        raise NotImplementedError

    def training_stats(self) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of the training split (for ``mean: null``)."""
        return channel_stats(self.load_split("train")[0])

    @property
    def normalize(self) -> NormalizeImages:
        """The per-channel normalization, measuring the statistics first when asked to."""
        if self._normalize is None:
            mean, std = self._mean_std or self.training_stats()
            channels = self.spec.in_channels
            if len(mean) != channels:
                raise ValueError(
                    f"datamodule.mean/std have {len(mean)} values but the images have "
                    f"{channels} channel(s); give one per channel, or null to measure them"
                )
            self._normalize = NormalizeImages(mean, std)
        return self._normalize

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and "train" not in self._splits:
            images, labels = self.load_split("train")
            if self.val_size >= len(images):
                raise ValueError(
                    f"datamodule.val_size={self.val_size} leaves no training data "
                    f"(the training split has {len(images)} images)"
                )
            order = torch.randperm(
                len(images), generator=torch.Generator().manual_seed(self.split_seed)
            )
            val_index, train_index = order[: self.val_size], order[self.val_size :]
            self._splits["train"] = (images[train_index], labels[train_index])
            self._splits["val"] = (images[val_index], labels[val_index])
        if stage in (None, "test", "predict") and "test" not in self._splits:
            self._splits["test"] = self.load_split("test")

    def split_size(self, split: str) -> int:
        return len(self._splits[split][0])

    def _tensors(self, split: str, device: torch.device) -> tuple[Tensor, Tensor]:
        key = (split, str(device))
        if key not in self._device_cache:
            images, labels = self._splits[split]
            self._device_cache[key] = (images.to(device), labels.to(device))
        return self._device_cache[key]

    def _loader(
        self, split: str, *, batch_size: int, shuffle: bool, augment: BatchAugment | None = None
    ) -> TensorBatchLoader:
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        images, labels = self._tensors(split, device)
        sampler = EpochSampler(
            len(images), shuffle=shuffle, seed=self.seed, rank=rank, world_size=world_size
        )
        return TensorBatchLoader(
            images,
            labels,
            batch_size=batch_size,
            sampler=sampler,
            transform=self.normalize,
            augment=augment,
            drop_last=self.drop_last and shuffle,
        )

    def train_dataloader(self) -> TensorBatchLoader:
        return self._loader("train", batch_size=self.batch_size, shuffle=True, augment=self.augment)

    def val_dataloader(self) -> TensorBatchLoader:
        return self._loader("val", batch_size=self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> TensorBatchLoader:
        return self._loader("test", batch_size=self.eval_batch_size, shuffle=False)
