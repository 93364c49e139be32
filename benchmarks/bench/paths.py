"""The benchmarked paths. Each is prepared once (untimed), then timed once per round.

(a) ``LimitPath``: the network's forward + loss + backward + optimizer step on batches
    already in memory (on the device, normalized), nothing around it.
(b) ``OptimlabPath``: the objects train.py builds (datamodule, task, trainer with the
    configured logger and callbacks), timed by a ``StepTimer`` callback after a warm-up.
(c) ``ClassicPath``: a torchvision dataset + per-sample transforms + DataLoader workers,
    feeding the same network in a plain loop.
(+) ``EvalPath``: one validation pass through the real path at a given eval batch size.
"""

from __future__ import annotations

import contextlib
import itertools
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import Tensor, nn

from bench.classic import classic_dataset, classic_loader
from bench.config import instantiate_datamodule
from bench.timing import EvalTimer, PeakMemory, StepTimer, synchronize
from optimlab.optim import build_optimizer
from optimlab.runner.train import build_task, build_trainer
from optimlab.tasks import ClassificationTask

LIMIT_BATCHES = 8  # distinct in-memory batches the limit cycles through


@dataclass(frozen=True)
class Sample:
    """One timed repeat of one path."""

    images_per_s: float
    peak_mib: float
    note: str = ""
    partner_images_per_s: float | None = None  # the limit, stepped in lockstep with this path


def find_callback(callbacks: list[Any], kind: type) -> Any:
    for callback in callbacks:
        if isinstance(callback, kind):
            return callback
    raise LookupError(f"no {kind.__name__} among the trainer's callbacks")


Autocast = Callable[[], contextlib.AbstractContextManager]


def _autocast(precision: str, device: torch.device) -> Autocast:
    """What trainer.precision does around forward/loss, for the plain loops."""
    precision = str(precision)
    if precision in ("32-true", "32"):
        return contextlib.nullcontext
    if precision == "bf16-mixed":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    if precision == "16-mixed":
        return lambda: torch.autocast(device.type, dtype=torch.float16)
    raise ValueError(f"the plain loops do not know trainer.precision={precision}")


