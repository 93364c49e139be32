"""Random CIFAR-sized data in the official python-batch format (for offline benchmarks).

Pixels are noise: the benchmark measures speed, and neither the model step nor the data
path does work that depends on what the pixels show.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
PIXELS = 3 * 32 * 32
CLASSES = 10


def _write(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    payload = {b"data": images, b"labels": labels.tolist()}
    path.write_bytes(pickle.dumps(payload, protocol=2))  # the official files are protocol 2


def write_fake_cifar10(directory: Path, train: int, test: int = 1000, seed: int = 0) -> Path:
    """data_batch_1..5 (``train`` images in all), test_batch and batches.meta; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per_file = np.array_split(np.arange(train), len(TRAIN_FILES))
    for name, index in zip(TRAIN_FILES, per_file, strict=True):
        images = rng.integers(0, 256, (len(index), PIXELS), dtype=np.uint8)
        _write(directory / name, images, rng.integers(0, CLASSES, len(index)))
    images = rng.integers(0, 256, (test, PIXELS), dtype=np.uint8)
    _write(directory / "test_batch", images, rng.integers(0, CLASSES, test))
    names = [f"class{k}".encode() for k in range(CLASSES)]
    (directory / "batches.meta").write_bytes(
        pickle.dumps({b"label_names": names, b"num_vis": PIXELS}, protocol=2)
    )
    return directory
