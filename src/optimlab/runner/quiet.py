"""Silence start-up lines that say nothing about the run (device banners, ads, upstream
deprecations), each by its own message, so every other Lightning line and warning still shows.

The closing summary names the checkpoint that was tested; a resumed run still shows
Lightning's "Restored all states from the checkpoint at ...", and a run that stops before
max_epochs still says why.
"""

from __future__ import annotations

import logging
import re
import warnings

# Lightning's info lines (logger lightning.pytorch.utilities.rank_zero) a default run prints
NOISE = re.compile(
    r"GPU available: |TPU available: |HPU available: "  # device banners
    r"|Restoring states from the checkpoint path at "  # before test loads best.ckpt
    r"|Loaded model weights from the checkpoint at "
    r"|`Trainer\.fit` stopped: `max_epochs=\d+` reached"  # the run ended as configured
    r"|Loading `train_dataloader` to estimate number of stepping batches"  # schedule length
    r"|💡 Tip: "  # ads for Lightning's hosted logger (litlogger) and registry (litmodels)
)
# lightning.pytorch.accelerators.cuda: one line per rank naming CUDA_VISIBLE_DEVICES
DEVICE_LIST = re.compile(r"LOCAL_RANK: \d+ - CUDA_VISIBLE_DEVICES: ")


def _not_noise(record: logging.LogRecord) -> bool:
    return NOISE.match(record.getMessage()) is None


def _not_device_list(record: logging.LogRecord) -> bool:
    return DEVICE_LIST.match(record.getMessage()) is None


def quiet_startup() -> None:
    """Idempotent: a filter added twice is kept once."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_not_noise)
    logging.getLogger("lightning.pytorch.accelerators.cuda").addFilter(_not_device_list)
    # raised inside Lightning against newer torch; nothing a user can act on
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # a resumed run writes its checkpoints into its own new directory, by design
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from .*")