class _PlainLoop:
    """A bare network + optimizer built exactly as the real task builds them (with the same
    speed switches: channels_last, compile, precision)."""

    def __init__(self, cfg: DictConfig, datamodule: L.LightningDataModule, device: torch.device):
        task = build_task(cfg, datamodule)
        if not isinstance(task, ClassificationTask):
            raise ValueError("the benchmark times classification models only")
        self.net: nn.Module = task.net.to(device).train()
        self.channels_last = task.channels_last
        optimizer = OmegaConf.to_container(cfg.optimizer, resolve=True)
        self.optimizer = build_optimizer(optimizer, self.net.parameters())  # type: ignore[arg-type]
        self.device = device
        self.autocast = _autocast(cfg.trainer.precision, device)
        self.scaler = (
            torch.amp.GradScaler(device.type) if str(cfg.trainer.precision) == "16-mixed" else None
        )

    def place(self, x: Tensor) -> Tensor:
        """A batch on the device, in the network's memory layout."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def step(self, x: Tensor, y: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = F.cross_entropy(self.net(x), y)
        if self.scaler is None:
            loss.backward()
            self.optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()

    def timed(self, batches: Iterator[tuple[Tensor, Tensor]], warmup: int, steps: int) -> float:
        """Images per second over ``steps`` steps after ``warmup`` untimed ones."""
        images = 0
        started = 0.0
        for index, (x, y) in enumerate(itertools.islice(batches, warmup + steps)):
            if index == warmup:
                synchronize(self.device)
                started = time.perf_counter()
            self.step(self.place(x), y.to(self.device, non_blocking=True))
            if index >= warmup:
                images += len(y)
        synchronize(self.device)
        return images / (time.perf_counter() - started)


class LimitPath:
    """(a) The model step alone, on normalized batches already on the device."""

    kind = "limit"

    def __init__(self, cfg: DictConfig, datamodule: L.LightningDataModule, device: torch.device):
        self.loop = _PlainLoop(cfg, datamodule, device)
        loader = datamodule.train_dataloader()
        self.batches = [
            (self.loop.place(x), y.to(device)) for x, y in itertools.islice(loader, LIMIT_BATCHES)
        ]
        self.memory = PeakMemory(device)
        self._cycle = itertools.cycle(self.batches)

    def step(self) -> tuple[float, int]:
        """One timed step (CPU: no sync needed) for lockstep interleaving with another path."""
        x, y = next(self._cycle)
        started = time.perf_counter()
        self.loop.step(x, y)
        return time.perf_counter() - started, len(y)

    def run(self, warmup: int, steps: int) -> Sample:
        self.memory.reset()
        rate = self.loop.timed(self._cycle, warmup, steps)
        return Sample(rate, self.memory.peak_mib())


class ClassicPath:
    """(c) torchvision dataset + transforms on PIL images + DataLoader workers, plain loop."""

    kind = "classic"

    def __init__(
        self,
        cfg: DictConfig,
        datamodule: L.LightningDataModule,
        device: torch.device,
        *,
        recipe: str,
        workers: int,
    ) -> None:
        self.loop = _PlainLoop(cfg, datamodule, device)
        self._workdir = tempfile.TemporaryDirectory(prefix="optimlab-classic-")
        self.dataset = classic_dataset(recipe, cfg.datamodule, Path(self._workdir.name))
        self.batch_size = int(cfg.datamodule.batch_size)
        self.workers = workers
        self.device = device
        self.memory = PeakMemory(device)

    def run(self, warmup: int, steps: int) -> Sample:
        self.memory.reset()
        loader = classic_loader(
            self.dataset, batch_size=self.batch_size, workers=self.workers, device=self.device
        )
        batches = iter(loader)  # a new epoch: workers start here, before the clock
        rate = self.loop.timed(batches, warmup, steps)
        worker_peaks = [
            PeakMemory.process_peak_mib(w.pid) for w in getattr(batches, "_workers", [])
        ]
        del batches
        note = f"+ {len(worker_peaks)} workers x {max(worker_peaks):.0f}" if worker_peaks else ""
        return Sample(rate, self.memory.peak_mib(), note)

    def close(self) -> None:
        self._workdir.cleanup()


class OptimlabPath:
    """(b) Fresh task + trainer per round, built by optimlab.runner.train from the config."""

    kind = "optimlab"

    def __init__(
        self,
        cfg: DictConfig,
        datamodule: L.LightningDataModule,
        device: torch.device,
        output_dir: Path,
        partner: LimitPath | None = None,
    ) -> None:
        self.cfg = cfg
        self.datamodule = datamodule
        self.output_dir = output_dir
        self.partner = partner
        self.memory = PeakMemory(device)
        self.rounds = 0

    def run(self, warmup: int, steps: int) -> Sample:
        self.memory.reset()
        with open_dict(self.cfg):  # each round logs into its own folder
            self.cfg.paths.output_dir = str(self.output_dir / f"round{self.rounds}")
        self.rounds += 1
        task = build_task(self.cfg, self.datamodule)
        trainer = build_trainer(self.cfg)
        timer = find_callback(trainer.callbacks, StepTimer)
        timer.partner = self.partner.step if self.partner is not None else None
        trainer.fit(task, datamodule=self.datamodule)
        if not timer.done:
            raise RuntimeError("the training stopped before the timed window ended")
        partner = timer.partner_images / timer.partner_elapsed if self.partner else None
        return Sample(timer.images / timer.elapsed, self.memory.peak_mib(), "", partner)


class EvalPath:
    """One validation pass (every val batch) through the real trainer, at the config's
    ``datamodule.eval_batch_size``."""

    kind = "eval"

    def __init__(self, cfg: DictConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.datamodule = instantiate_datamodule(cfg)
        self.task = build_task(cfg, self.datamodule)
        self.memory = PeakMemory(device)
        self.run(0, 0)  # untimed: first-shape set-up costs

    def run(self, warmup: int, steps: int) -> Sample:
        del warmup, steps  # a whole validation pass; the first one ran untimed
        self.memory.reset()
        trainer = build_trainer(self.cfg)
        timer = find_callback(trainer.callbacks, EvalTimer)
        trainer.validate(self.task, datamodule=self.datamodule, verbose=False)
        return Sample(timer.images / timer.elapsed[-1], self.memory.peak_mib())
