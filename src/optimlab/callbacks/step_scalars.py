"""Per-step scalars recorded every step, written to the loggers every n steps.

Lightning's ``self.log(..., on_step=True)`` and a logger write every step are a large
share of a small network's step (docs/performance.md), and on a GPU each value turned into
a number waits for the device. Here a step's values are only appended (tensors stay where
they are, no sync); every ``trainer.log_every_n_steps`` steps, at the end of each epoch
and when training stops (an exception included) the buffer is turned into numbers with one
transfer and written, one event per step, so TensorBoard still holds every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

Row = dict[str, float]


def _scalar(value: Tensor) -> Tensor:
    """A detached 0-d float32 tensor (most recorded values already are: no op for those)."""
    if value.ndim == 0 and value.dtype == torch.float32 and not value.requires_grad:
        return value
    return value.detach().reshape(()).float()


class StepScalars:
    """A buffer of {tag: value} rows, one per optimizer step."""

    def __init__(self) -> None:
        self._steps: list[int] = []
        self._rows: list[dict[str, Tensor | float]] = []
        self.last: Row = {}  # the newest step's values as numbers, after a flush

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, step: int, values: Mapping[str, Tensor | float]) -> None:
        """Record ``values`` for ``step`` (merged with what that step already has)."""
        if self._steps and self._steps[-1] == step:
            self._rows[-1].update(values)
        else:
            self._steps.append(step)
            self._rows.append(dict(values))

    def take(self) -> tuple[list[int], list[Row]]:
        """Empty the buffer: its steps and rows, every tensor turned into a float at once."""
        steps, rows = self._steps, self._rows
        self._steps, self._rows = [], []
        tensors = [_scalar(v) for row in rows for v in row.values() if isinstance(v, Tensor)]
        # one device-to-host transfer for the whole buffer
        numbers = iter(torch.stack(tensors).tolist() if tensors else [])
        floats = [
            {k: next(numbers) if isinstance(v, Tensor) else float(v) for k, v in row.items()}
            for row in rows
        ]
        if floats:
            self.last = floats[-1]
        return steps, floats


def _event_writer(logger: Logger) -> Any | None:
    """TensorBoard's file writer behind a Lightning TensorBoardLogger without a prefix."""
    if not isinstance(logger, TensorBoardLogger) or getattr(logger, "_prefix", ""):
        return None
    get = getattr(logger.experiment, "_get_file_writer", None)
    return get() if get is not None else None


@rank_zero_only
def write_rows(loggers: Iterable[Logger], steps: list[int], rows: list[Row]) -> None:
    """Write each row at its step: TensorBoard gets one event per step holding every tag
    (cheaper than one ``add_scalar`` per tag); other loggers get log_metrics.
    """
    if not steps:
        return
    from tensorboard.compat.proto.summary_pb2 import Summary

    for logger in loggers:
        writer = _event_writer(logger)
        for step, row in zip(steps, rows, strict=True):
            if writer is None:
                logger.log_metrics(row, step=step)
            else:
                values = [Summary.Value(tag=k, simple_value=v) for k, v in row.items()]
                writer.add_summary(Summary(value=values), step)


def due(trainer: L.Trainer, buffered: int) -> bool:
    """Time to write: ``log_every_n_steps`` steps buffered, or the epoch's last batch."""
    return buffered >= max(1, trainer.log_every_n_steps) or trainer.is_last_batch


class StepScalarWriter(L.Callback):
    """Writes a task's StepScalars buffer when due, at epoch end and when training stops.

    ``on_flush(row, can_log)`` gets the newest step's values after each write; ``can_log``
    says whether the hook it runs in allows ``self.log(on_step=True)`` (after a batch).
    """

    def __init__(
        self, buffer: StepScalars, on_flush: Callable[[Row, bool], None] | None = None
    ) -> None:
        self.buffer = buffer
        self.on_flush = on_flush

    def flush(self, trainer: L.Trainer, *, can_log: bool = False) -> None:
        if not len(self.buffer):
            return
        steps, rows = self.buffer.take()
        write_rows(trainer.loggers, steps, rows)
        if self.on_flush is not None:
            self.on_flush(rows[-1], can_log)

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if due(trainer, len(self.buffer)):
            self.flush(trainer, can_log=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.flush(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.flush(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        self.flush(trainer)  # the steps before a crash are the ones to see
