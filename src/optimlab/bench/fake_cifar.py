"""Random CIFAR-sized data in the official python-batch format (for offline benchmarks).

Pixels are noise: the benchmark measures speed, and neither the model step nor the data
path does work that depends on what the pixels show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optimlab.data.cifar_batches import CHANNELS, NUM_CLASSES, SIZE, write_batches


def write_fake_cifar10(directory: Path, train: int, test: int = 1000, seed: int = 0) -> Path:
    """data_batch_1..5 (``train`` images in all), test_batch and batches.meta; returns it."""
    rng = np.random.default_rng(seed)

    def split(count: int) -> tuple[np.ndarray, np.ndarray]:
        pixels = rng.integers(0, 256, (count, CHANNELS * SIZE * SIZE), dtype=np.uint8)
        return pixels, rng.integers(0, NUM_CLASSES, count)

    names = [f"class{k}" for k in range(NUM_CLASSES)]
    return write_batches(directory, split(train), split(test), names)
