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


def test_the_floor_script_prints_every_rung_the_micro_costs_and_its_ratio_line() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "benchmark_floor.py"), "--steps", "3",
         "--warmup", "2", "--repeats", "2", "--batch-size", "16", "--threads", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    rungs = (
        "plain, fresh batches",
        "lightning, ready",
        "lightning, fresh",
        "task, ready",
        "task, fresh",
    )
    assert sum(line.startswith("round ") for line in lines) == 2 * len(rungs)
    for rung in rungs:  # each rung's median ratio to the limit
        assert any(re.match(rf"{rung}\s+{NUMBER} of the limit", line) for line in lines), rung
    assert any(line.startswith("gather images.index_select") for line in lines)
    assert any(re.match(rf"limit step {NUMBER} ms", line) for line in lines)
    for cost in (
        "_current_fx_name via OptimTask",
        "gradient norm total_norm in the step",
        "bulk write of 50",
    ):
        assert any(re.match(rf"{cost}.*\s-?{NUMBER} us$", line) for line in lines), cost
    assert re.fullmatch(rf"floor_vs_limit={NUMBER}", lines[-1]), lines[-1]
    assert float(lines[-1].split("=")[1]) > 0


def test_each_step_is_one_tensorboard_event_with_the_lr_and_the_task_values(
    compose_train,
) -> None:
    """The LR logger records into the task's buffer: one event (and checksum) per step."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    cfg = compose_train("trainer.max_epochs=1", "trainer.log_every_n_steps=4", "test=false")
    train(cfg)
    (events_file,) = Path(cfg.paths.output_dir).rglob("events.out.tfevents.*")
    tags_per_event = [
        {value.tag for value in event.summary.value}
        for event in EventFileLoader(str(events_file)).Load()
        if any(value.tag == "train/lr" for value in event.summary.value)
    ]
    assert len(tags_per_event) == 10  # every optimizer step of the epoch
    for tags in tags_per_event:
        assert {"train/lr", "train/momentum", "train/loss_step", "train/grad_norm"} <= tags


def test_lightnings_per_hook_attribute_skips_the_module_checks(monkeypatch) -> None:
    """_current_fx_name is set ~40 times a step: not through nn.Module.__setattr__."""
    from optimlab.tasks import ClassificationTask

    task = ClassificationTask(net=torch.nn.Linear(4, 2), optimizer={"_target_": "torch.optim.SGD"})
    head = torch.nn.Linear(2, 2)
    calls: list[str] = []
    original = torch.nn.Module.__setattr__

    def counted(self: torch.nn.Module, name: str, value: Any) -> None:
        calls.append(name)
        original(self, name, value)

    monkeypatch.setattr(torch.nn.Module, "__setattr__", counted)
    task._current_fx_name = "training_step"
    assert task._current_fx_name == "training_step" and calls == []
    task.head = head  # modules (and parameters) still register
    assert calls == ["head"] and "head" in dict(task.named_children())


def test_a_batch_already_on_the_device_is_not_walked_and_others_still_move() -> None:
    from optimlab.tasks import ClassificationTask

    task = ClassificationTask(net=torch.nn.Linear(4, 2), optimizer={"_target_": "torch.optim.SGD"})
    batch = (torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
    assert task.transfer_batch_to_device(batch, torch.device("cpu"), 0) is batch
    moved = task.transfer_batch_to_device(batch, torch.device("meta"), 0)
    assert [t.device.type for t in moved] == ["meta", "meta"]


def test_the_step_buffer_turns_every_kind_of_value_into_numbers_in_one_go() -> None:
    from optimlab.callbacks.step_scalars import StepScalars

    buffer = StepScalars()
    weight = torch.tensor(2.0, requires_grad=True)
    buffer.add(0, {"loss": weight * 3, "count": torch.tensor(7), "lr": 0.1})
    buffer.add(0, {"norm": torch.tensor([1.5], dtype=torch.float64)})  # merged into step 0
    buffer.add(1, {"acc": torch.tensor(0.25)})
    steps, rows = buffer.take()
    assert steps == [0, 1] and len(buffer) == 0
    assert rows == [{"loss": 6.0, "count": 7.0, "lr": 0.1, "norm": 1.5}, {"acc": 0.25}]
    assert buffer.last == {"acc": 0.25}
