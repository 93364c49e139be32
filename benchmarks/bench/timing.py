"""Clocks and memory gauges shared by every benchmarked path."""

from __future__ import annotations

import contextlib
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_KIB = 1024
_MIB = 1024 * 1024


def synchronize(device: torch.device) -> None:
    """Wait for queued device work, so a clock reading covers it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _vm_hwm_kib(status: Path = _STATUS) -> int | None:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Peak memory over a stretch of work: CUDA allocator peak, or the process's peak RSS.

    On Linux the RSS high-water mark is reset before the stretch (``/proc/self/clear_refs``),
    so each path gets its own peak; elsewhere it is the process peak so far (an upper bound).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        with contextlib.suppress(OSError):  # 5: reset the peak RSS to the current RSS
            _CLEAR_REFS.write_text("5")

    def peak_mib(self) -> float:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device) / _MIB
        kib = _vm_hwm_kib()
        if kib is None:  # not Linux: ru_maxrss is KiB on Linux, bytes on macOS
            kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // _KIB
        return kib / _KIB

    @staticmethod
    def process_peak_mib(pid: int) -> float:
        """Peak RSS of another process (a DataLoader worker), 0 where it cannot be read."""
        kib = _vm_hwm_kib(Path(f"/proc/{pid}/status"))
        return (kib or 0) / _KIB


# One step of another path, run between two steps of this one: returns (seconds, images).
Partner = Callable[[], tuple[float, int]]


class StepTimer(L.Callback):
    """Times ``steps`` training batches after ``warmup`` batches (``max_steps`` ends the fit).

    Each timed interval runs from the end of one batch to the end of the next, so it covers
    one whole cycle of the loop: fetching the batch, every hook, logging, callbacks, forward,
    backward, optimizer step. With a ``partner`` (the bare model step), one partner step
    runs outside the clock after every batch: the two paths then alternate step by step and
    share whatever the machine is doing at that moment (lockstep interleaving).
    """

    def __init__(self, warmup: int = 5, steps: int = 20) -> None:
        if warmup < 1 or steps < 1:
            raise ValueError(f"warmup and steps must be >= 1, got {warmup} and {steps}")
        self.warmup = warmup
        self.steps = steps
        self.partner: Partner | None = None
        self.batches = 0
        self.images = 0
        self.elapsed = 0.0
        self.partner_images = 0
        self.partner_elapsed = 0.0
        self._resumed = 0.0

    @property
    def done(self) -> bool:
        return self.batches >= self.warmup + self.steps

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        if self.partner is None and self.batches + 1 in (self.warmup, self.warmup + self.steps):
            synchronize(pl_module.device)  # only at the window's edges: no per-step sync
        now = time.perf_counter()
        self.batches += 1
        timed = self.batches > self.warmup
        if timed and self.batches <= self.warmup + self.steps:
            self.elapsed += now - self._resumed
            self.images += len(batch[1])
        if self.partner is not None and self.batches <= self.warmup + self.steps:
            seconds, images = self.partner()
            if timed:
                self.partner_elapsed += seconds
                self.partner_images += images
        self._resumed = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.done:
            raise RuntimeError(
                f"the timed window ({self.warmup} warm-up + {self.steps} timed batches) ran "
                "past the end of an epoch; lower --steps/--warmup or use more training data"
            )


class EvalTimer(L.Callback):
    """Times each validation epoch (every batch fetch, forward, metric update and log)."""

    def __init__(self) -> None:
        self.elapsed: list[float] = []
        self.images = 0
        self._started = 0.0

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        synchronize(pl_module.device)
        self.images = 0
        self._started = time.perf_counter()

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *_: Any
    ) -> None:
        self.images += len(batch[1])

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        synchronize(pl_module.device)
        self.elapsed.append(time.perf_counter() - self._started)
