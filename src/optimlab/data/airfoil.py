"""UCI Airfoil Self-Noise: 1503 rows, 5 features -> sound pressure (dB). Shipped in the package.

The seeds use it for their optimizer comparison: ``mode=d2l`` reproduces their set-up exactly
(first 1500 rows, every column standardized with all-row statistics, no held-out split).
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor

from optimlab.data.batches import EpochSampler, TensorBatchLoader
from optimlab.data.errors import ChecksumError, DataNotFoundError

FILE_NAME = "airfoil_self_noise.dat"
SHA1 = "76e5be1548fd8222e5074cf0faae75edff8cf93f"  # the copy d2l (and this package) uses
URL = "http://d2l-data.s3-accelerate.amazonaws.com/airfoil_self_noise.dat"
MODES = ("split", "d2l")
# the file's columns, in order; the last is the target (scaled sound pressure level, dB)
FEATURES = ("frequency", "angle", "chord", "velocity", "thickness")


@dataclass(frozen=True)
class RegressionSpec:
    """What a regression model must know about the data."""

    in_features: int
    out_features: int
    task: str = "regression"

    def model_kwargs(self) -> dict[str, int]:
        return {"in_features": self.in_features, "out_features": self.out_features}


def sha1_of(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha1(path: Path, expected: str = SHA1) -> Path:
    actual = sha1_of(path)
    if actual != expected:
        raise ChecksumError(
            f"{path}: sha1 {actual} is not the airfoil file's {expected} (truncated or corrupt); "
            "delete it and run again to download it, or drop datamodule.data_dir to use the "
            "packaged copy"
        )
    return path


def packaged_file() -> Path:
    return Path(str(resources.files("optimlab.data").joinpath("files", FILE_NAME)))


def download(url: str, destination: Path, expected_sha1: str = SHA1) -> Path:
    """Fetch ``url`` to ``destination`` atomically: a failed or corrupt download leaves nothing."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=30) as response:
            out.write(response.read())
        verify_sha1(Path(temporary), expected_sha1)
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return destination


