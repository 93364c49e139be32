"""Learning-rate-free optimizers (Prodigy, D-Adaptation): train/lr is the step they take."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.runs import train
from helpers.tb import read_scalars
from optimlab.callbacks.lr_logger import effective_lr


def test_the_effective_lr_is_d_times_lr() -> None:
    assert effective_lr({"lr": 1.0, "d": 0.004}) == pytest.approx(0.004)
    assert effective_lr({"lr": 0.1}) == 0.1  # every other optimizer: its lr


@pytest.mark.parametrize("optimizer", ["prodigy", "dadapt_adam"])
def test_train_lr_logs_the_growing_estimate_not_the_constant_1(compose_train, optimizer) -> None:
    cfg = compose_train(f"optimizer={optimizer}", "test=false")
    train(cfg)
    lrs = [
        lr for _, lr in sorted(read_scalars(Path(cfg.paths.output_dir) / "tensorboard")["train/lr"])
    ]
    assert lrs[0] == pytest.approx(1e-6)  # d0 times lr 1
    assert max(lrs) > 10 * lrs[0] and all(lr < 1 for lr in lrs)  # d grew; never the bare 1
