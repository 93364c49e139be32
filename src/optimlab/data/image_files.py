"""Image folders (train/<class>/*.jpg, test/<class>/*.jpg), as a tree or a tar archive.

Both layouts become the same sorted list of encoded images, so a tree and its .tar.gz
decode to identical tensors. Archive members are read straight from the archive, never
extracted to disk.
"""

from __future__ import annotations

import os
import tarfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import torch
from torch import Tensor
from torchvision.io import ImageReadMode, decode_image, decode_jpeg
from torchvision.transforms.v2.functional import resize

from optimlab.data.errors import DataFormatError

SPLITS = ("train", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
READ_MODES = {1: ImageReadMode.GRAY, 3: ImageReadMode.RGB}
LAYOUT = "train/<class>/*.png|jpg|jpeg and test/<class>/*"
JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class EncodedImage:
    """One image file's bytes and where it sits in the layout."""

    split: str  # train | test
    label: str  # the class folder's name
    path: str  # split/class/.../file, relative to the layout's root
    data: bytes


def is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _is_image(parts: Sequence[str]) -> bool:
    """A visible image file at least split/class/file deep."""
    return (
        len(parts) >= 3
        and parts[-1].lower().endswith(IMAGE_SUFFIXES)
        and not any(part.startswith(".") for part in parts)
    )


def _root_depth(paths: Iterable[Sequence[str]], source: Path) -> int:
    """0 when train/ and test/ are at the top, 1 when they sit in one top-level folder."""
    paths = list(paths)
    if any(parts[0] in SPLITS for parts in paths):
        return 0
    tops = {parts[0] for parts in paths}
    if len(tops) == 1 and any(len(parts) > 1 and parts[1] in SPLITS for parts in paths):
        return 1
    found = ", ".join(sorted(tops)[:5]) or "no image files"
    raise DataFormatError(f"{source}: expected the layout {LAYOUT}, found {found}")


def _in_layout(relative: Iterable[tuple[tuple[str, ...], bytes]]) -> list[EncodedImage]:
    images = [
        EncodedImage(parts[0], parts[1], "/".join(parts), data)
        for parts, data in relative
        if parts[0] in SPLITS and _is_image(parts)
    ]
    return sorted(images, key=lambda image: (image.split, image.label, image.path))


def layout_root(root: Path) -> Path:
    """``root``, or its single subfolder when train/ and test/ sit one level down."""
    if not any((root / split).is_dir() for split in SPLITS):
        subfolders = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(subfolders) == 1 and any((subfolders[0] / s).is_dir() for s in SPLITS):
            root = subfolders[0]
        else:
            found = ", ".join(sorted(p.name for p in root.iterdir())[:5]) or "an empty folder"
            raise DataFormatError(f"{root}: expected the layout {LAYOUT}, found {found}")
    return root


# (path parts relative to the layout root, full path) of one file in a tree
TreeFile = tuple[tuple[str, ...], str]


def _check_class_folders(root: Path, files: list[TreeFile]) -> None:
    """A class folder without images is an error, not a class that silently disappears."""
    train = root / SPLITS[0]
    if not train.is_dir():
        return
    folders = {p.name for p in train.iterdir() if p.is_dir() and not p.name.startswith(".")}
    used = {parts[1] for parts, _ in files if parts[0] == SPLITS[0]}
    empty = sorted(folders - used)
    if empty and used:  # no images at all is reported later, with the layout
        raise DataFormatError(
            f"{train}: class folder(s) {', '.join(empty[:5])} hold no .png/.jpg/.jpeg images"
        )


def tree_files(root: Path) -> list[TreeFile]:
    """Every image file under the layout root's train/ and test/, sorted.

    Plain strings, not Path objects: a tree of 60,000 files is listed on every run (to
    check the cache), and pathlib would make that take seconds.
    """
    files: list[TreeFile] = []
    for split in SPLITS:
        for folder, _, names in os.walk(os.path.join(root, split), followlinks=True):
            relative = tuple(os.path.relpath(folder, root).split(os.sep))
            files.extend(((*relative, name), os.path.join(folder, name)) for name in names)
    files = sorted(f for f in files if _is_image(f[0]))
    _check_class_folders(root, files)
    return files


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def read_tree(source: Path) -> list[EncodedImage]:
    return _in_layout((parts, _read(path)) for parts, path in tree_files(layout_root(source)))


def read_archive(path: Path) -> list[EncodedImage]:
    """Image members of a tar (.tar, .tar.gz, .tgz), read in one sequential pass."""
    members: list[tuple[tuple[str, ...], bytes]] = []
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                parts = tuple(p for p in PurePosixPath(member.name).parts if p not in (".", "/"))
                if member.isfile() and parts and parts[-1].lower().endswith(IMAGE_SUFFIXES):
                    members.append((parts, archive.extractfile(member).read()))  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as error:
        raise DataFormatError(
            f"{path}: cannot be read as a tar archive ({error}); is it truncated?"
        ) from error
    if not members:
        raise DataFormatError(f"{path}: holds no image files; expected the layout {LAYOUT}")
    depth = _root_depth((parts for parts, _ in members), path)
    return _in_layout((parts[depth:], data) for parts, data in members if len(parts) > depth)


def read_images(source: Path) -> list[EncodedImage]:
    return read_archive(source) if is_archive(source) else read_tree(source)


def _bytes(image: EncodedImage) -> Tensor:
    return torch.frombuffer(bytearray(image.data), dtype=torch.uint8)


def _decode_one(image: EncodedImage, mode: ImageReadMode, source: Path) -> Tensor:
    try:
        return decode_image(_bytes(image), mode=mode)
    except RuntimeError as error:
        reason = str(error).split("\n")[0]
        raise DataFormatError(f"{source}: {image.path} cannot be decoded ({reason})") from error


def _decode_all(images: Sequence[EncodedImage], mode: ImageReadMode, source: Path) -> list[Tensor]:
    """JPEGs in one batched call (about 30% faster on CPU), the rest one by one."""
    decoded: list[Tensor | None] = [None] * len(images)
    jpegs = [i for i, image in enumerate(images) if image.data.startswith(JPEG_MAGIC)]
    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its decoders in favour of torchcodec; they still
        # work and are the fastest decoders available without a new dependency
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            batch = decode_jpeg([_bytes(images[i]) for i in jpegs], mode=mode) if jpegs else []
        except RuntimeError:  # one bad file fails the batch: decode singly to name it
            batch = [_decode_one(images[i], mode, source) for i in jpegs]
        for i, x in zip(jpegs, batch, strict=True):
            decoded[i] = x
        for i, image in enumerate(images):
            if decoded[i] is None:
                decoded[i] = _decode_one(image, mode, source)
    return decoded  # type: ignore[return-value]


def decode_images(
    images: Sequence[EncodedImage], *, source: Path, channels: int, image_size: int | None
) -> Tensor:
    """uint8 (N, channels, H, W): one size for all, or resized to image_size x image_size."""
    mode = READ_MODES[channels]
    decoded = _decode_all(images, mode, source)
    if image_size is not None:
        target = [image_size, image_size]
        decoded = [
            x if x.shape[1:] == (image_size, image_size) else resize(x, target, antialias=True)
            for x in decoded
        ]
    first = decoded[0].shape[1:]
    for image, x in zip(images, decoded, strict=True):
        if x.shape[1:] != first:
            raise DataFormatError(
                f"{source}: {images[0].path} is {first[0]}x{first[1]} but {image.path} is "
                f"{x.shape[1]}x{x.shape[2]}; set datamodule.image_size=N to resize all to NxN"
            )
    if first[0] != first[1]:
        raise DataFormatError(
            f"{source}: the images are {first[0]}x{first[1]}, not square; set "
            f"datamodule.image_size=N to resize them to NxN"
        )
    return torch.stack(decoded)
