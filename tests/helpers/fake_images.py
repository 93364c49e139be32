"""Tiny colour-image data sets in real on-disk formats, written by the tests themselves.

CIFAR-10's official python batches, and image folders (train/<class>/*, test/<class>/*)
as a tree or a tar archive.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from helpers.fakedata import fake_images
from optimlab.data.cifar10 import BATCH_FOLDER, CLASS_NAMES
from optimlab.data.cifar_batches import write_batches


def fake_rgb_images(
    count: int, *, size: int = 32, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (count, 3, size, size) with visible classes, and int64 labels 0..9."""
    grey, labels = fake_images(count, size=size, seed=seed)
    rgb = torch.stack([grey, grey.flip(-1), grey.transpose(-1, -2)], dim=1).contiguous()
    return rgb, labels.to(torch.int64)


def write_cifar10(
    directory: Path, *, train: int = 200, test: int = 50, nested: bool = True
) -> Path:
    """The official python batches (5 training batches, test_batch, batches.meta).

    With ``nested`` they go into directory/cifar-10-batches-py, as in the official archive.
    Returns ``directory``.
    """

    def split(count: int, seed: int) -> tuple[np.ndarray, list[int]]:
        images, labels = fake_rgb_images(count, seed=seed)
        return images.reshape(count, -1).numpy(), labels.tolist()

    batch_dir = directory / BATCH_FOLDER if nested else directory
    write_batches(batch_dir, split(train, 0), split(test, 1), CLASS_NAMES)
    return directory


def _encode(pixels: np.ndarray, mode: str, fmt: str) -> bytes:
    """pixels (H, W, C) uint8 -> the bytes of one image file."""
    image = Image.fromarray(pixels[..., 0] if mode == "L" else pixels, mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def image_tree_files(
    *,
    classes: Sequence[str] = ("cat", "dog", "frog"),
    counts: dict[str, int] | None = None,
    size: int | tuple[int, int] = 8,
    mode: str = "RGB",
    fmt: str = "PNG",
    seed: int = 0,
) -> dict[str, bytes]:
    """{relative path: file bytes} of an image folder; class k is brightest in band k."""
    counts = counts or {"train": 6, "test": 2}
    height, width = (size, size) if isinstance(size, int) else size
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    rng = np.random.default_rng(seed)
    suffix = {"PNG": "png", "JPEG": "jpg"}[fmt]
    files = {}
    for split, count in counts.items():
        for k, name in enumerate(classes):
            for i in range(count):
                pixels = rng.integers(0, 60, (height, width, channels), dtype=np.uint8)
                pixels[k % height] += 180
                if mode == "RGBA":
                    pixels[..., 3] = 255
                files[f"{split}/{name}/{i:04d}.{suffix}"] = _encode(pixels, mode, fmt)
    return files


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def write_archive(path: Path, files: dict[str, bytes], *, top: str | None = None) -> Path:
    """A tar (gzipped when the name says so) of ``files``, optionally inside folder ``top``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "w:gz" if path.name.endswith((".gz", ".tgz")) else "w"
    with tarfile.open(path, mode) as archive:
        for relative, data in reversed(list(files.items())):  # order must not matter
            info = tarfile.TarInfo(f"{top}/{relative}" if top else relative)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
