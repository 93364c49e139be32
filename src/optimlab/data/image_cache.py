"""A cache of decoded images beside their source, or in cache_dir when that is read-only.

The file name says which source and which decoding options it is for; inside, a
fingerprint of the source (file sizes and modification times) says whether the source
has changed since. Writes are atomic (temp file + os.replace), so a crash or two runs at
once never leave a half-written cache behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the cached layout or the decoding changes
_KEY_CHARS = 12
_ANY_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
_FILE_MODE = 0o666  # what open() would create, before the umask


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fingerprint(files: list[str]) -> str:
    """Changes when any file is added, removed, resized or touched."""
    digest = hashlib.sha1()
    for path in files:
        info = os.stat(path)
        digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_name(source: Path, options: dict[str, Any]) -> str:
    key = json.dumps(
        {"source": str(source.resolve()), "version": CACHE_VERSION, **options}, sort_keys=True
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:_KEY_CHARS]
    return f"{source.name}.optimlab-cache-{digest}.pt"


def writable(directory: Path) -> bool:
    """Writable for us, and not marked read-only (root may write anywhere; we don't)."""
    try:
        mode = directory.stat().st_mode
    except OSError:
        return False
    return bool(mode & _ANY_WRITE) and os.access(directory, os.W_OK)


def load(path: Path, expected_fingerprint: str, *, mmap: bool = False) -> dict[str, Any] | None:
    """The cached data, or None when the file is absent, stale or unreadable. With
    ``mmap`` the tensors are mapped, not read: their sizes cost nothing."""
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as error:  # truncated, corrupt or from another torch: rebuild it
        log.warning("ignoring unreadable image cache %s (%s)", path, error)
        return None
    if not isinstance(data, dict) or data.get("fingerprint") != expected_fingerprint:
        log.info("image cache %s is out of date; decoding the source again", path)
        return None
    return data


def save(data: dict[str, Any], path: Path) -> None:
    """Write atomically: readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
        os.chmod(temp, _FILE_MODE & ~_umask())  # mkstemp's 0600 would hide a shared cache
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
