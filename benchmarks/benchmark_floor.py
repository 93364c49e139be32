"""Where the LeNet step's time goes between the bare limit and optimlab (docs/performance.md).

python benchmarks/benchmark_floor.py                 # LeNet, batch 256, all cores
python benchmarks/benchmark_floor.py --threads 1

A ladder of training paths, each a rung more of what optimlab's path does, every one
stepped in lockstep with the benchmark's limit (the bare forward + loss + backward + SGD
step on 8 in-memory batches): after each of the rung's steps, one limit step runs outside
the rung's clock, so both share the same seconds of a noisy machine. The data is random
uint8 images of Fashion-MNIST's size (60,000, of which 55,000 train), written as the
official IDX files and served by optimlab's FashionMNISTDataModule. Rungs:

  plain, fresh batches    the limit's bare loop, fed by the datamodule's training loader
                          (gather + normalize per batch)
  lightning, ready        a LightningModule whose training_step returns only the loss,
                          a Trainer with no logger, callbacks, checkpoints or bar, on the
                          limit's 8 ready batches: Lightning's own loop
  lightning, fresh        the same, fed by the training loader
  task, ready             optimlab's ClassificationTask (accuracy, recorded step values,
                          epoch sums; gradient norm off) on ready batches
  task, fresh             the task fed by the training loader: what
                          `benchmarks/benchmark.py --variant bare ...` runs, without Hydra

Each rung prints its median ratio to the limit over the rounds, then the limit's own step
time (so a ratio converts to milliseconds a step). Then the gather and the normalization of
one batch, two ways each, and the loader's whole fetch; then the small per-step costs
docs/performance.md cites (bench.overheads: Lightning's hook attribute, a small op after
backward, the gradient norm in the step, TensorBoard writes). The last line is
`floor_vs_limit=<lightning, ready>`.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not

import lightning as L  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench import overheads  # noqa: E402
from bench.config import compose_config, instantiate_datamodule  # noqa: E402
from bench.fake_data import write_fake_fashion_mnist  # noqa: E402
from bench.timing import StepTimer  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from optimlab.models import LeNet  # noqa: E402
from optimlab.tasks import ClassificationTask  # noqa: E402

READY_BATCHES = 8  # distinct in-memory batches the limit cycles through (as benchmark.py's)
IMAGES = 60_000  # Fashion-MNIST's training images
VAL_SHARE = 12  # 1 in 12 held out for validation: Fashion-MNIST's 5,000 of 60,000
LR = 0.01
SGD = {"_target_": "torch.optim.SGD", "lr": LR}  # the task's optimizer config
FASHION_MEAN, FASHION_STD = 0.286, 0.353

Batch = tuple[Tensor, Tensor]


def lenet() -> nn.Module:
    return LeNet().to(memory_format=torch.channels_last)  # as optimlab runs it


class Bare(L.LightningModule):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=LR)


def task() -> L.LightningModule:
    task = ClassificationTask(net=LeNet(), optimizer=SGD, log_grad_norm=False)
    task.use_channels_last()
    return task


class Cycle:
    """``steps`` batches cycled from ``batches``, with a length (Lightning wants one)."""

    def __init__(self, batches: list[Batch], steps: int) -> None:
        self.batches, self.steps = batches, steps

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Batch]:
        return itertools.islice(itertools.cycle(self.batches), self.steps)


class Limit:
    """The bare step, one step at a time: on ``batches`` cycled (the limit, partner of every
    rung), or on the batch it is given (the plain rung)."""

    def __init__(self, batches: Iterable[Batch] = ()) -> None:
        self.net = lenet()
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=LR)
        self.batches = itertools.cycle(batches)

    def step(self, batch: Batch | None = None) -> tuple[float, int]:
        x, y = batch if batch is not None else next(self.batches)
        started = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(self.net(x), y).backward()
        self.optimizer.step()
        return time.perf_counter() - started, len(y)


def fashion_datamodule(images: int, batch_size: int, workdir: Path) -> L.LightningDataModule:
    """optimlab's Fashion-MNIST datamodule, as train.py configures it, over ``images``
    random uint8 images in the official files."""
    data_dir = write_fake_fashion_mnist(workdir / "fashion_mnist", train=images)
    overrides = [
        "datamodule=fashion_mnist",
        f"datamodule.data_dir={data_dir}",
        "datamodule.system_dir=null",
        "datamodule.download=false",
        f"datamodule.batch_size={batch_size}",
        f"datamodule.val_size={images // VAL_SHARE}",
    ]
    return instantiate_datamodule(compose_config(overrides, workdir / "run"))


def lightning_ratio(
    module: L.LightningModule, batches: Iterable[Batch], limit: Limit, warmup: int, steps: int
) -> float:
    """Images/s of a Trainer fit over the limit's images/s stepped alongside it."""
    timer = StepTimer(warmup, steps)
    timer.partner = limit.step
    trainer = L.Trainer(
        accelerator="cpu", max_steps=warmup + steps, logger=False, callbacks=[timer],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=batches)
    return (timer.images / timer.elapsed) / (timer.partner_images / timer.partner_elapsed)


