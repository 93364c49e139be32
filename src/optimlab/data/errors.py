"""Errors a user can act on."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


class DataError(Exception):
    """Anything wrong with the data a user pointed at (the preflight reports these)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The data set is in none of the places we look, and could not be downloaded."""


class DataFormatError(DataError, ValueError):
    """The files are there but do not hold what their format promises."""


class ChecksumError(DataFormatError):
    """A file's checksum differs from the official one (truncated or corrupt download)."""


def refuse_partial_copy(
    directories: Iterable[Path],
    names: Sequence[str],
    has: Callable[[Path, str], bool],
    *,
    dataset: str,
    fix: str,
) -> None:
    """Some but not all of a data set's files in a folder is a broken copy, not a missing
    one: raise a DataFormatError naming the folder and the missing files."""
    for directory in directories:
        present = [name for name in names if has(directory, name)]
        if present and len(present) < len(names):
            missing = ", ".join(sorted(set(names) - set(present)))
            raise DataFormatError(
                f"{directory} holds only some of the {dataset} files (missing: {missing}); {fix}"
            )
