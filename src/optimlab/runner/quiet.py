"""Silence start-up noise that says nothing about the run (ads, upstream deprecations)."""

from __future__ import annotations

import logging
import warnings


def _not_an_ad(record: logging.LogRecord) -> bool:
    return "litlogger" not in record.getMessage()


def quiet_startup() -> None:
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_not_an_ad)
    # raised inside Lightning against newer torch; nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
