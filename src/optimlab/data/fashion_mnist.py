"""Fashion-MNIST from the official IDX files, found locally or downloaded once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from optimlab.data.augment import AugmentOptions
from optimlab.data.download import download_atomically
from optimlab.data.errors import DataNotFoundError, refuse_partial_copy
from optimlab.data.idx import check_idx_header, read_idx
from optimlab.data.in_memory import ImageSpec, InMemoryImageDataModule

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

    def __init__(
        self,
        data_dir: str,
        *,
        system_dir: str | None = SYSTEM_DIR,
        download: bool = True,
        batch_size: int = 256,
        eval_batch_size: int = 1024,
        val_size: int = 5000,
        mean: Sequence[float] | None = (0.2860,),
        std: Sequence[float] | None = (0.3530,),
        augment: AugmentOptions | Mapping[str, Any] | None = None,
        seed: int | None = 0,
        split_seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            val_size=val_size,
            mean=mean,
            std=std,
            augment=augment,
            seed=seed,
            split_seed=split_seed,
            drop_last=drop_last,
        )
        self.data_dir = Path(data_dir).expanduser()
        self.system_dir = Path(system_dir) if system_dir else None
        self.download = download

    @property
    def _download_dir(self) -> Path:
        return self.data_dir / "FashionMNIST" / "raw"  # where torchvision puts its download

    def _candidates(self) -> list[Path]:
        found = [self.data_dir, self.data_dir / "fashion-mnist", self._download_dir]
        return [*found, self.system_dir] if self.system_dir else found

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
        raw_dir = find_raw_dir(self._candidates())
        if raw_dir is None:
            if not self.download:
                raise self._not_found("datamodule.download=false")
            return
        for images_name, labels_name in FILES.values():
            check_idx_header(_file_in(raw_dir, images_name), ndim=3)  # type: ignore[arg-type]
            check_idx_header(_file_in(raw_dir, labels_name), ndim=1)  # type: ignore[arg-type]

    def prepare_data(self) -> None:
        self._refuse_partial_copy()
        if find_raw_dir(self._candidates()) is None and self.download:
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
            f"Fashion-MNIST not found in {self.data_dir} and {reason}. Provide it one of three "
            f"ways: put the four official IDX files (train-images-idx3-ubyte.gz, ...) in "
            f"{self.data_dir}; or `apt-get install dataset-fashion-mnist`{system}; or run once "
            "with network access and datamodule.download=true"
        )

    def load_split(self, split: str) -> tuple[Tensor, Tensor]:
        self._refuse_partial_copy()
        raw_dir = find_raw_dir(self._candidates())
        if raw_dir is None:
            why = "no download was tried" if not self.download else "it has not been downloaded"
            raise self._not_found(why)
        images_name, labels_name = FILES[split]
        images = read_idx(_file_in(raw_dir, images_name))  # type: ignore[arg-type]
        labels = read_idx(_file_in(raw_dir, labels_name))  # type: ignore[arg-type]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{raw_dir}: {split} images {tuple(images.shape)} and labels "
                f"{tuple(labels.shape)} do not match; these are not Fashion-MNIST files"
            )
        return images.unsqueeze(1).contiguous(), labels.to(torch.int64)
