"""Lightning's rich progress bar, reading the metrics only when they change."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar


class ProgressBar(RichProgressBar):
    """The rich bar; after a training batch it moves the counter, and re-reads the metrics
    only when the task has just written its step values (``log_every_n_steps``).

    The stock bar re-reads every logged metric after every batch (Python work each step,
    and on a GPU a device sync per ``prog_bar`` value). The training loss shown is the
    newest written step value, already a number (``FastSteps.progress_bar_values``).
    """

    def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
        values = getattr(pl_module, "progress_bar_values", {})
        return {**super().get_metrics(trainer, pl_module), **values}

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if (batch_idx + 1) % max(1, trainer.log_every_n_steps) == 0 or trainer.is_last_batch:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        elif self.progress is not None and self.train_progress_bar_id is not None:
            self.progress.update(self.train_progress_bar_id, completed=batch_idx + 1)
            self.refresh()
