"""Where a number was measured: the code's commit and the machine, recorded in result.json so
that a report written later (a study's) can say what its runs ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[3]  # src/optimlab/runner/ -> the checkout
GIT_TIMEOUT_S = 5


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git, or not a checkout (an installed package)
    return done.stdout.strip()


@cache
def commit() -> str | None:
    """The checkout's short commit, with ``-dirty`` when tracked files differ from it."""
    head = _git("rev-parse", "--short", "HEAD")
    if not head:
        return None
    changed = _git("status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if changed else head


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@cache
def machine() -> str:
    """One line: CPU, cores (and the threads torch uses: OMP_NUM_THREADS), GPU, torch, Python
    and OS, e.g. for a report's header."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{_cpu_model()}, {cores} cores ({torch.get_num_threads()} torch threads), {gpu}, "
        f"torch {torch.__version__}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )
