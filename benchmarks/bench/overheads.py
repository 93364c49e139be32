"""Small per-step costs behind docs/performance.md's "What dominates", each re-measurable.

``benchmarks/benchmark_floor.py`` prints these after its ladder. Every function returns
(name, microseconds) rows; the per-step ones take the median over ``steps`` steps.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from optimlab.callbacks import StepScalars, write_rows
from optimlab.tasks import ClassificationTask
from optimlab.tasks.fast_steps import total_norm

Row = tuple[str, float]
Batch = tuple[Tensor, Tensor]
# the step values of one LeNet step, as the task and the LR logger record them
STEP_TAGS = ("train/lr", "train/momentum", "train/loss_step", "train/acc_step", "train/grad_norm")
WRITE_ROWS = 50  # steps per bulk write: trainer.log_every_n_steps' default
QUEUES = (10, 1000)  # SummaryWriter's default max_queue, and conf/logger/tensorboard.yaml's


def _us(fn: Callable[[], object], repeats: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats * 1e6


def hook_attribute(repeats: int = 20_000) -> list[Row]:
    """Lightning sets ``_current_fx_name`` around every hook call: nn.Module's __setattr__
    against the plain set of optimlab's tasks (FastSteps)."""
    plain = L.LightningModule()
    task = ClassificationTask(net=nn.Linear(1, 1), optimizer={"_target_": "torch.optim.SGD"})

    def set_on(module: nn.Module) -> Callable[[], None]:
        return lambda: setattr(module, "_current_fx_name", "training_step")

    return [
        ("_current_fx_name via nn.Module.__setattr__", _us(set_on(plain), repeats)),
        ("_current_fx_name via FastSteps.__setattr__", _us(set_on(task), repeats)),
    ]


def _bare_step(net: nn.Module, optimizer: torch.optim.Optimizer, batch: Batch) -> None:
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(net(batch[0]), batch[1]).backward()


def first_op_after_backward(
    make_net: Callable[[], nn.Module], batches: Iterable[Batch], steps: int
) -> list[Row]:
    """A scalar ``isfinite`` right after backward, then the same op again: the first pays
    for refilling the caches the step's kernels evicted."""
    net = make_net()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    probe = torch.zeros(())
    first, second = [], []
    for _, batch in zip(range(steps), batches, strict=False):
        _bare_step(net, optimizer, batch)
        for times in (first, second):
            started = time.perf_counter()
            bool(torch.isfinite(probe).all())
            times.append(time.perf_counter() - started)
        optimizer.step()
    return [
        ("isfinite first after backward", statistics.median(first) * 1e6),
        ("isfinite again right after", statistics.median(second) * 1e6),
    ]


class _NormTimer(L.LightningModule):
    """Times both gradient norms where the task computes its own, inside Lightning's step."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.seconds: dict[str, list[float]] = {"get_total_norm": [], "total_norm": []}

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        return F.cross_entropy(self.net(batch[0]), batch[1])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        bool(torch.isfinite(grads[-1]).all())  # pays the cache refill after backward
        norms = [
            ("get_total_norm", lambda: torch.nn.utils.get_total_norm(grads, 2.0)),
            ("total_norm", lambda: total_norm(grads)),
        ]
        for name, norm in norms if self.global_step % 2 else norms[::-1]:  # alternate order
            started = time.perf_counter()
            norm()
            self.seconds[name].append(time.perf_counter() - started)


def grad_norm_in_place(
    make_net: Callable[[], nn.Module], batches: Iterable[Batch], steps: int
) -> list[Row]:
    """get_total_norm and total_norm timed in on_before_optimizer_step of a Lightning fit
    (where optimlab's tasks compute train/grad_norm), both every step, in alternating order."""
    module = _NormTimer(make_net())
    trainer = L.Trainer(
        accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
        limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=batches)
    return [
        (f"gradient norm {name} in the step", statistics.median(times) * 1e6)
        for name, times in module.seconds.items()
    ]


def tensorboard_writes(repeats: int = 5) -> list[Row]:
    """One event's record checksum (pure Python in tensorboard), and a bulk write of 50
    steps with SummaryWriter's default queue and with the one optimlab configures."""
    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.record_writer import RecordWriter

    values = [Summary.Value(tag=tag, simple_value=0.5) for tag in STEP_TAGS]
    event = Event(wall_time=time.time(), step=1234, summary=Summary(value=values))
    record = event.SerializeToString()
    records = RecordWriter(io.BytesIO())
    rows = [
        (
            f"record checksum + write, {len(record)}-byte event",
            _us(lambda: records.write(record), 2000),
        )
    ]

    def filled() -> StepScalars:
        buffer = StepScalars()
        for step in range(WRITE_ROWS):
            buffer.add(step, {tag: torch.rand(()) for tag in STEP_TAGS})
        return buffer

    with tempfile.TemporaryDirectory(prefix="optimlab-tb-") as tmp:
        for queue in QUEUES:
            logger = TensorBoardLogger(Path(tmp) / str(queue), name="", version="", max_queue=queue)
            times = []
            for attempt in range(repeats + 1):  # the first write opens the event file
                steps, step_rows = filled().take()
                started = time.perf_counter()
                write_rows([logger], steps, step_rows)
                if attempt:
                    times.append(time.perf_counter() - started)
                logger.experiment.flush()  # empty the queue before the next write
            logger.finalize("success")
            name = f"bulk write of {WRITE_ROWS} steps, max_queue={queue}"
            rows.append((name, statistics.median(times) * 1e6))
    return rows