def plain_ratio(batches: Iterable[Batch], limit: Limit, warmup: int, steps: int) -> float:
    """The bare loop fed by ``batches`` (fetch timed too) over the limit alongside it."""
    plain = Limit()  # fed batch by batch below
    elapsed = partner_elapsed = 0.0
    images = partner_images = 0
    iterator = iter(batches)
    for index in range(warmup + steps):
        started = time.perf_counter()
        _, size = plain.step(next(iterator))  # timed with the fetch, below
        took = time.perf_counter() - started
        partner_seconds, partner_size = limit.step()
        if index >= warmup:
            elapsed, images = elapsed + took, images + size
            partner_elapsed, partner_images = (
                partner_elapsed + partner_seconds,
                partner_images + partner_size,
            )
    return (images / elapsed) / (partner_images / partner_elapsed)


Rung = Callable[[Limit, int, int], float]  # (limit, warmup, steps) -> ratio


def rungs(ready: list[Batch], fresh: Callable[[], Iterable[Batch]]) -> dict[str, Rung]:
    """Every rung; ``fresh()`` is a new epoch of the datamodule's training loader."""
    return {
        "plain, fresh batches": lambda lim, w, s: plain_ratio(fresh(), lim, w, s),
        "lightning, ready": lambda lim, w, s: lightning_ratio(
            Bare(lenet()), Cycle(ready, w + s), lim, w, s
        ),
        "lightning, fresh": lambda lim, w, s: lightning_ratio(Bare(lenet()), fresh(), lim, w, s),
        "task, ready": lambda lim, w, s: lightning_ratio(task(), Cycle(ready, w + s), lim, w, s),
        "task, fresh": lambda lim, w, s: lightning_ratio(task(), fresh(), lim, w, s),
    }


def micro(batch_size: int, loader: Iterable[Batch], repeats: int = 200) -> list[str]:
    """The gather of a batch from 60,000 uint8 images, its normalization (x / 255 - mean) /
    std two ways, and whole fetches from the datamodule's training loader (ms)."""
    images = torch.randint(0, 256, (IMAGES, 1, 28, 28), dtype=torch.uint8)
    index = torch.randperm(len(images))[:batch_size]
    batch = images.index_select(0, index)
    scale = torch.full((1, 1, 1, 1), 1 / (255 * FASHION_STD))  # one multiply-add per pixel
    shift = torch.full((1, 1, 1, 1), -FASHION_MEAN / FASHION_STD)
    fetches = iter(loader)
    fetch_count = min(repeats, len(loader) - 1)  # type: ignore[arg-type]

    def ms(fn: Callable[[], object], times: int = repeats) -> float:
        fn()
        started = time.perf_counter()
        for _ in range(times):
            fn()
        return (time.perf_counter() - started) / times * 1e3

    rows = [
        ("gather images[index]", ms(lambda: images[index])),
        ("gather images.index_select(0, i)", ms(lambda: images.index_select(0, index))),
        ("normalize addcmul", ms(lambda: torch.addcmul(shift, batch.float(), scale))),
        ("normalize in-place mul_/add_", ms(lambda: batch.float().mul_(scale).add_(shift))),
        ("loader batch (gather + normalize)", ms(lambda: next(fetches), fetch_count)),
    ]
    return [f"{name:34s}{value:.3f} ms" for name, value in rows]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per round and rung")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="rounds (the rung order rotates)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--images", type=int, default=IMAGES, help="random training images")
    args = parser.parse_args()
    train_images = args.images - args.images // VAL_SHARE
    if (args.warmup + args.steps) * args.batch_size > train_images:
        parser.error(f"--warmup + --steps batches must fit in one epoch of {train_images} images")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="optimlab-floor-") as tmp:
        datamodule = fashion_datamodule(args.images, args.batch_size, Path(tmp))
        run_ladder(datamodule.train_dataloader, args)


def run_ladder(fresh: Callable[[], Iterable[Batch]], args: argparse.Namespace) -> None:
    """Time every rung in rotating order, then print the summary and the small costs."""
    # the limit's batches as benchmark.py makes them: cut and normalized by the real loader
    ready = list(itertools.islice(fresh(), READY_BATCHES))
    limit = Limit(ready)
    for _ in range(args.warmup):
        limit.step()
    ladder = rungs(ready, fresh)
    names = list(ladder)
    ratios: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(args.repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            ratio = ladder[name](limit, args.warmup, args.steps)
            ratios[name].append(ratio)
            print(f"round {round_ + 1}: {name:22s} x{ratio:.3f} of the limit alongside", flush=True)
    settings = f"threads={args.threads} batch_size={args.batch_size} steps={args.steps}"
    print(f"# {settings} repeats={args.repeats}")
    for name in names:
        values = ratios[name]
        spread = f"(rounds {min(values):.3f}-{max(values):.3f})"
        print(f"{name:22s} {statistics.median(values):.3f} of the limit {spread}")
    step_ms = statistics.median(limit.step()[0] for _ in range(args.steps)) * 1e3
    print(f"limit step {step_ms:.2f} ms (median of {args.steps}, ready batches)")
    print("\n".join(micro(args.batch_size, fresh())))
    rows = [
        *overheads.hook_attribute(),
        *overheads.first_op_after_backward(lenet, fresh(), args.steps),
        *overheads.grad_norm_in_place(lenet, fresh(), args.steps),
        *overheads.tensorboard_writes(),
    ]
    print("\n".join(f"{name:48s}{us:9.1f} us" for name, us in rows))
    print(f"floor_vs_limit={statistics.median(ratios['lightning, ready']):.3f}")


if __name__ == "__main__":
    main()
