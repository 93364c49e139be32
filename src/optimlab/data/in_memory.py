"""The base of every in-memory datamodule, image or tabular: whole splits held as tensors.

Batches are cut from the held tensors by one index operation (``TensorBatchLoader``), in
an order that depends only on (seed, epoch) and is sharded across DDP ranks
(``EpochSampler``). The tensors move to the training device once and stay there.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import ClassVar

import lightning as L
import torch
from torch import Tensor

from optimlab.data import settings
from optimlab.data.augment import BatchAugment
from optimlab.data.batches import BatchTransform, EpochSampler, TensorBatchLoader
from optimlab.data.protocol import DataSpec

SPLITS = ("train", "val", "test")
# the splits each Lightning stage reads (None: every one)
STAGE_SPLITS: dict[str | None, tuple[str, ...]] = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("test",),
    None: SPLITS,
}
_SEED_RANGE = 2**31

# (inputs, targets) of one split
Split = tuple[Tensor, Tensor]


def resolve_seed(seed: int | None) -> int:
    """``seed: null`` in the config means a random run; the data order follows suit."""
    return seed if seed is not None else random.SystemRandom().randrange(_SEED_RANGE)


class InMemoryDataModule(L.LightningDataModule):
    """Holds the train/val/test splits as (inputs, targets) tensors and serves batches.

    A subclass says what it holds (``task``, ``spec``), how to make the splits
    (``make_splits``) and what it knows before loading (``train_size``, ``check_files``).
    This class owns the rest: which splits a stage needs, the loaders with their seeded
    order and DDP shards, the per-device copies, the batch sizes and ``drop_last``.
    Images add augmentation and normalization through ``augment`` and
    ``batch_transform()``, which are read once per loader, never per batch.
    """

    task: ClassVar[str]
    spec: DataSpec
    augment: BatchAugment | None = None  # training batches only

    def __init__(
        self,
        *,
        batch_size: int,
        eval_batch_size: int,
        seed: int | None = 0,
        split_seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        self.batch_size = settings.positive_int(
            "batch_size", batch_size, fix="try datamodule.batch_size=64"
        )
        self.eval_batch_size = settings.positive_int(
            "eval_batch_size", eval_batch_size, fix="try datamodule.eval_batch_size=1024"
        )
        self.seed = resolve_seed(
            settings.optional_int("seed", seed, fix="or null for a random one")
        )
        self.split_seed = settings.integer(
            "split_seed", split_seed, fix="it fixes which examples are held out; try 0"
        )
        self.drop_last = settings.flag("drop_last", drop_last)
        self._splits: dict[str, Split] = {}
        self._device_cache: dict[tuple[str, str], Split] = {}

    # -- what a subclass provides ----------------------------------------------------------

    def make_splits(self, names: Sequence[str]) -> dict[str, Split]:
        """The splits ``names`` (a subset of train/val/test), loaded; more may be returned."""
        raise NotImplementedError

    def train_size(self) -> int | None:
        """Training examples, known without loading the data (None: only loading tells)."""
        raise NotImplementedError

    def check_files(self) -> None:
        """Refuse, before anything is written, data that loading could only fail on."""
        raise NotImplementedError

    def batch_transform(self) -> BatchTransform | None:
        """What every batch goes through after augmentation (images: normalization)."""
        return None

    # -- splits ----------------------------------------------------------------------------

    def setup(self, stage: str | None = None) -> None:
        missing = [name for name in STAGE_SPLITS.get(stage, SPLITS) if name not in self._splits]
        if missing:
            self._splits.update(self.make_splits(missing))

    def split_size(self, split: str) -> int:
        return len(self._splits[split][0])

    # -- loaders ---------------------------------------------------------------------------

    def _placement(self) -> tuple[torch.device, int, int]:
        """(device, rank, world size) of the run; one CPU process without a trainer."""
        trainer = self.trainer
        if trainer is None:
            return torch.device("cpu"), 0, 1
        return trainer.strategy.root_device, trainer.global_rank, trainer.world_size

    def _tensors(self, split: str, device: torch.device) -> Split:
        key = (split, str(device))
        if key not in self._device_cache:
            inputs, targets = self._splits[split]
            self._device_cache[key] = (inputs.to(device), targets.to(device))
        return self._device_cache[key]

    def _loader(self, split: str, *, batch_size: int, training: bool) -> TensorBatchLoader:
        device, rank, world_size = self._placement()
        inputs, targets = self._tensors(split, device)
        sampler = EpochSampler(
            len(inputs),
            shuffle=training,
            seed=self.seed,
            rank=rank,
            world_size=world_size,
            pad=training,  # no repeated examples in validation and test
        )
        return TensorBatchLoader(
            inputs,
            targets,
            batch_size=batch_size,
            sampler=sampler,
            transform=self.batch_transform(),
            augment=self.augment if training else None,
            drop_last=self.drop_last and training,
        )

    def train_dataloader(self) -> TensorBatchLoader:
        return self._loader("train", batch_size=self.batch_size, training=True)

    def val_dataloader(self) -> TensorBatchLoader:
        return self._loader("val", batch_size=self.eval_batch_size, training=False)

    def test_dataloader(self) -> TensorBatchLoader:
        return self._loader("test", batch_size=self.eval_batch_size, training=False)
