"""Where the repository and its configs are, and the overrides that make a run tiny and fast."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"
REAL_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def tiny_fashion_overrides(data_dir: Path) -> list[str]:
    return [
        f"datamodule.data_dir={data_dir}",
        "datamodule.system_dir=null",
        "datamodule.download=false",
        "datamodule.val_size=100",
        "datamodule.batch_size=50",
        "datamodule.eval_batch_size=100",
    ]


def fast_overrides(data_dir: Path) -> list[str]:
    """Tiny data, one short epoch, no progress bar: a whole run in about a second."""
    return [
        *tiny_fashion_overrides(data_dir),
        "trainer.max_epochs=2",
        "trainer.accelerator=cpu",
        "trainer.enable_model_summary=false",
        "trainer.num_sanity_val_steps=0",
        "callbacks.progress_bar=null",
    ]


def cli_overrides(data_dir: Path, log_dir: Path) -> list[str]:
    """train.py's command line for a smoke run on the tiny data, writing under ``log_dir``."""
    return [
        f"datamodule.data_dir={data_dir}",
        "datamodule.system_dir=null",
        "datamodule.download=false",
        "datamodule.val_size=100",
        "trainer.accelerator=cpu",
        f"paths.log_dir={log_dir}",
        "debug=default",  # 1 epoch, few batches, no sanity check; outputs/debug/
    ]


def sweep_job_overrides(data_dir: Path, log_dir: Path) -> list[str]:
    """One epoch of 3 batches on the tiny data: a sweep job (or a trial) in about a second."""
    return [*cli_overrides(data_dir, log_dir), "trainer.limit_train_batches=3"]
