"""Turn the errors a user can fix into one clear line and a non-zero exit."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from hydra.errors import InstantiationException
from omegaconf import DictConfig

from optimlab.errors import EXIT_BAD_INPUT, EXIT_DIVERGED, DivergedError, OptimlabError

log = logging.getLogger(__name__)
T = TypeVar("T")


def _user_error(error: BaseException) -> BaseException | None:
    """The user-facing cause of ``error``, unwrapping Hydra's instantiation wrapper."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error if isinstance(error, OptimlabError) else None


def run_or_exit(job: Callable[[DictConfig], T], cfg: DictConfig) -> T:
    try:
        return job(cfg)
    except Exception as error:
        cause = _user_error(error)
        if cause is None:
            raise
        message = " ".join(str(cause).split()) or type(cause).__name__
        log.debug("full traceback", exc_info=True)
        diverged = isinstance(cause, DivergedError)
        print(f"{'diverged' if diverged else 'error'}: {message}", file=sys.stderr, flush=True)
        sys.exit(EXIT_DIVERGED if diverged else EXIT_BAD_INPUT)


def check_group_choices(argv: list[str], conf_dir: Path) -> None:
    """Refuse ``group=unknown`` in one line naming the valid options (before Hydra composes)."""
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, value = arg.split("=", 1)
        group = conf_dir / key.lstrip("+~")
        if key.startswith("hydra") or not group.is_dir() or "(" in value or "*" in value:
            continue
        options = sorted(str(p.relative_to(group).with_suffix("")) for p in group.rglob("*.yaml"))
        for choice in value.split(","):
            if choice not in options and choice != "null":
                print(
                    f"error: {key}={choice} is not an option; valid: {', '.join(options)}",
                    file=sys.stderr,
                    flush=True,
                )
                sys.exit(EXIT_BAD_INPUT)
