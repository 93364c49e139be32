"""Reader for the IDX format of (Fashion-)MNIST, plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO

import torch
from torch import Tensor

from optimlab.data.errors import DataFormatError

_UINT8 = 0x08


class IDXFormatError(DataFormatError):
    """The file is not a well-formed uint8 IDX file."""


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _unreadable(path: Path, error: Exception) -> IDXFormatError:
    return IDXFormatError(f"{path}: cannot be read ({error}); delete it and fetch it again")


def _parse_header(data: bytes, path: Path, ndim: int | None = None) -> tuple[list[int], int]:
    """(shape, header length) from the first bytes of an IDX file; a bad magic number (or a
    rank other than ``ndim``) is refused."""
    if len(data) < 4 or data[:3] != bytes([0, 0, _UINT8]) or ndim not in (None, data[3]):
        rank = "" if ndim is None else f" of rank {ndim}"
        raise IDXFormatError(
            f"{path}: not a uint8 IDX file{rank} (bad magic number); "
            "is datamodule.data_dir pointing at the right files?"
        )
    rank = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    return shape, 4 + 4 * rank


def _check_length(path: Path, length: int, expected: int) -> None:
    if length != expected:
        raise IDXFormatError(
            f"{path}: holds {length} bytes but its header promises {expected} "
            "(truncated or corrupt); delete it and fetch it again"
        )


def idx_shape(path: Path) -> list[int]:
    """The shape an IDX file's header promises, read from its first bytes only."""
    try:
        with _open(path) as f:
            magic = f.read(4)
            header = magic + f.read(4 * magic[3]) if len(magic) == 4 else magic
    except (OSError, EOFError) as error:
        raise _unreadable(path, error) from error
    return _parse_header(header, path)[0]


def check_idx_header(path: Path, ndim: int) -> None:
    """Magic number, rank and length of an IDX file, from its header (and a .gz's trailer,
    which stores the unpacked length), so wrong files are refused without reading them."""
    try:
        with _open(path) as f:
            header = f.read(4 + 4 * ndim)
        if path.suffix == ".gz":
            with open(path, "rb") as raw:
                raw.seek(-4, 2)
                length = int.from_bytes(raw.read(4), "little")  # ISIZE: length mod 2**32
        else:
            length = path.stat().st_size
    except (OSError, EOFError) as error:
        raise _unreadable(path, error) from error
    shape, size = _parse_header(header, path, ndim)
    expected = size + int(torch.tensor(shape).prod())
    _check_length(path, length, expected % 2**32)


def read_idx(path: Path) -> Tensor:
    """Return the array stored in an IDX file as a uint8 tensor of its stored shape."""
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise _unreadable(path, error) from error
    shape, size = _parse_header(data, path)
    _check_length(path, len(data), size + int(torch.tensor(shape).prod()))
    return torch.frombuffer(bytearray(data[size:]), dtype=torch.uint8).reshape(shape)


def write_idx(path: Path, array: Tensor) -> None:
    """Write a uint8 tensor as an IDX file (gzipped when ``path`` ends in .gz)."""
    if array.dtype != torch.uint8:
        raise ValueError(f"IDX files here hold uint8 data, got {array.dtype}")
    header = bytes([0, 0, _UINT8, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.contiguous().numpy().tobytes())
