"""Batches served straight from tensors held in memory.

The whole split lives in one uint8 tensor; a batch is one index operation plus a
vectorized transform, so there is no per-sample Python work and no worker process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

BatchTransform = Callable[[Tensor], Tensor]


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
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside [0, {world_size})")
        self.num_samples = num_samples
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def shard_size(self) -> int:
        return math.ceil(self.num_samples / self.world_size)

    def indices(self) -> Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_samples, generator=generator)
        else:
            order = torch.arange(self.num_samples)
        padded = self.shard_size * self.world_size
        if padded > self.num_samples:  # wrap around so every rank gets as many samples
            order = torch.cat([order, order[: padded - self.num_samples]])
        return order[self.rank : padded : self.world_size]


class TensorBatchLoader:
    """An iterable of (inputs, targets) batches cut from in-memory tensors.

    Lightning looks for a DataLoader's ``sampler`` (to call ``set_epoch``) and
    ``batch_sampler`` attributes; this class has both.
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
        self.drop_last = drop_last

    def __len__(self) -> int:
        size = self.sampler.shard_size
        return size // self.batch_size if self.drop_last else math.ceil(size / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self.sampler.indices().to(self.inputs.device)
        for batch in range(len(self)):
            index = order[batch * self.batch_size : (batch + 1) * self.batch_size]
            inputs = self.inputs[index]
            if self.transform is not None:
                inputs = self.transform(inputs)
            yield inputs, self.targets[index]
