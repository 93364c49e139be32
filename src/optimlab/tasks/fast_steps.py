"""What keeps a small network's training step fast under Lightning, in one place.

On a network as small as LeNet, a Lightning step spends a visible share of its time in
Python around the network rather than in it (docs/performance.md has the measurements and
the commands that take them). ``FastSteps``, which every optimlab task inherits, trims
that share without changing what is logged. Training values (loss, accuracy, the gradient
norm, and the learning rate and momentum that ``LearningRateLogger`` adds) are not passed
to ``self.log`` each step: ``record_step`` appends the step's tensors to a ``StepScalars``
buffer, so a step never waits for the device to hand a number back, and a
``StepScalarWriter`` callback, which the task adds itself, turns the buffer into numbers
with one transfer and writes one TensorBoard event per step every
``trainer.log_every_n_steps`` steps, at each epoch's end and when training stops (a crash
included). Every step is still in TensorBoard under the same tags; the epoch means are
computed from the kept values at the epoch's end and summed over DDP ranks; the progress
bar shows the newest written loss; the buffer is empty at every epoch's end, where the
checkpoints are written, so a resumed run misses no value. The gradient norm is one
foreach kernel (``total_norm``) rather than ``get_total_norm``'s grouping of the tensors,
over a parameter list found once. And ``_current_fx_name``, which Lightning sets around
every hook call, skips ``nn.Module.__setattr__``'s parameter, buffer and module checks
(``PLAIN_ATTRIBUTES``).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from optimlab.callbacks.step_scalars import Row, StepScalars, StepScalarWriter

# attributes Lightning sets around every hook call that are never parameters, buffers or
# modules, so nn.Module's checks for those are skipped
PLAIN_ATTRIBUTES = frozenset({"_current_fx_name"})


def total_norm(tensors: list[Tensor]) -> Tensor:
    """The 2-norm of all ``tensors`` together, as torch.nn.utils.get_total_norm computes it,
    in one foreach kernel when every tensor shares a device and dtype (the usual case)."""
    first = tensors[0]
    if all(t.device == first.device and t.dtype == first.dtype for t in tensors):
        return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))
    return torch.nn.utils.get_total_norm(tensors, norm_type=2.0)


class FastSteps(L.LightningModule):
    """A LightningModule whose training values are recorded per step and written in bulk.

    Log training values with ``record_train_step`` (``train/<name>_step`` every step,
    ``train/<name>_epoch`` per epoch) or ``record_step`` (any tag, every step), not with
    ``self.log``. Validation and test values go through ``self.log`` as usual.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
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

    def configure_callbacks(self) -> list[L.Callback]:
        # once per trainer: a second writer of the same buffer (trainer.test after fit)
        # would only make Lightning announce that it replaces the first
        if any(self._writes_my_steps(callback) for callback in self.trainer.callbacks):
            return []
        return [StepScalarWriter(self.step_scalars, on_flush=self._on_step_scalars_written)]

    def _writes_my_steps(self, callback: L.Callback) -> bool:
        return isinstance(callback, StepScalarWriter) and callback.buffer is self.step_scalars

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

    def gradient_norm(self) -> Tensor | None:
        """The 2-norm of every trainable parameter's gradient (None before any gradient)."""
        if self._trainable is None:  # walking the modules every step costs more than the norm
            self._trainable = [p for p in self.parameters() if p.requires_grad]
        grads = [p.grad for p in self._trainable if p.grad is not None]
        return total_norm(grads).detach() if grads else None

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
            # summed over the ranks above; sync_dist only averages the equal copies
            self.log(f"train/{name}_epoch", mean, prog_bar=name == "loss", sync_dist=True)
            self.log(f"train/{name}", mean, logger=False, sync_dist=True)
        self._epoch_values, self._epoch_sizes = {}, []
