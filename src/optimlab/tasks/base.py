"""What every task shares: the network, and optimizer + schedule wiring from config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import Tensor, nn

from optimlab.callbacks.schedule_free import ScheduleFreeModes
from optimlab.optim import build_lr_scheduler, build_optimizer
from optimlab.optim.schedule_free import is_schedule_free, optimizer_class
from optimlab.tasks.fast_steps import FastSteps


class OptimTask(FastSteps, L.LightningModule):
    """A LightningModule whose optimizer and LR schedule come from config dicts.

    ``net`` may be a module or a Hydra config of one. Configs (not objects) are kept as
    hyperparameters, so a checkpoint alone is enough to rebuild the task. Training values
    are logged with ``record_train_step`` (see FastSteps: every step kept, written in bulk).
    """

    kind = "base"
    # What the task logs while fitting: optimized_metric and a plateau monitor must be one
    # of these (the preflight asks). A subclass that logs a new metric adds it here.
    logged_metrics: tuple[str, ...] = ()

    def __init__(
        self,
        net: nn.Module | Mapping[str, Any],
        optimizer: Mapping[str, Any],
        scheduler: Mapping[str, Any] | None = None,
        log_grad_norm: bool = True,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net"] if isinstance(net, nn.Module) else None)
        self.net = net if isinstance(net, nn.Module) else instantiate(net)
        self.log_grad_norm = log_grad_norm
        self.channels_last = False  # set by use_channels_last

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def use_channels_last(self) -> None:
        """Run the convolutions in NHWC layout (faster on CPUs and tensor cores)."""
        self.net.to(memory_format=torch.channels_last)
        self.channels_last = True

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.hparams["optimizer"], self)
        scheduler = build_lr_scheduler(
            optimizer, self.hparams.get("scheduler"), trainer=self.trainer
        )
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def configure_callbacks(self) -> list[L.Callback]:
        callbacks = list(super().configure_callbacks())
        # a schedule-free optimizer is evaluated on its averaged weights even without the
        # default callbacks (callbacks=none)
        schedule_free = is_schedule_free(optimizer_class(self.hparams["optimizer"]))
        if schedule_free and not any(
            isinstance(callback, ScheduleFreeModes) for callback in self.trainer.callbacks
        ):
            callbacks.append(ScheduleFreeModes())
        return callbacks

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this after accumulation and before clipping: the raw norm, so
        # exploding gradients show in TensorBoard even when clipping hides them from the step
        norm = self.gradient_norm() if self.log_grad_norm else None
        if norm is not None:
            self.record_step({"train/grad_norm": norm})

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["optimlab_task"] = self.kind
        # random state (dropout, augmentation draws) so a resumed run continues bit for bit
        checkpoint["rng_states"] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            checkpoint["rng_states"]["cuda"] = torch.cuda.get_rng_state_all()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        states = checkpoint.get("rng_states") or {}
        if "torch" in states:
            torch.set_rng_state(states["torch"])
        if "cuda" in states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(states["cuda"])
