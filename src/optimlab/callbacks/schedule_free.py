"""Keeps a schedule-free optimizer's weights in step with the model's mode.

A schedule-free optimizer (optim/schedule_free.py) trains on one weight sequence, y, and is
meant to be evaluated on another, x, its running average; ``optimizer.train()`` and
``optimizer.eval()`` swap them in the model's parameters. This callback makes every place
a run looks at the weights see x: validation, test, prediction, every checkpoint it
writes, and the model left after ``fit``; training steps see y.

BatchNorm: the running statistics were gathered on y. Before each validation, as the
authors recommend, ``bn_batches`` training batches go through the model in train mode, with
x and without gradients, so the statistics fit x; a checkpoint written after that
validation keeps them, and the test of that checkpoint uses them.
"""

from __future__ import annotations

import itertools
from typing import Any

import lightning as L
import torch
from torch import nn

from optimlab.errors import ConfigError
from optimlab.optim.schedule_free import is_schedule_free


class ScheduleFreeModes(L.Callback):
    """Calls a schedule-free optimizer's train()/eval() wherever the model's mode changes
    (a no-op for every other optimizer)."""

    def __init__(self, bn_batches: int = 50) -> None:
        if bn_batches < 0:
            raise ConfigError(f"callbacks.schedule_free.bn_batches must be >= 0, got {bn_batches}")
        self.bn_batches = bn_batches
        self._found: tuple[list[Any], list[Any]] | None = None  # (trainer.optimizers, theirs)

    def _optimizers(self, trainer: L.Trainer) -> list[Any]:
        # looked up again only when the trainer's optimizers change: this runs every step
        optimizers = trainer.optimizers
        if self._found is None or self._found[0] is not optimizers:
            self._found = (optimizers, [o for o in optimizers if is_schedule_free(o)])
        return self._found[1]

    @staticmethod
    def _training(optimizer: Any) -> bool:
        return any(group.get("train_mode") for group in optimizer.param_groups)

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        for optimizer in self._optimizers(trainer):  # each call is a no-op once in train mode
            optimizer.train()

    def _evaluate(self, trainer: L.Trainer) -> None:
        for optimizer in self._optimizers(trainer):
            optimizer.eval()

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after training steps (not in the sanity check, nor twice for the same weights)
        stepped = any(self._training(o) for o in self._optimizers(trainer))
        self._evaluate(trainer)
        if stepped and not trainer.sanity_checking:
            self.recalibrate_batch_norm(trainer, pl_module)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer)

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # Lightning collected the weights and optimizer states before calling this; when
        # they were y, collect them again with x (and the optimizers in eval mode, as the
        # weights are). The swap back to y gives the same y a resumed run computes from
        # the checkpoint, so a resume stays bit for bit.
        training = [o for o in self._optimizers(trainer) if self._training(o)]
        if not training or "optimizer_states" not in checkpoint:
            return
        for optimizer in training:
            optimizer.eval()
        # copies: a state_dict's tensors share the parameters' memory, which train() rewrites
        weights = trainer.strategy.lightning_module_state_dict()
        checkpoint["state_dict"] = {name: value.clone() for name, value in weights.items()}
        checkpoint["optimizer_states"] = [
            trainer.strategy.optimizer_state(optimizer) for optimizer in trainer.optimizers
        ]
        for optimizer in training:
            optimizer.train()

    @torch.no_grad()
    def recalibrate_batch_norm(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Refit BatchNorm's running statistics to the weights now in the model."""
        norms = [m for m in pl_module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms or self.bn_batches == 0:
            return
        datamodule = trainer.datamodule
        loader = datamodule.train_dataloader() if datamodule else trainer.train_dataloader
        if loader is None:
            return
        was_training = pl_module.training
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):  # training's random draws stay as they were
            pl_module.train()
            for batch in itertools.islice(loader, self.bn_batches):
                inputs, _ = trainer.strategy.batch_to_device(batch)
                pl_module(inputs)
        pl_module.train(was_training)
