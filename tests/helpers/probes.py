"""Test-only callbacks that record what happened inside runs started in other processes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import lightning as L
import torch


class ShardProbe(L.Callback):
    """Write rank<N>.json: which samples this DDP rank's first training batch held.

    ``indices`` come from the rank's EpochSampler, ``labels`` from the batch the model saw and
    ``expected_labels`` from the data at those indices, so a test can check the batch really is
    that shard.
    """

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int
    ) -> None:
        if trainer.current_epoch != 0 or batch_idx != 0:
            return
        loader = trainer.train_dataloader
        _, labels = batch
        indices = loader.sampler.indices()[: len(labels)]
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "pid": os.getpid(),
            "shard": loader.sampler.indices().tolist(),
            "indices": indices.tolist(),
            "labels": labels.tolist(),
            "expected_labels": loader.targets[indices].tolist(),
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record))


class Rendezvous(L.Callback):
    """Wait at the start of training until ``parties`` jobs have arrived (or ``timeout`` s).

    Jobs that run one after the other can never meet: the first one times out and records
    ``met: false``. Jobs that run side by side all record ``met: true``. The folder comes from
    OPTIMLAB_TEST_MEET_DIR, so it does not lengthen the run names.
    """

    def __init__(self, parties: int = 2, timeout: float = 120.0) -> None:
        self.out_dir = Path(os.environ["OPTIMLAB_TEST_MEET_DIR"])
        self.parties = parties
        self.timeout = timeout

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"arrived.{os.getpid()}.{time.monotonic_ns()}").touch()
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if len(list(self.out_dir.glob("arrived.*"))) >= self.parties:
                met = True
                break
            time.sleep(0.05)
        else:
            met = False
        record = {"pid": os.getpid(), "met": met, "run_dir": str(trainer.default_root_dir)}
        (self.out_dir / f"met.{os.getpid()}.{time.monotonic_ns()}.json").write_text(
            json.dumps(record)
        )


class ScheduleFreeRecorder(L.Callback):
    """For a schedule-free run: the weights each validation sees (validation.pt), and, at
    optimizer step ``save_at``, a checkpoint saved in train mode (mid.ckpt) with y (the
    weights then) and z (the optimizer's steps) beside it (mid_y_z.pt)."""

    def __init__(self, out_dir: str, save_at: int) -> None:
        self.out_dir = Path(out_dir)
        self.save_at = save_at
        self.at_validation: list[list] = []

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.at_validation.append([p.detach().clone() for p in pl_module.parameters()])
            self.out_dir.mkdir(parents=True, exist_ok=True)
            torch.save(self.at_validation, self.out_dir / "validation.pt")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *_) -> None:
        if trainer.global_step != self.save_at:
            return
        (optimizer,) = trainer.optimizers
        params = list(pl_module.parameters())
        record = {
            "y": [p.detach().clone() for p in params],
            "z": [optimizer.state[p]["z"].clone() for p in params],
            "beta": optimizer.param_groups[0]["betas"][0],
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        trainer.save_checkpoint(self.out_dir / "mid.ckpt")
        record["y_after"] = [p.detach().clone() for p in params]
        torch.save(record, self.out_dir / "mid_y_z.pt")
