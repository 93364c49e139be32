"""What Lightning's own loop costs, and the two batch-path micro-costs (docs/performance.md).

python scripts/benchmark_floor.py                 # LeNet, batch 256, all cores
python scripts/benchmark_floor.py --threads 1

In one process, in alternating rounds: (a) the bare forward + loss + backward + SGD step on
8 in-memory batches (the benchmark's limit) and (f) the same network and batches in a
LightningModule whose training_step only returns the loss, run by a Trainer with no logger,
no callbacks, no checkpoints and no progress bar: the floor that any Lightning-based path
can reach. Then the gather and the normalization of one batch, both ways. The last line is
`floor_vs_limit=<f/a>`.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not

import lightning as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from optimlab.models import LeNet  # noqa: E402

BATCHES = 8  # distinct in-memory batches both paths cycle through (as the benchmark's limit)


class Bare(L.LightningModule):
    def __init__(self, net: nn.Module, lr: float) -> None:
        super().__init__()
        self.net, self.lr = net, lr

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


class Cycle:
    """``steps`` batches cycled from ``batches``, with a length (Lightning wants one)."""

    def __init__(self, batches: list[tuple[Tensor, Tensor]], steps: int) -> None:
        self.batches, self.steps = batches, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return itertools.islice(itertools.cycle(self.batches), self.steps)


def limit_rate(net: nn.Module, batches: list[tuple[Tensor, Tensor]], steps: int) -> float:
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    started = time.perf_counter()
    for x, y in itertools.islice(itertools.cycle(batches), steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), y).backward()
        optimizer.step()
    return steps * len(batches[0][1]) / (time.perf_counter() - started)


class Clock(L.Callback):
    """Seconds from the end of batch ``warmup`` to the end of training."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.started, self.ended = warmup, 0.0, 0.0

    def on_train_batch_end(self, trainer: L.Trainer, *_: object) -> None:
        if trainer.global_step == self.warmup:
            self.started = time.perf_counter()
        self.ended = time.perf_counter()


def floor_rate(
    net: nn.Module, batches: list[tuple[Tensor, Tensor]], warmup: int, steps: int
) -> float:
    clock = Clock(warmup)
    trainer = L.Trainer(
        accelerator="cpu", max_steps=warmup + steps, logger=False, callbacks=[clock],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(Bare(net, lr=0.01), train_dataloaders=Cycle(batches, warmup + steps))
    return steps * len(batches[0][1]) / (clock.ended - clock.started)


def micro(batch_size: int, repeats: int = 200) -> list[str]:
    """The gather of a batch from 60,000 uint8 images and its normalization, both ways (ms)."""
    images = torch.randint(0, 256, (60_000, 1, 28, 28), dtype=torch.uint8)
    index = torch.randperm(len(images))[:batch_size]
    scale, shift = torch.full((1, 1, 1, 1), 1 / (255 * 0.353)), torch.full((1, 1, 1, 1), -0.81)
    batch = images.index_select(0, index)

    def ms(fn: Callable[[], object]) -> float:
        fn()
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - started) / repeats * 1e3

    rows = [
        ("gather images[index]", lambda: images[index]),
        ("gather images.index_select(0, i)", lambda: images.index_select(0, index)),
        ("normalize addcmul", lambda: torch.addcmul(shift, batch.float(), scale)),
        ("normalize in-place mul_/add_", lambda: batch.float().mul_(scale).add_(shift)),
    ]
    return [f"{name:34s}{ms(fn):.3f} ms" for name, fn in rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per round and path")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.manual_seed(0)
    net = LeNet().to(memory_format=torch.channels_last)  # as optimlab runs it
    batches = [
        (torch.randn(args.batch_size, 1, 28, 28), torch.randint(0, 10, (args.batch_size,)))
        for _ in range(BATCHES)
    ]
    limit_rate(net, batches, args.warmup)
    ratios = []
    for round_ in range(1, args.repeats + 1):
        limit = limit_rate(net, batches, args.steps)
        floor = floor_rate(net, batches, args.warmup, args.steps)
        ratios.append(floor / limit)
        rates = f"limit {limit:8.0f} images/s  floor {floor:8.0f} images/s"
        print(f"round {round_}: {rates}  x{floor / limit:.3f}", flush=True)
    settings = f"threads={args.threads} batch_size={args.batch_size} steps={args.steps}"
    print(f"# {settings} repeats={args.repeats}")
    print("\n".join(micro(args.batch_size)))
    print(f"floor_vs_limit={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
