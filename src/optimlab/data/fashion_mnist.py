"""Fashion-MNIST from the official IDX files, found locally or downloaded once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from optimlab.data import settings
from optimlab.data.download import download_atomically
from optimlab.data.errors import DataFormatError, DataNotFoundError, refuse_partial_copy
from optimlab.data.idx import check_idx_header, idx_shape, read_idx
from optimlab.data.images import ImageOptions, InMemoryImageDataModule
from optimlab.data.specs import ImageSpec

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
# Debian's package dataset-fashion-mnist installs the official files here.
SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"
OFFICIAL_TRAIN_SIZE = 60_000


def _file_in(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_raw_dir(candidates: Sequence[Path]) -> Path | None:
    """The first directory holding all four IDX files (plain or .gz)."""
    names = [name for pair in FILES.values() for name in pair]
    for directory in candidates:
        if all(_file_in(directory, name) for name in names):
            return directory
    return None


class FashionMNISTDataModule(InMemoryImageDataModule):
    """Zalando's Fashion-MNIST: 60,000 training and 10,000 test images, 28x28 grey."""

    spec = ImageSpec(in_channels=1, image_size=28, num_classes=10, class_names=CLASS_NAMES)
    # its defaults of the keys every image datamodule shares (they arrive in **options)
    option_defaults = ImageOptions(batch_size=256, mean=(0.2860,), std=(0.3530,))

    def __init__(
        self,
        data_dir: str,
        *,
        system_dir: str | None = SYSTEM_DIR,
        download: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.data_dir = Path(data_dir).expanduser()
        self.system_dir = Path(system_dir) if system_dir else None
        self.download = settings.flag("download", download)

    @property
    def _download_dir(self) -> Path:
        return self.data_dir / "FashionMNIST" / "raw"  # where torchvision puts its download

    def _candidates(self) -> list[Path]:
        found = [self.data_dir, self.data_dir / "fashion-mnist", self._download_dir]
        return [*found, self.system_dir] if self.system_dir else found

    def raw_dir(self) -> Path | None:
        """The first place holding all four IDX files (plain or .gz), or None."""
        return find_raw_dir(self._candidates())

    def _refuse_partial_copy(self) -> None:
        """Some but not all files in data_dir is a broken copy, not a missing one: say so."""
        refuse_partial_copy(
            self._candidates()[:-1] if self.system_dir else self._candidates(),
            [name for pair in FILES.values() for name in pair],
            lambda directory, name: _file_in(directory, name) is not None,
            dataset="Fashion-MNIST",
            fix="add them, or remove the others so the data is found elsewhere",
        )

    def check_files(self) -> None:
        """Refuse, from file names and IDX headers, a data_dir that loading could only fail
        on (run by the preflight, before any directory is written)."""
        self._refuse_partial_copy()
        raw_dir = self.raw_dir()
        if raw_dir is None:
            if not self.download:
                raise self._not_found("datamodule.download=false")
            return
        for images_name, labels_name in FILES.values():
            check_idx_header(_file_in(raw_dir, images_name), ndim=3)  # type: ignore[arg-type]
            check_idx_header(_file_in(raw_dir, labels_name), ndim=1)  # type: ignore[arg-type]

    def prepare_data(self) -> None:
        self._refuse_partial_copy()
        if self.raw_dir() is None and self.download:
            self._fetch()

    def _fetch(self) -> None:
        from torchvision.datasets import FashionMNIST  # checks each file's md5

        def fetch(root: Path) -> None:
            for train in (True, False):
                FashionMNIST(root=str(root), train=train, download=True)

        try:
            download_atomically(self.data_dir, fetch, produced="FashionMNIST")
        except Exception as error:  # no network, a mirror down, a checksum mismatch
            reason = " ".join(str(error).split())  # torchvision's message spans lines
            raise self._not_found(f"the download failed ({reason})") from error

    def _not_found(self, reason: str) -> DataNotFoundError:
        system = f" (installs {self.system_dir})" if self.system_dir else ""
        return DataNotFoundError(
            f"Fashion-MNIST not found in datamodule.data_dir={self.data_dir} and {reason}. "
            "Provide it one of three ways: put the four official IDX files "
            "(train-images-idx3-ubyte.gz, ...) in "
            f"{self.data_dir}; or `apt-get install dataset-fashion-mnist`{system}; or run once "
            "with network access and datamodule.download=true"
        )

    def load_split(self, split: str) -> tuple[Tensor, Tensor]:
        self._refuse_partial_copy()
        raw_dir = self.raw_dir()
        if raw_dir is None:
            why = "no download was tried" if not self.download else "it has not been downloaded"
            raise self._not_found(why)
        images_name, labels_name = FILES[split]
        images = read_idx(_file_in(raw_dir, images_name))  # type: ignore[arg-type]
        labels = read_idx(_file_in(raw_dir, labels_name))  # type: ignore[arg-type]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataFormatError(
                f"{raw_dir}: {split} images {tuple(images.shape)} and labels "
                f"{tuple(labels.shape)} do not match; these are not Fashion-MNIST files"
            )
        return images.unsqueeze(1).contiguous(), labels.to(torch.int64)

    def full_train_size(self) -> int:
        """From the training images' IDX header when the files are here; the official
        count when they are still to be downloaded."""
        raw_dir = self.raw_dir()
        if raw_dir is None:
            return OFFICIAL_TRAIN_SIZE
        images_name, _ = FILES["train"]
        return idx_shape(_file_in(raw_dir, images_name))[0]  # type: ignore[arg-type]
