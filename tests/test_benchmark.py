"""scripts/benchmark.py as a smoke test (tiny data, a few steps: the format, never timings),
and the logging promise behind its numbers: no host transfer on every training step."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch

from conftest import ROOT
from optimlab.runner.train import train

NUMBER = r"\d+(?:\.\d+)?"
ROW = re.compile(rf"^(?P<name>.+?)\s+(?P<min>{NUMBER})\s+(?P<med>{NUMBER})\s+(?P<max>{NUMBER})\s")
FINAL = re.compile(rf"^ratio_vs_limit=({NUMBER})(?: ratio_vs_classic=({NUMBER}))?$")


def run_benchmark(*args: str) -> list[str]:
    """The script as a user runs it from a clone: its own process, stdout lines."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


def rows(lines: list[str]) -> dict[str, tuple[float, float, float]]:
    """{path: (min, median, max)} from the results table."""
    start = next(i for i, line in enumerate(lines) if line.startswith("path "))
    table: dict[str, tuple[float, float, float]] = {}
    for line in lines[start + 1 :]:
        match = ROW.match(line)
        if not match:
            break
        low, mid, high = (float(match[k]) for k in ("min", "med", "max"))
        table[match["name"].strip()] = (low, mid, high)
    return table


TINY = ["--steps", "3", "--warmup", "2", "--repeats", "1", "--threads", "1", "--workers", "1"]


def test_fashion_mnist_smoke_run_prints_the_three_paths_and_the_ratio_line(
    tiny_fashion_dir: Path,
) -> None:
    lines = run_benchmark(
        *TINY,
        "--batch-size", "50",
        "--data-dir", str(tiny_fashion_dir),
        "--eval-batch-sizes", "50,100",
        "--variant", "log1", "trainer.log_every_n_steps=1",
        "--",  # the rest: overrides of every optimlab run
        "datamodule.system_dir=null",
        "datamodule.download=false",
        "datamodule.val_size=100",
        "datamodule.eval_batch_size=100",
    )  # fmt: skip
    assert lines[-1] == lines[-1].strip() and FINAL.match(lines[-1]), lines[-1]
    assert FINAL.match(lines[-1]).group(2) is not None  # the classic ratio is there
    table = rows(lines)
    for name in (
        "limit (a)", "optimlab (b)", "classic (c)", "limit (a) alone", "variant log1",
        "eval bs=50", "eval bs=100",
    ):  # fmt: skip
        assert name in table, f"{name} missing from {list(table)}"
        low, mid, high = table[name]
        assert 0 < low <= mid <= high
    header = next(line for line in lines if line.startswith("# optimlab benchmark:"))
    assert "threads=1" in header and "classic_workers=1" in header and "batch_size=50" in header
    assert any(re.match(rf"^startup_s={NUMBER} \(", line) for line in lines)
    assert any(line.startswith("variant log1: ") for line in lines)


def test_cifar_sized_smoke_run_writes_its_own_fake_data() -> None:
    lines = run_benchmark(
        *TINY,
        "--model", "cnn",
        "--datamodule", "cifar10",
        "--batch-size", "32",
        "--fake-images", "400",
        "--startup-runs", "0",
        "datamodule.val_size=50",
    )  # fmt: skip
    assert FINAL.match(lines[-1]), lines[-1]
    assert {"limit (a)", "optimlab (b)", "classic (c)"} <= set(rows(lines))
    assert not any(line.startswith("startup_s=") for line in lines)


SYNCS = ("item", "tolist", "__bool__", "__float__", "__int__", "numpy")


class SyncCounter(L.Callback):
    """Counts tensor-to-host conversions from the end of one training batch to the next."""

    def __init__(self) -> None:
        self.counts: list[int] = []
        self._count = 0

    def on_train_batch_end(self, *args: Any, **kwargs: Any) -> None:
        self.counts.append(self._count)
        self._count = 0


def test_training_steps_do_not_wait_for_the_device(compose_train, monkeypatch) -> None:
    """On a GPU every tensor-to-number conversion waits for the device. With the default
    logging (loss, accuracy, grad norm, LR, progress bar) there is none between writes.
    (The divergence guard checks the loss itself, at its own frequency: left out here.)
    """
    counter = SyncCounter()
    for name in SYNCS:
        original = getattr(torch.Tensor, name)

        def counted(self: torch.Tensor, *a: Any, _original: Any = original, **k: Any) -> Any:
            counter._count += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, counted)
    import optimlab.runner.build as build

    original_all = build.instantiate_all
    monkeypatch.setattr(
        build,
        "instantiate_all",
        lambda group: (
            [*original_all(group), counter]
            if group and "learning_rate" in group
            else original_all(group)
        ),
    )
    cfg = compose_train(
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=5",
        "callbacks.divergence=null",
        "callbacks.progress_bar={_target_:optimlab.callbacks.ProgressBar}",
        "test=false",
    )
    train(cfg)
    windows = counter.counts[1:]  # batch 2 to batch 10 (batch 1 sets things up)
    assert len(windows) == 9
    # the writes after batch 5 (and after batch 10, past the last window) convert; no other
    assert sum(1 for count in windows if count) <= 1, windows


def test_the_floor_script_prints_rounds_micro_costs_and_its_ratio_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark_floor.py"), "--steps", "3",
         "--warmup", "2", "--repeats", "2", "--batch-size", "16", "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert sum(line.startswith("round ") for line in lines) == 2
    assert any(line.startswith("gather images.index_select") for line in lines)
    assert re.fullmatch(rf"floor_vs_limit={NUMBER}", lines[-1]), lines[-1]
    assert float(lines[-1].split("=")[1]) > 0
