"""The classic recipe (c): a torchvision dataset of PIL images, per-sample transforms,
a DataLoader with worker processes, and a plain training loop.

Fashion-MNIST goes through torchvision's own ``FashionMNIST`` class, reading the same
official IDX files optimlab reads (decompressed once into a temporary folder, which is
what torchvision expects). CIFAR-10 goes through torchvision's ``CIFAR10.__getitem__``
over the same python batches; the class is handed the arrays directly because its
loader refuses files whose md5 is not the official one (the benchmark's fake data).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import datasets, transforms
from torchvision.datasets.vision import VisionDataset

from optimlab.data.in_memory import InMemoryImageDataModule

CIFAR_PADDING = 4  # the classic CIFAR augmentation: RandomCrop(32, padding=4)


def _fashion_mnist(datamodule: InMemoryImageDataModule, workdir: Path) -> Dataset:
    """torchvision's FashionMNIST with ToTensor (the seeds' recipe), over the same files."""
    from optimlab.data.fashion_mnist import FILES, _file_in, find_raw_dir

    source = find_raw_dir(datamodule._candidates())  # type: ignore[attr-defined]
    if source is None:
        raise FileNotFoundError("Fashion-MNIST files not found for the classic recipe")
    raw = workdir / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name in (name for pair in FILES.values() for name in pair):
        path = _file_in(source, name)
        assert path is not None
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


def _cifar10(datamodule: InMemoryImageDataModule) -> Dataset:
    """RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize, per image."""
    images, labels = datamodule.load_split("train")
    mean, std = datamodule.normalize.mean.flatten().tolist(), datamodule.normalize.std.flatten()
    size = images.shape[-1]
    transform = transforms.Compose(
        [
            transforms.RandomCrop(size, padding=CIFAR_PADDING),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std.tolist()),
        ]
    )
    hwc = np.ascontiguousarray(images.permute(0, 2, 3, 1).numpy())
    return _ArraysCIFAR10(hwc, labels.tolist(), transform)


def classic_dataset(datamodule: InMemoryImageDataModule, workdir: Path) -> Dataset:
    """The torchvision dataset the usual templates would build for this datamodule."""
    name = type(datamodule).__name__
    if name == "FashionMNISTDataModule":
        return _fashion_mnist(datamodule, workdir)
    if name == "CIFAR10DataModule":
        return _cifar10(datamodule)
    raise ValueError(f"no classic torchvision recipe for {name}; use --no-classic")


def classic_loader(
    dataset: Dataset, *, batch_size: int, workers: int, device: torch.device
) -> DataLoader:
    """The seeds' DataLoader: shuffled, ``workers`` processes, pinned memory on a GPU."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
    )
