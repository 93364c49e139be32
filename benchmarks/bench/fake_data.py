"""Random data in the official file formats, for benchmarks that need no download.

Pixels are noise: the benchmark measures speed, and neither the model step nor the data
path does work that depends on what the pixels show. The files are written here, in the
formats the data sets publish, so the benchmark relies on no optimlab internals.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

NUM_CLASSES = 10
FASHION_SIZE = 28
CIFAR_CHANNELS, CIFAR_SIZE = 3, 32
FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch"
CIFAR_META_FILE = "batches.meta"
_IDX_UINT8 = 0x08


def write_idx(path: Path, array: np.ndarray) -> None:
    """A uint8 array as an IDX file (the MNIST format: magic, sizes, raw bytes)."""
    header = bytes([0, 0, _IDX_UINT8, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_fake_fashion_mnist(directory: Path, train: int, test: int = 1000, seed: int = 0) -> Path:
    """The four Fashion-MNIST IDX files (uncompressed), ``train``/``test`` images; returns
    ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("test", test)):
        images_name, labels_name = FASHION_FILES[split]
        pixels = rng.integers(0, 256, (count, FASHION_SIZE, FASHION_SIZE), dtype=np.uint8)
        write_idx(directory / images_name, pixels)
        write_idx(directory / labels_name, rng.integers(0, NUM_CLASSES, count, dtype=np.uint8))
    return directory


def write_fake_cifar10(directory: Path, train: int, test: int = 1000, seed: int = 0) -> Path:
    """CIFAR-10's python batches: data_batch_1..5 (``train`` images in all), test_batch and
    batches.meta, pickled as the official files are; returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    pixels = CIFAR_CHANNELS * CIFAR_SIZE * CIFAR_SIZE

    def dump(name: str, count: int) -> int:
        batch = {
            b"data": rng.integers(0, 256, (count, pixels), dtype=np.uint8),
            b"labels": rng.integers(0, NUM_CLASSES, count).tolist(),
        }
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
        return count

    sizes = [dump(name, len(part)) for name, part in zip(
        CIFAR_TRAIN_FILES, np.array_split(np.arange(train), len(CIFAR_TRAIN_FILES)), strict=True
    )]  # fmt: skip
    dump(CIFAR_TEST_FILE, test)
    meta: dict[bytes, object] = {
        b"label_names": [f"class{k}".encode() for k in range(NUM_CLASSES)],
        b"num_vis": pixels,
    }
    if len(set(sizes)) == 1:  # the official meta says 10000
        meta[b"num_cases_per_batch"] = sizes[0]
    (directory / CIFAR_META_FILE).write_bytes(pickle.dumps(meta, protocol=2))
    return directory
