"""Any folder of class-labelled images (a tree or a .tar.gz), decoded once, then cached."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from optimlab.data import image_cache, settings
from optimlab.data.augment import STANDARD_AUGMENT
from optimlab.data.errors import DataFormatError, DataNotFoundError
from optimlab.data.image_files import (
    LAYOUT,
    READ_MODES,
    SPLITS,
    EncodedImage,
    decode_images,
    is_archive,
    layout_root,
    read_images,
    tree_files,
)
from optimlab.data.images import ImageOptions, InMemoryImageDataModule
from optimlab.data.specs import ImageSpec
from optimlab.data.transforms import channel_stats
from optimlab.errors import ConfigError

log = logging.getLogger(__name__)


def _labels(images: Sequence[EncodedImage], classes: Sequence[str]) -> Tensor:
    index = {name: i for i, name in enumerate(classes)}
    return torch.tensor([index[image.label] for image in images], dtype=torch.int64)


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


class ImageFolderDataModule(InMemoryImageDataModule):
    """train/<class>/* and test/<class>/* images; classes are the sorted folder names.

    The first run decodes every image (a .tar.gz is read member by member, never
    extracted) and caches the uint8 tensors; later runs load the cache. ``spec`` is
    available before training (the runner sizes the model from it) and loads lazily.
    """

    option_defaults = ImageOptions(batch_size=64, augment=STANDARD_AUGMENT)

    def __init__(
        self,
        data_dir: str,
        *,
        cache_dir: str | None = None,
        cache: bool = True,
        image_size: int | None = None,
        channels: int = 3,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if channels not in READ_MODES:
            raise ConfigError(
                f"datamodule.channels must be 1 (grey) or 3 (RGB), got {channels!r}; "
                "set datamodule.channels=3"
            )
        if image_size is not None:
            settings.positive_int("image_size", image_size, fix="or null to keep the size")
        self.data_dir = Path(data_dir).expanduser()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.cache = settings.flag("cache", cache)
        self.image_size = image_size
        self.channels = channels
        self.cache_file: Path | None = None  # where the decoded tensors were loaded/saved
        self._data: dict[str, Any] | None = None

    # -- what the rest of the package asks for --------------------------------------------

    @property
    def spec(self) -> ImageSpec:  # type: ignore[override]
        data = self._folder()
        classes = tuple(data["class_names"])
        size = int(data["train_images"].shape[-1])
        return ImageSpec(
            in_channels=self.channels,
            image_size=size,
            num_classes=len(classes),
            class_names=classes,
        )

    def prepare_data(self) -> None:
        self._folder()  # decode and cache once, before any rank needs the data

    def load_split(self, split: str) -> tuple[Tensor, Tensor]:
        data = self._folder()
        return data[f"{split}_images"], data[f"{split}_labels"]

    def training_stats(self) -> tuple[list[float], list[float]]:
        data = self._folder()
        return list(data["mean"]), list(data["std"])

    def full_train_size(self) -> int | None:
        """Counted from the file names under train/ for a tree, from a fresh cache (its
        tensors mapped, not read) for an archive; None for an archive not yet decoded."""
        if self._data is not None:
            return len(self._data["train_labels"])
        source = self.data_dir
        if source.is_dir():
            root = layout_root(source)
            return sum(1 for parts, _ in tree_files(root) if parts[0] == SPLITS[0])
        if not (is_archive(source) and self.cache):
            return None
        fingerprint = image_cache.fingerprint([str(source)])
        for path in self._cache_places():
            if (data := image_cache.load(path, fingerprint, mmap=True)) is not None:
                return len(data["train_labels"])
        return None

    # -- loading --------------------------------------------------------------------------

    def _folder(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._load()
        return self._data

    def _cache_places(self) -> list[Path]:
        options = {"image_size": self.image_size, "channels": self.channels}
        name = image_cache.cache_name(self.data_dir, options)
        beside = self.data_dir.parent / name
        return [beside, self.cache_dir / name] if self.cache_dir else [beside]

    def check_files(self) -> None:
        """Refuse a data_dir that is missing, not an archive, or not laid out as train/ and
        test/ (a folder's layout is read from its names; an archive's only when decoded)."""
        source = self.data_dir
        if not source.exists():
            raise DataNotFoundError(
                f"image folder {source} does not exist; point datamodule.data_dir at a folder "
                f"laid out as {LAYOUT}, or at a .tar.gz of one (such as cifar10-jpeg.tar.gz)"
            )
        if source.is_file() and not is_archive(source):
            raise DataFormatError(
                f"{source} is a file but not a .tar.gz/.tgz/.tar archive; point "
                f"datamodule.data_dir at a folder laid out as {LAYOUT} or an archive of one"
            )
        if source.is_dir():
            layout_root(source)

    def _load(self) -> dict[str, Any]:
        source = self.data_dir
        self.check_files()
        if source.is_file():
            files = [str(source)]
        else:
            files = [path for _, path in tree_files(layout_root(source))]
        if not files:
            raise DataFormatError(f"{source}: holds no image files; expected the layout {LAYOUT}")
        fingerprint = image_cache.fingerprint(files)
        places = self._cache_places() if self.cache else []
        for path in places:
            started = time.perf_counter()
            if (data := image_cache.load(path, fingerprint)) is not None:
                self.cache_file = path
                seconds = time.perf_counter() - started
                log.info("loaded decoded images of %s from %s in %.1f s", source, path, seconds)
                return data
        data = self._decode(fingerprint)
        if places:
            self._save(data, places)
        return data

    def _decode(self, fingerprint: str) -> dict[str, Any]:
        started = time.perf_counter()
        source = self.data_dir
        log.info("decoding the images of %s (once: later runs load a cache)", source)
        images = read_images(source)
        by_split = {split: [i for i in images if i.split == split] for split in SPLITS}
        for split, found in by_split.items():
            if not found:
                raise DataFormatError(
                    f"{source}: no images under {split}/; expected the layout {LAYOUT}"
                )
        classes = sorted({image.label for image in by_split["train"]})
        unknown = sorted({image.label for image in by_split["test"]} - set(classes))
        if unknown:
            raise DataFormatError(
                f"{source}: test/ has classes that train/ lacks: {', '.join(unknown[:5])}"
            )
        data: dict[str, Any] = {"fingerprint": fingerprint, "class_names": classes}
        for split, found in by_split.items():
            data[f"{split}_images"] = decode_images(
                found, source=source, channels=self.channels, image_size=self.image_size
            )
            data[f"{split}_labels"] = _labels(found, classes)
        if data["train_images"].shape[1:] != data["test_images"].shape[1:]:
            raise DataFormatError(
                f"{source}: train images are {tuple(data['train_images'].shape[2:])} but test "
                f"images are {tuple(data['test_images'].shape[2:])}; set datamodule.image_size"
            )
        data["mean"], data["std"] = channel_stats(data["train_images"])
        seconds = time.perf_counter() - started
        log.info("decoded %d images of %s in %.1f s", len(images), source, seconds)
        return data

    def _save(self, data: dict[str, Any], places: list[Path]) -> None:
        """Cache beside the source when its folder is writable, else in cache_dir."""
        for path in places:
            if not image_cache.writable(_nearest_existing(path.parent)):
                continue
            try:
                image_cache.save(data, path)
            except OSError as error:
                log.warning("could not write the image cache %s (%s)", path, error)
                continue
            self.cache_file = path
            log.info("cached the decoded images in %s", path)
            return
        log.warning(
            "no writable place for the image cache (tried %s); the next run decodes again. "
            "Set datamodule.cache_dir to a writable folder",
            ", ".join(str(p.parent) for p in places),
        )
