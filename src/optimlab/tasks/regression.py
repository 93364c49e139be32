"""Regression: MSE (or D2L ch. 11's squared_loss / 2), with mse, rmse, mae and r2 per stage.

When the datamodule standardized the target it says by how much (``target_std``), and
rmse/mae are also logged in the target's own units as rmse_raw/mae_raw (dB for airfoil).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError, MetricCollection, R2Score

from optimlab.data.protocol import target_std_of
from optimlab.errors import ConfigError
from optimlab.tasks.base import OptimTask

LOSSES = ("mse", "half_mse")


def _metrics() -> MetricCollection:
    return MetricCollection(
        {
            "mse": MeanSquaredError(),
            "rmse": MeanSquaredError(squared=False),
            "mae": MeanAbsoluteError(),
            "r2": R2Score(),
        }
    )


class RegressionTask(OptimTask):
    """Logs <stage>/loss and <stage>/{mse, rmse, mae, r2} (+ rmse_raw, mae_raw) per stage."""

    kind = "regression"
    logged_metrics = tuple(
        f"{stage}/{name}"
        for stage in ("train", "val")
        for name in ("loss", "mse", "rmse", "mae", "r2", "rmse_raw", "mae_raw")
    )

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        loss: str = "mse",
        log_grad_norm: bool = True,
    ) -> None:
        if loss not in LOSSES:
            raise ConfigError(f"unknown regression loss {loss!r}; choose one of {list(LOSSES)}")
        super().__init__(net, optimizer, scheduler, log_grad_norm=log_grad_norm)
        self.loss_scale = 0.5 if loss == "half_mse" else 1.0
        self.train_metrics = _metrics().clone(prefix="train/")
        self.val_metrics = _metrics().clone(prefix="val/")
        self.test_metrics = _metrics().clone(prefix="test/")

    def _step(self, batch: tuple[Tensor, Tensor], stage: str, metrics: MetricCollection) -> Tensor:
        x, y = batch
        prediction = self(x)
        loss = self.loss_scale * F.mse_loss(prediction, y)
        metrics.update(prediction.detach().reshape(-1), y.reshape(-1))
        if stage == "train":  # train/loss_step every step, train/loss_epoch (FastSteps)
            self.record_train_step(len(y), loss=loss)
        return loss

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val", self.val_metrics)

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "test", self.test_metrics)

    def _target_std(self) -> float | None:
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer else None
        return target_std_of(datamodule)

    def _log_epoch(self, metrics: MetricCollection, stage: str) -> None:
        """The split's values: torchmetrics sums over every rank's examples once per epoch,
        so under DDP they are the whole split's (sync_dist then only averages equal copies)."""
        values = metrics.compute()
        if stage != "train":  # the loss over the whole split (training's is FastSteps')
            values[f"{stage}/loss"] = self.loss_scale * values[f"{stage}/mse"]
        scale = self._target_std()
        if scale is not None:
            for name in ("rmse", "mae"):
                values[f"{stage}/{name}_raw"] = values[f"{stage}/{name}"] * scale
        loss = values.pop(f"{stage}/loss", None)
        self.log_dict(values, sync_dist=True)
        if loss is not None:
            self.log(f"{stage}/loss", loss, prog_bar=True, sync_dist=True)
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        self._log_epoch(self.train_metrics, "train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self.val_metrics, "val")

    def on_test_epoch_end(self) -> None:
        self._log_epoch(self.test_metrics, "test")
