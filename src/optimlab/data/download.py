"""Downloads that land whole or not at all."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def download_atomically(data_dir: Path, fetch: Callable[[Path], None], produced: str) -> None:
    """Run ``fetch(staging_root)``, then move ``staging_root/produced`` to ``data_dir/produced``.

    torchvision writes straight into its root and leaves a partial file behind when a
    download breaks; staging in a temporary folder beside the target means a failed or
    corrupt download leaves nothing, and a finished one appears in one rename.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".download-"))
    try:
        fetch(staging)
        target = data_dir / produced
        if target.exists():
            shutil.rmtree(target)
        (data_dir / produced).parent.mkdir(parents=True, exist_ok=True)
        (staging / produced).rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
