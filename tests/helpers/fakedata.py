"""Tiny data sets in the real on-disk formats, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import torch

from optimlab.data.fashion_mnist import FILES
from optimlab.data.idx import write_idx


def fake_images(count: int, *, num_classes: int = 10, size: int = 28, seed: int = 0):
    """Noisy images whose class is visible: class k lights up the k-th horizontal band."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % num_classes
    labels = labels[torch.randperm(count, generator=generator)]
    images = torch.randint(0, 60, (count, size, size), generator=generator, dtype=torch.uint8)
    band = size // num_classes
    for k in range(num_classes):
        images[labels == k, k * band : (k + 1) * band, :] += 180
    return images, labels.to(torch.uint8)


def write_fashion_mnist(
    directory: Path, *, train: int = 600, test: int = 200, gz: bool = True
) -> Path:
    """The four Fashion-MNIST IDX files, with ``train``/``test`` images each."""
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, count, seed in (("train", train, 0), ("test", test, 1)):
        images, labels = fake_images(count, seed=seed)
        images_name, labels_name = FILES[split]
        write_idx(directory / f"{images_name}{suffix}", images)
        write_idx(directory / f"{labels_name}{suffix}", labels)
    return directory
