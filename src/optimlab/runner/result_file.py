"""result.json: a run's status and numbers, written by the runner, read by summaries and studies."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

RESULT_FILE = "result.json"
# statuses; a run without the file is unfinished. PRUNED: a search's pruner stopped it early
FINISHED, DIVERGED, PRUNED = "finished", "diverged", "pruned"


def write_result(run_dir: Path, status: str, metrics: dict[str, float], **extra: Any) -> None:
    """Write atomically: a crash mid-write leaves the previous file (or none), never half.

    Only DDP's rank 0 writes (Lightning imported here, not at the top: summaries that only
    read results stay light).
    """
    from lightning.pytorch.utilities import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) != 0:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "metrics": metrics, **extra}
    handle, temporary = tempfile.mkstemp(dir=run_dir, prefix=f".{RESULT_FILE}.")
    os.fchmod(handle, 0o644)  # mkstemp's 0600 would hide it from a lab mate's summary
    with os.fdopen(handle, "w") as f:
        json.dump(record, f, indent=2, allow_nan=True)
    os.replace(temporary, run_dir / RESULT_FILE)


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The run's result, or None while it runs (or when it crashed without one)."""
    try:
        return json.loads((run_dir / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
