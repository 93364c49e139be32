"""Reader (and writer) for CIFAR-10's official "python version" batches, with md5 checks.

The batches are pickles of dicts ({b"data": uint8 (N, 3072), b"labels": [int]}). They are
read with an unpickler that only builds numpy arrays, so a stray file in data_dir cannot
run code.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from optimlab.data.errors import ChecksumError, DataFormatError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
META_FILE = "batches.meta"
CHANNELS, SIZE = 3, 32
NUM_CLASSES = 10

# What the official pickles (and numpy 1/2 re-pickles of them) may reference: array
# reconstruction and bytes decoding, nothing that can act on the machine.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        module = module.replace("numpy.core.", "numpy._core.")  # numpy 2 moved them
        return super().find_class(module, name)


def official_md5() -> dict[str, str]:
    """The md5 of every official file, as torchvision knows them."""
    from torchvision.datasets import CIFAR10

    known = {name: md5 for name, md5 in (*CIFAR10.train_list, *CIFAR10.test_list)}
    return {**known, CIFAR10.meta["filename"]: CIFAR10.meta["md5"]}


def verify_md5(path: Path, expected: str) -> None:
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "md5").hexdigest()
    if digest != expected:
        raise ChecksumError(
            f"{path}: md5 {digest} is not the official {expected} (a truncated or corrupt "
            "download); delete it and download again, or set datamodule.checksum=false "
            "if you made this file yourself"
        )


def _unpickle(path: Path) -> dict[Any, Any]:
    try:
        obj = _ArrayUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except Exception as error:  # any unpickling failure means "not this format"
        raise DataFormatError(
            f"{path}: not a CIFAR-10 python batch (cannot be unpickled: {error})"
        ) from error
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: not a CIFAR-10 python batch (holds a {type(obj)})")
    return obj


def read_batch(path: Path) -> tuple[Tensor, Tensor]:
    """One batch file as (uint8 images (N, 3, 32, 32), int64 labels)."""
    obj = _unpickle(path)
    data, labels = obj.get(b"data"), obj.get(b"labels")
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataFormatError(f"{path}: not a CIFAR-10 python batch (no b'data' array/b'labels')")
    pixels = CHANNELS * SIZE * SIZE
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != pixels:
        raise DataFormatError(
            f"{path}: b'data' is {data.dtype} {data.shape}, not uint8 (N, {pixels})"
        )
    targets = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    if targets.shape != (len(data),):
        raise DataFormatError(f"{path}: {len(data)} images but {len(targets)} labels")
    if len(targets) and not 0 <= int(targets.min()) <= int(targets.max()) < NUM_CLASSES:
        raise DataFormatError(f"{path}: labels outside 0..{NUM_CLASSES - 1}")
    images = torch.from_numpy(np.ascontiguousarray(data)).view(-1, CHANNELS, SIZE, SIZE)
    return images, targets


def read_label_names(path: Path) -> tuple[str, ...]:
    names = _unpickle(path).get(b"label_names")
    if not isinstance(names, list) or len(names) != NUM_CLASSES:
        raise DataFormatError(f"{path}: no list of {NUM_CLASSES} b'label_names'")
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def read_cases_per_batch(path: Path) -> int | None:
    """batches.meta's images per training batch (the official one says 10000), or None."""
    count = _unpickle(path).get(b"num_cases_per_batch")
    return count if isinstance(count, int) and count > 0 else None


def write_batches(
    directory: Path,
    train: tuple[np.ndarray, Sequence[int]],
    test: tuple[np.ndarray, Sequence[int]],
    label_names: Sequence[str],
) -> Path:
    """Write (uint8 (N, 3072) pixels, labels) for training and test in the official layout:
    data_batch_1..5 (the training rows split in order), test_batch, batches.meta. For data
    made elsewhere (tests, offline benchmarks); returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)

    def dump(name: str, obj: dict[bytes, Any]) -> None:
        # protocol 2, as the official files
        (directory / name).write_bytes(pickle.dumps(obj, protocol=2))

    images, labels = train
    batches = np.array_split(np.arange(len(images)), len(TRAIN_FILES))
    for name, index in zip(TRAIN_FILES, batches, strict=True):
        dump(name, {b"data": images[index], b"labels": [int(labels[i]) for i in index]})
    images, labels = test
    dump(TEST_FILES[0], {b"data": images, b"labels": [int(label) for label in labels]})
    meta: dict[bytes, Any] = {
        b"label_names": [name.encode() for name in label_names],
        b"num_vis": CHANNELS * SIZE * SIZE,
    }
    if len({len(index) for index in batches}) == 1:  # the official meta says 10000
        meta[b"num_cases_per_batch"] = len(batches[0])
    dump(META_FILE, meta)
    return directory
