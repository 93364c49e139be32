"""optimlab.tasks.fast_steps: every step's values kept and written in bulk, with no host
transfer between writes, one TensorBoard event per step, and the hook attribute set plainly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from helpers.runs import train
from optimlab.callbacks import StepScalars, StepScalarWriter
from optimlab.tasks import ClassificationTask

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
    import optimlab.runner.train as build

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


def test_each_step_is_one_tensorboard_event_with_the_lr_and_the_task_values(
    compose_train,
) -> None:
    """The LR logger records into the task's buffer: one event (and checksum) per step."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    cfg = compose_train("trainer.max_epochs=1", "trainer.log_every_n_steps=4", "test=false")
    train(cfg)
    (events_file,) = (Path(cfg.paths.output_dir) / "tensorboard").glob("events.out.tfevents.*")
    tags_per_event = [
        {value.tag for value in event.summary.value}
        for event in EventFileLoader(str(events_file)).Load()
        if any(value.tag == "train/lr" for value in event.summary.value)
    ]
    assert len(tags_per_event) == 10  # every optimizer step of the epoch
    for tags in tags_per_event:
        assert {"train/lr", "train/momentum", "train/loss_step", "train/grad_norm"} <= tags


def _linear_task() -> ClassificationTask:
    return ClassificationTask(net=torch.nn.Linear(4, 2), optimizer={"_target_": "torch.optim.SGD"})


def test_lightnings_per_hook_attribute_skips_the_module_checks(monkeypatch) -> None:
    """_current_fx_name is set around every hook call: not through nn.Module.__setattr__."""
    task = _linear_task()
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


def test_the_task_adds_its_writer_once_per_trainer(tmp_path: Path) -> None:
    """fit then test on one trainer: a second writer would make Lightning announce that it
    overrides the first (console noise); the first keeps writing."""
    data = TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    task = _linear_task()
    trainer = L.Trainer(
        default_root_dir=tmp_path, max_epochs=1, accelerator="cpu", logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(task, train_dataloaders=DataLoader(data, batch_size=4))
    writers = [c for c in trainer.callbacks if isinstance(c, StepScalarWriter)]
    assert [w.buffer for w in writers] == [task.step_scalars]
    assert task.configure_callbacks() == []
    trainer.test(task, dataloaders=DataLoader(data, batch_size=4), verbose=False)
    assert [c for c in trainer.callbacks if isinstance(c, StepScalarWriter)] == writers
    assert task.progress_bar_values["train/loss"] > 0  # written after the last batch


def test_the_step_buffer_turns_every_kind_of_value_into_numbers_in_one_go() -> None:
    buffer = StepScalars()
    weight = torch.tensor(2.0, requires_grad=True)
    buffer.add(0, {"loss": weight * 3, "count": torch.tensor(7), "lr": 0.1})
    buffer.add(0, {"norm": torch.tensor([1.5], dtype=torch.float64)})  # merged into step 0
    buffer.add(1, {"acc": torch.tensor(0.25)})
    steps, rows = buffer.take()
    assert steps == [0, 1] and len(buffer) == 0
    assert rows == [{"loss": 6.0, "count": 7.0, "lr": 0.1, "norm": 1.5}, {"acc": 0.25}]
    assert buffer.last == {"acc": 0.25}
