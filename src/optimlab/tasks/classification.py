"""Image classification: cross-entropy, accuracy, best validation accuracy so far."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from optimlab.tasks.base import OptimTask


class ClassificationTask(OptimTask):
    """Logs train/loss, train/acc (step and epoch), val/loss, val/acc, val/acc_best, test/*."""

    kind = "classification"
    logged_metrics = ("train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best")

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        num_classes: int = 10,
        log_grad_norm: bool = True,
    ) -> None:
        super().__init__(net, optimizer, scheduler, log_grad_norm=log_grad_norm)
        self.val_acc = MulticlassAccuracy(num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes, average="micro")
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.val_acc_best = MaxMetric()

    def _shared_step(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        x, y = batch
        logits = self(x)
        return F.cross_entropy(logits, y), logits.argmax(dim=1), y

    def on_train_start(self) -> None:
        # the sanity check ran validation on an untrained net: forget it
        self.val_acc.reset()
        self.val_loss.reset()
        self.val_acc_best.reset()

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss, preds, y = self._shared_step(batch)
        # train/loss and train/acc, _step and _epoch (see OptimTask.record_train_step)
        self.record_train_step(len(y), loss=loss, acc=(preds == y).float().mean())
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, preds, y = self._shared_step(batch)
        self.val_loss(loss, weight=len(y))
        self.val_acc(preds, y)
        self.log("val/loss", self.val_loss, on_epoch=True)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)  # equal on all ranks

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        loss, preds, y = self._shared_step(batch)
        self.test_loss(loss, weight=len(y))
        self.test_acc(preds, y)
        self.log("test/loss", self.test_loss, on_epoch=True)
        self.log("test/acc", self.test_acc, on_epoch=True)
