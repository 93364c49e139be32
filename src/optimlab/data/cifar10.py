"""CIFAR-10 from the official python batches, found locally or downloaded once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from optimlab.data import settings
from optimlab.data.augment import STANDARD_AUGMENT
from optimlab.data.cifar_batches import (
    META_FILE,
    NUM_CLASSES,
    SIZE,
    TEST_FILES,
    TRAIN_FILES,
    official_md5,
    read_batch,
    read_cases_per_batch,
    read_label_names,
    verify_md5,
)
from optimlab.data.download import download_atomically
from optimlab.data.errors import DataNotFoundError, refuse_partial_copy
from optimlab.data.images import ImageOptions, InMemoryImageDataModule
from optimlab.data.specs import ImageSpec

CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
BATCH_FOLDER = "cifar-10-batches-py"  # the folder inside the official archive (and torchvision's)
# Per-channel statistics of the 50,000 official training images (after /255).
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
OFFICIAL_CASES_PER_BATCH = 10_000


def find_batch_dir(candidates: Sequence[Path]) -> Path | None:
    """The first directory holding all six official batch files."""
    for directory in candidates:
        if all((directory / name).is_file() for name in (*TRAIN_FILES, *TEST_FILES)):
            return directory
    return None


class CIFAR10DataModule(InMemoryImageDataModule):
    """Krizhevsky's CIFAR-10: 50,000 training and 10,000 test images, 32x32 RGB, 10 classes."""

    spec = ImageSpec(
        in_channels=3, image_size=SIZE, num_classes=NUM_CLASSES, class_names=CLASS_NAMES
    )
    option_defaults = ImageOptions(batch_size=64, mean=MEAN, std=STD, augment=STANDARD_AUGMENT)

    def __init__(
        self,
        data_dir: str,
        *,
        system_dir: str | None = None,
        download: bool = True,
        checksum: bool = True,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.data_dir = Path(data_dir).expanduser()
        self.system_dir = Path(system_dir).expanduser() if system_dir else None
        self.download = settings.flag("download", download)
        self.checksum = settings.flag("checksum", checksum)
        self.class_names: tuple[str, ...] = CLASS_NAMES  # batches.meta's, once it is read
        self._verified: set[Path] = set()

    def _candidates(self) -> list[Path]:
        roots = [self.data_dir, self.system_dir] if self.system_dir else [self.data_dir]
        return [path for root in roots for path in (root, root / BATCH_FOLDER)]

    def check_files(self) -> None:
        """Refuse, from file names alone, a data_dir that loading could only fail on
        (run by the preflight, before any directory is written)."""
        refuse_partial_copy(
            self._candidates(),
            (*TRAIN_FILES, *TEST_FILES),
            lambda directory, name: (directory / name).is_file(),
            dataset="CIFAR-10 batch",
            fix="add them, or remove the others so the data is downloaded",
        )
        if not self.download and find_batch_dir(self._candidates()) is None:
            raise self._not_found("datamodule.download=false")

    def prepare_data(self) -> None:
        if find_batch_dir(self._candidates()) is None and self.download:
            self._fetch()

    def _fetch(self) -> None:
        from torchvision.datasets import CIFAR10  # checks the archive's and files' md5

        def fetch(root: Path) -> None:
            CIFAR10(root=str(root), train=True, download=True)

        try:
            download_atomically(self.data_dir, fetch, produced=BATCH_FOLDER)
        except Exception as error:  # no network, a mirror down, a checksum mismatch
            reason = " ".join(str(error).split())  # torchvision's message spans lines
            raise self._not_found(f"the download failed ({reason})") from error

    def _not_found(self, reason: str) -> DataNotFoundError:
        places = " or ".join(str(path) for path in self._candidates())
        return DataNotFoundError(
            f"CIFAR-10 not found in {places} (datamodule.data_dir) and {reason}. Provide it "
            "one of three ways: put "
            f"the official python batches ({BATCH_FOLDER}/data_batch_1..5, test_batch, "
            f"{META_FILE}) in {self.data_dir}; or run once with network access and "
            "datamodule.download=true; or train on an image folder instead, such as the "
            "JPEG copy: datamodule=image_folder datamodule.data_dir=/path/to/cifar10-jpeg.tar.gz"
        )

    def _checked(self, path: Path) -> Path:
        """``path``, after its md5 matched the official one (once per file and run)."""
        if self.checksum and path not in self._verified:
            expected = official_md5()[path.name]
            verify_md5(path, expected)
            self._verified.add(path)
        return path

    def load_split(self, split: str) -> tuple[Tensor, Tensor]:
        batch_dir = find_batch_dir(self._candidates())
        if batch_dir is None:
            why = "no download was tried" if not self.download else "it has not been downloaded"
            raise self._not_found(why)
        meta = batch_dir / META_FILE
        if meta.is_file():
            self.class_names = read_label_names(self._checked(meta))
        names = TRAIN_FILES if split == "train" else TEST_FILES
        parts = [read_batch(self._checked(batch_dir / name)) for name in names]
        images = torch.cat([images for images, _ in parts])
        labels = torch.cat([labels for _, labels in parts])
        return images, labels

    def full_train_size(self) -> int | None:
        """batches.meta's images per batch times five. Without it: the official count
        when the files are to be downloaded or must be the official ones (checksum=true);
        None for files you made."""
        batch_dir = find_batch_dir(self._candidates())
        meta = batch_dir / META_FILE if batch_dir else None
        per_batch = read_cases_per_batch(meta) if meta and meta.is_file() else None
        if per_batch is None and (batch_dir is None or self.checksum):
            per_batch = OFFICIAL_CASES_PER_BATCH
        return None if per_batch is None else per_batch * len(TRAIN_FILES)
