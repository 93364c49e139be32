"""Turn the errors a user can fix into one clear line and a non-zero exit."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import InstantiationException
from omegaconf import DictConfig

from optimlab.data.errors import DataNotFoundError
from optimlab.data.idx import IDXFormatError

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_ERRORS = (DataNotFoundError, IDXFormatError, ValueError, FileNotFoundError)


def _user_error(error: BaseException) -> BaseException | None:
    """The user-facing cause of ``error``, unwrapping Hydra's instantiation wrapper."""
    while isinstance(error, InstantiationException) and error.__cause__ is not None:
        error = error.__cause__
    return error if isinstance(error, USER_ERRORS) else None


def run_or_exit(job: Callable[[DictConfig], T], cfg: DictConfig) -> T:
    try:
        return job(cfg)
    except Exception as error:
        cause = _user_error(error)
        if cause is None:
            raise
        message = " ".join(str(cause).split()) or type(cause).__name__
        log.debug("full traceback", exc_info=True)
        print(f"error: {message}", file=sys.stderr, flush=True)
        sys.exit(2)
