"""The classic recipe (c): a torchvision dataset of PIL images, per-sample transforms,
a DataLoader with worker processes, and a plain training loop.

It reads the same files optimlab reads, found where the datamodule config says they are
(``data_dir``, then ``system_dir``). Fashion-MNIST goes through torchvision's own
``FashionMNIST`` class (the files decompressed into a temporary folder, which is what
torchvision expects). CIFAR-10 goes through torchvision's ``CIFAR10.__getitem__`` over
the python batches, unpickled as torchvision does; the class is handed the arrays directly
because its loader refuses files whose md5 is not the official one (the benchmark's fake
data).
"""

from __future__ import annotations

import gzip
import pickle
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets, transforms
from torchvision.datasets.vision import VisionDataset

from bench.fake_data import CIFAR_TRAIN_FILES, FASHION_FILES

CIFAR_PADDING = 4  # the classic CIFAR augmentation: RandomCrop(32, padding=4)
CIFAR_FOLDER = "cifar-10-batches-py"  # the folder inside the official archive
RECIPES = ("fashion_mnist", "cifar10")  # the datamodule configs with a classic recipe here


def _roots(section: DictConfig) -> list[Path]:
    """data_dir, then system_dir, as the datamodule config names them."""
    keys = ("data_dir", "system_dir")
    return [Path(str(section[key])).expanduser() for key in keys if section.get(key)]


def _file(directory: Path, name: str) -> Path | None:
    return next((p for p in (directory / name, directory / f"{name}.gz") if p.is_file()), None)


def _find(directories: Iterable[Path], names: Sequence[str]) -> dict[str, Path] | None:
    """Every file of ``names`` (plain or .gz) in the first directory that has them all."""
    for directory in directories:
        found = {name: _file(directory, name) for name in names}
        if all(found.values()):
            return found  # type: ignore[return-value]
    return None


def _fashion_mnist(section: DictConfig, workdir: Path) -> Dataset:
    """torchvision's FashionMNIST with ToTensor (D2L ch. 11's recipe), over the same files."""
    roots = _roots(section)
    candidates = [
        d for root in roots for d in (root, root / "fashion-mnist", root / "FashionMNIST" / "raw")
    ]
    files = _find(candidates, [name for pair in FASHION_FILES.values() for name in pair])
    if files is None:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found under {roots} for the classic recipe"
        )
    raw = workdir / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, path in files.items():
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as src, (raw / name).open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return datasets.FashionMNIST(str(workdir), train=True, transform=transforms.ToTensor())


class _ArraysCIFAR10(datasets.CIFAR10):
    """torchvision's CIFAR10 (its ``__getitem__``: PIL image, then transforms) over arrays."""

    def __init__(self, images: np.ndarray, labels: list[int], transform: transforms.Compose):
        VisionDataset.__init__(self, root="", transform=transform)
        self.train = True
        self.data = images  # (N, 32, 32, 3) uint8, as torchvision holds it
        self.targets = labels


def _cifar10(section: DictConfig) -> Dataset:
    """RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize, per image."""
    roots = _roots(section)
    files = _find([d for root in roots for d in (root, root / CIFAR_FOLDER)], CIFAR_TRAIN_FILES)
    if files is None:
        raise FileNotFoundError(f"CIFAR-10 batches not found under {roots} for the classic recipe")
    images, labels = [], []
    for path in files.values():
        with path.open("rb") as f:
            batch = pickle.load(f, encoding="bytes")  # as torchvision's CIFAR10 reads them
        images.append(batch[b"data"])
        labels += list(batch[b"labels"])
    hwc = np.concatenate(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    if section.get("mean") is not None and section.get("std") is not None:
        mean, std = list(section.mean), list(section.std)
    else:  # null in the config: measured on the training images, as optimlab does
        scaled = hwc.reshape(-1, 3) / 255.0
        mean, std = scaled.mean(axis=0).tolist(), scaled.std(axis=0).tolist()
    transform = transforms.Compose(
        [
            transforms.RandomCrop(hwc.shape[1], padding=CIFAR_PADDING),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ]
    )
    return _ArraysCIFAR10(np.ascontiguousarray(hwc), labels, transform)


def classic_dataset(datamodule: str, section: DictConfig, workdir: Path) -> Dataset:
    """The torchvision dataset the usual templates would build for the datamodule config
    ``datamodule`` (a conf/datamodule name) whose settings are ``section``."""
    if datamodule == "fashion_mnist":
        return _fashion_mnist(section, workdir)
    if datamodule == "cifar10":
        return _cifar10(section)
    raise ValueError(f"no classic torchvision recipe for datamodule={datamodule}; use --no-classic")


def classic_loader(
    dataset: Dataset, *, batch_size: int, workers: int, device: torch.device
) -> DataLoader:
    """D2L ch. 11's DataLoader: shuffled, ``workers`` processes, pinned memory on a GPU."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
    )
