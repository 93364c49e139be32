"""UCI Airfoil Self-Noise: 1503 rows, 5 features -> sound pressure (dB). Shipped in the package.

D2L ch. 11 uses it for its optimizer comparison: ``mode=d2l`` reproduces that set-up exactly
(first 1500 rows, every column standardized with all-row statistics, no held-out split).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from optimlab.data import settings
from optimlab.data.errors import ChecksumError, DataNotFoundError
from optimlab.data.in_memory import InMemoryDataModule, Split
from optimlab.data.protocol import REGRESSION
from optimlab.data.specs import RegressionSpec
from optimlab.errors import ConfigError

FILE_NAME = "airfoil_self_noise.dat"
SHA1 = "76e5be1548fd8222e5074cf0faae75edff8cf93f"  # the copy d2l (and this package) uses
URL = "http://d2l-data.s3-accelerate.amazonaws.com/airfoil_self_noise.dat"
MODES = ("split", "d2l")
# the file's columns, in order; the last is the target (scaled sound pressure level, dB)
FEATURES = ("frequency", "angle", "chord", "velocity", "thickness")
ROWS = 1503  # in the file (its sha1 is checked, so always)


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


def split_rows(rows: int, val_fraction: float, test_fraction: float) -> dict[str, int]:
    """How many of ``rows`` each split of mode=split gets (the same count setup makes)."""
    test, val = round(test_fraction * rows), round(val_fraction * rows)
    return {"test": test, "val": val, "train": rows - test - val}


class AirfoilDataModule(InMemoryDataModule):
    """Feature rows held in memory as float32 on the shared in-memory base."""

    task = REGRESSION
    spec = RegressionSpec(num_features=len(FEATURES), num_outputs=1)

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
        super().__init__(
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            seed=seed,
            split_seed=split_seed,
            drop_last=drop_last,
        )
        self.mode = settings.one_of("mode", mode, MODES)
        self.val_fraction = settings.fraction("val_fraction", val_fraction, fix="0.15 is usual")
        self.test_fraction = settings.fraction("test_fraction", test_fraction, fix="0.15 is usual")
        if split_rows(ROWS, self.val_fraction, self.test_fraction)["train"] <= 0:
            raise ConfigError(
                f"datamodule.val_fraction={val_fraction} and test_fraction={test_fraction} "
                "leave no training rows; lower them (0.15 each is usual)"
            )
        self.d2l_rows = settings.positive_int(
            "d2l_rows", d2l_rows, fix="try datamodule.d2l_rows=1500"
        )
        if self.d2l_rows > ROWS:
            raise ConfigError(
                f"datamodule.d2l_rows={d2l_rows} is more than the file's {ROWS} rows; lower it"
            )
        self.log_features = self._checked_log_features(log_features)
        self.data_dir = Path(data_dir).expanduser() if data_dir else None
        self.download = settings.flag("download", download)
        self.standardize_target = settings.flag("standardize_target", standardize_target)
        self.target_std: float | None = None  # dB per standardized unit, known after setup

    def _checked_log_features(self, names: Sequence[str]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(FEATURES))
        if unknown:
            raise ConfigError(
                f"datamodule.log_features: unknown feature(s) {unknown}; "
                f"choose from {list(FEATURES)}"
            )
        if "angle" in names:
            raise ConfigError("datamodule.log_features: angle can be 0 (no log); drop it")
        if names and self.mode == "d2l":
            raise ConfigError(
                "datamodule.log_features is for mode=split; d2l is D2L ch. 11's set-up"
            )
        return tuple(names)

    def train_size(self) -> int:
        if self.mode == "d2l":
            return self.d2l_rows  # trains on every row it keeps
        return split_rows(ROWS, self.val_fraction, self.test_fraction)["train"]

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
            f"{FILE_NAME} not found in datamodule.data_dir={self.data_dir} and {reason}. "
            f"Provide it one of three ways: put the file in {self.data_dir}; or run once with "
            "network access and datamodule.download=true; or set datamodule.data_dir=null to use "
            "the copy shipped inside the package"
        )

    def _read(self) -> np.ndarray:
        path = self._local_file()
        if path is None:
            raise self._not_found("no download was tried" if not self.download else "it is missing")
        verify_sha1(path)
        return np.genfromtxt(path, dtype=np.float32, delimiter="\t")

    # ---------------------------------------------------------------- splits
    def make_splits(self, names: Sequence[str]) -> dict[str, Split]:
        """All three splits at once: they come from one table."""
        return self._d2l_splits() if self.mode == "d2l" else self._held_out_splits()

    def _d2l_splits(self) -> dict[str, Split]:
        # D2L ch. 11, in its numpy float32 arithmetic: standardize with all 1503 rows,
        # keep the first 1500, no held-out data
        data = self._read()
        rows = torch.from_numpy((data - data.mean(axis=0)) / data.std(axis=0))[: self.d2l_rows]
        split = (rows[:, :-1].contiguous(), rows[:, -1:].contiguous())
        self.target_std = float(data.std(axis=0)[-1])
        return {"train": split, "val": split, "test": split}

    def _held_out_splits(self) -> dict[str, Split]:
        table = torch.from_numpy(self._read())
        for name in self.log_features:  # frequency and thickness span decades
            column = FEATURES.index(name)
            table[:, column] = table[:, column].log()
        order = torch.randperm(len(table), generator=torch.Generator().manual_seed(self.split_seed))
        counts = split_rows(len(table), self.val_fraction, self.test_fraction)
        n_test, n_val = counts["test"], counts["val"]
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
        splits = {}
        for name, rows in parts.items():
            rows = (rows - mean) / std  # training statistics only: nothing leaks from val/test
            splits[name] = (rows[:, :-1].contiguous(), rows[:, -1:].contiguous())
        return splits
