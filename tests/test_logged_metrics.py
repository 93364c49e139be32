"""What a task declares it logs is what it logs, and the one list preflight accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import Tensor

from optimlab.errors import ConfigError
from optimlab.runner.preflight import preflight
from optimlab.runner.result_file import read_result
from optimlab.runner.train import train
from optimlab.tasks import TASKS, ClassificationTask


@pytest.mark.parametrize(
    ("kind", "overrides"),
    [
        ("classification", ()),
        ("regression", ("datamodule=airfoil", "model=mlp", "trainer.max_epochs=1")),
    ],
)
def test_every_declared_metric_is_logged_while_fitting(compose_train, kind, overrides) -> None:
    cfg = compose_train(*overrides, "test=false")  # result.json then holds what fit logged
    train(preflight(cfg))
    logged = set(read_result(Path(cfg.paths.output_dir))["metrics"])
    assert set(TASKS[kind].logged_metrics) <= logged, set(TASKS[kind].logged_metrics) - logged


class F1Task(ClassificationTask):
    """A user's task that logs one more metric: declaring it is the only other edit."""

    logged_metrics = (*ClassificationTask.logged_metrics, "val/f1")

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        self.log("val/f1", self.val_acc.compute())


def test_a_metric_the_task_declares_is_accepted_as_optimized_metric_and_monitor(
    compose_train, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = ("optimized_metric=val/f1", "scheduler=plateau", "scheduler.monitor=val/f1")
    with pytest.raises(ConfigError, match="val/f1"):
        preflight(compose_train(*overrides))
    monkeypatch.setitem(TASKS, "classification", F1Task)
    preflight(compose_train(*overrides))
