"""Reader for the IDX format of (Fashion-)MNIST, plain or gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

import torch
from torch import Tensor

from optimlab.data.errors import DataFormatError

_UINT8 = 0x08


class IDXFormatError(DataFormatError):
    """The file is not a well-formed uint8 IDX file."""


def check_idx_header(path: Path, ndim: int) -> None:
    """Magic number, rank and length of an IDX file, from its header (and a .gz's trailer,
    which stores the unpacked length), so wrong files are refused without reading them."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            header = f.read(4 + 4 * ndim)
        if path.suffix == ".gz":
            with open(path, "rb") as raw:
                raw.seek(-4, 2)
                length = int.from_bytes(raw.read(4), "little")  # ISIZE: length mod 2**32
        else:
            length = path.stat().st_size
    except (OSError, EOFError) as error:
        message = f"{path}: cannot be read ({error}); delete it and fetch it again"
        raise IDXFormatError(message) from error
    if len(header) < 4 or header[:3] != bytes([0, 0, _UINT8]) or header[3] != ndim:
        raise IDXFormatError(
            f"{path}: not a uint8 IDX file of rank {ndim} (bad magic number); "
            "is datamodule.data_dir pointing at the right files?"
        )
    shape = [int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = len(header) + int(torch.tensor(shape).prod())
    if length != expected % 2**32:
        raise IDXFormatError(
            f"{path}: holds {length} bytes but its header promises {expected} "
            "(truncated or corrupt); delete it and fetch it again"
        )


def read_idx(path: Path) -> Tensor:
    """Return the array stored in an IDX file as a uint8 tensor of its stored shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise IDXFormatError(
            f"{path}: cannot be read ({error}); delete it and fetch it again"
        ) from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UINT8:
        raise IDXFormatError(f"{path}: not a uint8 IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(torch.tensor(shape).prod())
    if len(data) != expected:
        raise IDXFormatError(
            f"{path}: holds {len(data)} bytes but its header promises {expected} "
            "(truncated or corrupt); delete it and fetch it again"
        )
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(shape)


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
