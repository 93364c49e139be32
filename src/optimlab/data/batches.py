"""Batches served straight from tensors held in memory.

The whole split lives in one uint8 tensor; a batch is one index operation plus a
vectorized augmentation and transform, so there is no per-sample Python work and no
worker process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from optimlab.data.augment import BatchAugment

BatchTransform = Callable[[Tensor], Tensor]

# Streams of random numbers drawn per (seed, epoch, rank); a new use gets a new number.
AUGMENT_STREAM = 1
_SEED_BITS = 64


def derived_generator(*keys: int) -> torch.Generator:
    """A CPU generator seeded by mixing ``keys`` (numpy's SeedSequence: no overlaps)."""
    entropy = [key % 2**_SEED_BITS for key in keys]  # SeedSequence takes non-negative ints
    (state,) = np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state))


class EpochSampler:
    """Seeded order of one epoch, sharded across ranks.

    Lightning calls ``set_epoch`` on a loader's ``sampler`` at the start of every epoch
    (also after a resume), so the order depends only on (seed, epoch): runs are
    reproducible and each DDP rank sees its own, equally long shard.
    """

    def __init__(
        self,
        num_samples: int,
        *,
        shuffle: bool,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside [0, {world_size})")
        self.num_samples = num_samples
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        # training pads the shards to one length (every rank takes as many optimizer steps);
        # evaluation does not, so each example is counted exactly once across ranks
        self.pad = pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def generator(self, stream: int) -> torch.Generator:
        """Random numbers that depend only on (seed, epoch, rank, stream): resume-safe."""
        return derived_generator(self.seed, self.epoch, self.rank, stream)

    @property
    def shard_size(self) -> int:
        if self.pad:
            return math.ceil(self.num_samples / self.world_size)
        return len(range(self.rank, self.num_samples, self.world_size))

    def indices(self) -> Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        if not self.pad:
            return order[self.rank :: self.world_size]
        padded = self.shard_size * self.world_size
        if padded > self.num_samples:  # wrap around so every rank gets as many samples
            order = torch.cat([order, order[: padded - self.num_samples]])
        return order[self.rank : padded : self.world_size]


def count_batches(examples: int, batch_size: int, drop_last: bool) -> int:
    """Batches in an epoch of ``examples`` (the last one short unless ``drop_last``)."""
    return examples // batch_size if drop_last else math.ceil(examples / batch_size)


class TensorBatchLoader:
    """An iterable of (inputs, targets) batches cut from in-memory tensors.

    ``augment`` (training only) sees the raw uint8 batch and a generator seeded from the
    sampler's (seed, epoch, rank), so augmented epochs are reproducible and survive a
    resume; ``transform`` (normalization) runs after it. Lightning looks for a
    DataLoader's ``sampler`` (to call ``set_epoch``) and ``batch_sampler`` attributes;
    this class has both.
    """

    batch_sampler = None

    def __init__(
        self,
        inputs: Tensor,
        targets: Tensor,
        *,
        batch_size: int,
        sampler: EpochSampler,
        transform: BatchTransform | None = None,
        augment: BatchAugment | None = None,
        drop_last: bool = False,
    ) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if len(inputs) != len(targets):
            raise ValueError(f"{len(inputs)} inputs but {len(targets)} targets")
        self.inputs = inputs
        self.targets = targets
        self.batch_size = batch_size
        self.sampler = sampler
        self.transform = transform
        self.augment = augment
        self.drop_last = drop_last

    def __len__(self) -> int:
        return count_batches(self.sampler.shard_size, self.batch_size, self.drop_last)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self.sampler.indices().to(self.inputs.device)
        generator = self.sampler.generator(AUGMENT_STREAM) if self.augment else None
        for batch in range(len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            # index_select, not inputs[index]: advanced indexing costs 20x more on a CPU
            inputs = self.inputs.index_select(0, index)
            if self.augment is not None:
                inputs = self.augment(inputs, generator)  # type: ignore[arg-type]
            if self.transform is not None:
                inputs = self.transform(inputs)
            yield inputs, self.targets.index_select(0, index)
