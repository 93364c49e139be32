"""A default run prints what it runs, the progress bar, the test table and the summary:
none of Lightning's start-up lines that say nothing about the run."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, tiny_fashion_overrides
from optimlab.runner.quiet import quiet_startup

NOISE = [  # what Lightning logs (lightning.pytorch.utilities.rank_zero) in a default run
    "GPU available: False, used: False",
    "TPU available: False, using: 0 TPU cores",
    "Restoring states from the checkpoint path at /run/checkpoints/best.ckpt",
    "Loaded model weights from the checkpoint at /run/checkpoints/best.ckpt",
    "`Trainer.fit` stopped: `max_epochs=10` reached.",
    "💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]",
]
KEPT = [
    "Restored all states from the checkpoint at /run/checkpoints/last.ckpt",  # a resume
    "`Trainer.fit` stopped: `max_steps=5` reached.",  # stopped before max_epochs: why
    "`Trainer(limit_train_batches=1)` was configured so 1 batch per epoch will be used.",
]
# what must not appear in a default run's output, however Lightning words it next
FRAGMENTS = [
    "GPU available",
    "TPU available",
    "LOCAL_RANK",
    "was configured so 100%",
    "FLOPs",
    "Restoring states",
    "Loaded model weights",
    "`Trainer.fit` stopped",
    "💡",
    "Seed set to",
]


def test_only_the_lines_that_say_nothing_are_filtered(caplog: pytest.LogCaptureFixture) -> None:
    quiet_startup()
    quiet_startup()  # twice: still one filter each
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    assert len(rank_zero.filters) == len(set(rank_zero.filters))
    with caplog.at_level(logging.INFO):
        for message in NOISE + KEPT:
            rank_zero.info(message)
        logging.getLogger("lightning.pytorch.accelerators.cuda").info(
            "LOCAL_RANK: 0 - CUDA_VISIBLE_DEVICES: [0]"
        )
    assert caplog.messages == KEPT


def test_a_default_run_prints_none_of_lightnings_start_up_lines(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            *tiny_fashion_overrides(tiny_fashion_dir),
            "trainer.max_epochs=1",
            "trainer.accelerator=cpu",
            f"paths.log_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "test/acc" in output and "optimlab run finished" in output
    assert [f for f in FRAGMENTS if f in output] == []
