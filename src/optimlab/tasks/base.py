"""What every task shares: the network, and optimizer + schedule wiring from config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import Tensor, nn

from optimlab.callbacks.step_scalars import Row, StepScalars, StepScalarWriter
from optimlab.optim import build_lr_scheduler, build_optimizer

# Attributes Lightning sets around every hook call (about 40 times a training step) that are
# never parameters, buffers or modules: nn.Module.__setattr__ checks all three each time
# (about 3 us; 0.5% of a LeNet step on a CPU), a plain attribute set does not
# (docs/performance.md, scripts/benchmark_floor.py).
PLAIN_ATTRIBUTES = frozenset({"_current_fx_name"})


def total_norm(tensors: list[Tensor]) -> Tensor:
    """The 2-norm of all ``tensors`` together, as torch.nn.utils.get_total_norm computes it.

    One foreach kernel where every tensor shares a device and dtype (the usual case):
    get_total_norm's grouping of the tensors costs about 140 us more per call inside the
    training step, about 0.5-1% of a LeNet step on a CPU (docs/performance.md).
    """
    first = tensors[0]
    if all(t.device == first.device and t.dtype == first.dtype for t in tensors):
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))
    return torch.nn.utils.get_total_norm(tensors, norm_type=2.0)


class OptimTask(L.LightningModule):
    """A LightningModule whose optimizer and LR schedule come from config dicts.

    ``net`` may be a module or a Hydra config of one. Configs (not objects) are kept as
    hyperparameters, so a checkpoint alone is enough to rebuild the task.

    Training values go through ``record_train_step`` rather than ``self.log``: every step
    is kept (tensors, no device sync) and written in bulk by a StepScalarWriter, which
    costs a small share of what per-step ``self.log`` cost (docs/performance.md).
    """

    kind = "base"

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
        self.step_scalars = StepScalars()  # every step's values until the next write
        self.progress_bar_values: dict[str, float] = {}  # newest written values, for the bar
        self._epoch_values: dict[str, list[Tensor]] = {}  # this epoch's step values
        self._epoch_sizes: list[int] = []  # ... and the batch size of each step
        self._trainable: list[nn.Parameter] | None = None  # for the gradient norm

    def __setattr__(self, name: str, value: Any) -> None:
        if name in PLAIN_ATTRIBUTES:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x: Tensor) -> Tensor:
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)

    def transfer_batch_to_device(
        self, batch: Any, device: torch.device, dataloader_idx: int
    ) -> Any:
        # optimlab's loaders cut batches from tensors already on the device: skip Lightning's
        # walk over the batch (a few dozen us a step) when there is nothing to move
        if isinstance(batch, (tuple, list)) and all(
            isinstance(item, Tensor) and item.device == device for item in batch
        ):
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def use_channels_last(self) -> None:
        """Run the convolutions in NHWC layout (faster on CPUs and tensor cores)."""
        self.net.to(memory_format=torch.channels_last)
        self.channels_last = True

    def configure_optimizers(self) -> Any:
        optimizer = build_optimizer(self.hparams["optimizer"], self.parameters())
        scheduler = build_lr_scheduler(
            optimizer, self.hparams.get("scheduler"), trainer=self.trainer
        )
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def configure_callbacks(self) -> list[L.Callback]:
        return [StepScalarWriter(self.step_scalars, on_flush=self._on_step_scalars_written)]

    def record_step(self, values: dict[str, Tensor | float]) -> None:
        """Keep values of this optimizer step for the loggers (written in bulk, no sync)."""
        self.step_scalars.add(self.global_step, {**values, "epoch": float(self.current_epoch)})

    def record_train_step(self, batch_size: int, **values: Tensor) -> None:
        """This batch's training values (loss=..., acc=...): logged as train/<name>_step
        every step and averaged (weighted by batch size) into train/<name>_epoch.
        """
        values = {name: value.detach() for name, value in values.items()}
        for name, value in values.items():
            self._epoch_values.setdefault(name, []).append(value)
        self._epoch_sizes.append(batch_size)
        self.record_step({f"train/{name}_step": value for name, value in values.items()})

    def _on_step_scalars_written(self, row: Row, can_log: bool) -> None:
        # the newest step values: on the progress bar, and as train/<name> for monitors
        # (numbers already, so nothing here waits for the device)
        if "train/loss_step" in row:
            self.progress_bar_values = {"train/loss": row["train/loss_step"]}
        if not can_log:
            return
        for name in self._epoch_values:
            value = row.get(f"train/{name}_step")
            if value is not None:
                self.log(f"train/{name}", value, on_step=True, on_epoch=False, logger=False)

    def on_train_epoch_end(self) -> None:
        if not self._epoch_sizes:
            return
        sizes = torch.tensor(self._epoch_sizes, dtype=torch.float32)
        names = list(self._epoch_values)
        sums = torch.stack(
            [torch.stack(self._epoch_values[n]).float() @ sizes.to(self.device) for n in names]
            + [sizes.sum().to(self.device)]
        )
        sums = self.trainer.strategy.reduce(sums, reduce_op="sum")  # every rank's batches
        for name, total in zip(names, sums[:-1], strict=True):
            mean = total / sums[-1]
            self.log(f"train/{name}_epoch", mean, prog_bar=name == "loss")
            self.log(f"train/{name}", mean, logger=False)
        self._epoch_values, self._epoch_sizes = {}, []

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        # Lightning calls this after accumulation and before clipping: the raw norm, so
        # exploding gradients show in TensorBoard even when clipping hides them from the step
        if self.log_grad_norm:
            if self._trainable is None:  # walking the modules every step costs more than the norm
                self._trainable = [p for p in self.parameters() if p.requires_grad]
            grads = [p.grad for p in self._trainable if p.grad is not None]
            if grads:
                self.record_step({"train/grad_norm": total_norm(grads).detach()})

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
