"""What one benchmark run measures (the command line's options, as a dataclass)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def default_workers() -> int:
    """D2L ch. 11's DataLoader workers (4), or fewer where the machine has fewer cores."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class BenchOptions:
    """One benchmark: a model/data pair, and how long and how often to time each path."""

    model: str = "lenet"  # a conf/model name
    datamodule: str = "fashion_mnist"  # a conf/datamodule name (fashion_mnist or cifar10)
    batch_size: int = 256
    steps: int = 50  # timed training steps per repeat and path
    warmup: int = 10  # untimed steps before them (each repeat)
    repeats: int = 5  # interleaved rounds: limit, optimlab, classic, variants, in turn
    device: str = "cpu"  # cpu or cuda
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)  # torch.set_num_threads
    workers: int = field(default_factory=default_workers)  # the classic DataLoader's workers
    overrides: list[str] = field(default_factory=list)  # Hydra overrides of every optimlab run
    # more optimlab runs timed in the same rounds: name -> their extra overrides
    variants: dict[str, list[str]] = field(default_factory=dict)
    eval_batch_sizes: list[int] = field(default_factory=list)  # validation throughput per size
    startup_runs: int = 1  # train.py processes timed to their first step (0: skip)
    data_dir: str | None = None  # where the data is (default: the datamodule config's own)
    fake_images: int = 0  # write this many random training images in the data set's own format
    classic: bool = True  # time the classic torchvision recipe (c)
    # step: (a) runs one step after every step of (b) (CPU: both see the same machine state);
    # round: each path runs its whole stretch in turn (GPU: no per-step sync allowed)
    interleave: str = ""

    def __post_init__(self) -> None:
        if not self.interleave:
            self.interleave = "round" if self.device.startswith("cuda") else "step"
        if self.interleave not in ("step", "round"):
            raise ValueError(f"interleave must be step or round, got {self.interleave!r}")
