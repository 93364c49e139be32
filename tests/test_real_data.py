"""On the real Fashion-MNIST (skipped only where it is absent; CI installs it)."""

from __future__ import annotations

import pytest

from helpers import REAL_FASHION_MNIST
from helpers.runs import train

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (REAL_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
        reason="needs `apt-get install dataset-fashion-mnist`",
    ),
]


def test_one_epoch_of_lenet_with_adam_reaches_80_percent(compose_train, tmp_path) -> None:
    cfg = compose_train(
        f"datamodule.data_dir={tmp_path / 'empty'}",  # so the system copy is the one found
        f"datamodule.system_dir={REAL_FASHION_MNIST}",
        "datamodule.val_size=5000",
        "datamodule.batch_size=256",
        "datamodule.eval_batch_size=1024",
        "optimizer=adam",
        "optimizer.lr=0.01",  # D2L ch. 11's Adam learning rate (section 11.10)
        "trainer.max_epochs=1",
    )
    metrics = train(cfg)
    assert metrics["test/acc"] >= 0.80, metrics