class AirfoilDataModule(L.LightningDataModule):
    """Feature rows held in memory as float32; batches by tensor indexing."""

    spec = RegressionSpec(in_features=5, out_features=1)

    def __init__(
        self,
        data_dir: str | None = None,
        *,
        download: bool = True,
        mode: str = "split",
        batch_size: int = 10,
        eval_batch_size: int = 1500,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        standardize_target: bool = True,
        d2l_rows: int = 1500,
        log_features: Sequence[str] = (),
        seed: int | None = 0,
        split_seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"datamodule.mode must be one of {list(MODES)}, got {mode!r}")
        if batch_size <= 0 or eval_batch_size <= 0:
            raise ValueError(
                f"batch sizes must be positive (batch_size={batch_size}, "
                f"eval_batch_size={eval_batch_size})"
            )
        if not (
            0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1
        ):
            raise ValueError(
                "datamodule.val_fraction and test_fraction must be in [0, 1) and leave training "
                f"rows (got {val_fraction} and {test_fraction})"
            )
        unknown = sorted(set(log_features) - set(FEATURES))
        if unknown:
            raise ValueError(
                f"datamodule.log_features: unknown feature(s) {unknown}; "
                f"choose from {list(FEATURES)}"
            )
        if "angle" in log_features:
            raise ValueError("datamodule.log_features: angle can be 0 (no log); drop it")
        if log_features and mode == "d2l":
            raise ValueError("datamodule.log_features is for mode=split; d2l is the seeds' set-up")
        self.log_features = tuple(log_features)
        self.data_dir = Path(data_dir).expanduser() if data_dir else None
        self.download = download
        self.mode = mode
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.standardize_target = standardize_target
        self.d2l_rows = d2l_rows
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**31)
        self.split_seed = split_seed
        self.drop_last = drop_last
        self._splits: dict[str, tuple[Tensor, Tensor]] = {}
        self.target_std: float | None = None  # dB per standardized unit, known after setup
        self._device_cache: dict[tuple[str, str], tuple[Tensor, Tensor]] = {}

    # ---------------------------------------------------------------- finding the file
    def _local_file(self) -> Path | None:
        if self.data_dir is None:
            return packaged_file()
        candidate = self.data_dir / FILE_NAME
        return candidate if candidate.is_file() else None

    def check_files(self) -> None:
        """Refuse, before anything is written, a file that loading could only fail on: the
        wrong file (its sha1, 60 KB read) or none with downloads off."""
        path = self._local_file()
        if path is not None:
            verify_sha1(path)
        elif not self.download:
            raise self._not_found("datamodule.download=false")

    def prepare_data(self) -> None:
        if self._local_file() is None and self.download:
            try:
                download(URL, self.data_dir / FILE_NAME)  # type: ignore[operator]
            except ChecksumError:
                raise
            except Exception as error:  # no network, DNS, HTTP error
                raise self._not_found(f"the download failed ({error})") from error

    def _not_found(self, reason: str) -> DataNotFoundError:
        return DataNotFoundError(
            f"{FILE_NAME} not found in {self.data_dir} and {reason}. Provide it one of three "
            f"ways: put the file in {self.data_dir}; or run once with network access and "
            "datamodule.download=true; or set datamodule.data_dir=null to use the copy shipped "
            "inside the package"
        )

    def _read(self) -> np.ndarray:
        path = self._local_file()
        if path is None:
            raise self._not_found("no download was tried" if not self.download else "it is missing")
        verify_sha1(path)
        return np.genfromtxt(path, dtype=np.float32, delimiter="\t")

    # ---------------------------------------------------------------- splits
    def setup(self, stage: str | None = None) -> None:
        if self._splits:
            return
        if self.mode == "d2l":
            # the seeds, in their numpy float32 arithmetic: standardize with all 1503 rows,
            # keep the first 1500, no held-out data
            data = self._read()
            rows = torch.from_numpy((data - data.mean(axis=0)) / data.std(axis=0))[: self.d2l_rows]
            split = (rows[:, :-1].contiguous(), rows[:, -1:].contiguous())
            self._splits = {"train": split, "val": split, "test": split}
            self.target_std = float(data.std(axis=0)[-1])
            return
        table = torch.from_numpy(self._read())
        for name in self.log_features:  # frequency and thickness span decades
            column = FEATURES.index(name)
            table[:, column] = table[:, column].log()
        order = torch.randperm(len(table), generator=torch.Generator().manual_seed(self.split_seed))
        n_test = round(self.test_fraction * len(table))
        n_val = round(self.val_fraction * len(table))
        parts = {
            "test": table[order[:n_test]],
            "val": table[order[n_test : n_test + n_val]],
            "train": table[order[n_test + n_val :]],
        }
        train = parts["train"]
        mean, std = train.mean(0), train.std(0, unbiased=False)
        if not self.standardize_target:
            mean[-1], std[-1] = 0.0, 1.0
        self.target_std = float(std[-1])
        for name, rows in parts.items():
            rows = (rows - mean) / std  # training statistics only: nothing leaks from val/test
            self._splits[name] = (rows[:, :-1].contiguous(), rows[:, -1:].contiguous())

    def split_size(self, split: str) -> int:
        return len(self._splits[split][0])

    # ---------------------------------------------------------------- loaders
    def _loader(self, split: str, *, batch_size: int, shuffle: bool) -> TensorBatchLoader:
        trainer = self.trainer
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer else (0, 1)
        key = (split, str(device))
        if key not in self._device_cache:
            features, targets = self._splits[split]
            self._device_cache[key] = (features.to(device), targets.to(device))
        features, targets = self._device_cache[key]
        sampler = EpochSampler(
            len(features), shuffle=shuffle, seed=self.seed, rank=rank, world_size=world_size
        )
        return TensorBatchLoader(
            features,
            targets,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=self.drop_last and shuffle,
        )

    def train_dataloader(self) -> TensorBatchLoader:
        return self._loader("train", batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> TensorBatchLoader:
        return self._loader("val", batch_size=self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> TensorBatchLoader:
        return self._loader("test", batch_size=self.eval_batch_size, shuffle=False)
