"""Callbacks that end a run early, standing in for a crash (the config plans the whole run)."""

from __future__ import annotations

import os
import signal

import lightning as L


class StopAfterEpochs(L.Callback):
    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


class KillAtStep(L.Callback):
    """SIGKILL this process after optimizer step ``step``: a crash with no chance to clean up.

    Armed only where OPTIMLAB_TEST_KILL=1, since a resumed run inherits the config with it.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if os.environ.get("OPTIMLAB_TEST_KILL") == "1" and trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)
