"""Refusing a partial copy of a data set (the error types live in optimlab.errors)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from optimlab.errors import (  # noqa: F401  (re-exported for the data modules)
    ChecksumError,
    DataError,
    DataFormatError,
    DataNotFoundError,
)


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
