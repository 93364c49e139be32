"""Airfoil regression data: shipped in the package, checksummed, split, or as D2L ch. 11 does."""

from __future__ import annotations

import io
import socket
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.runs import train
from helpers.tb import read_scalars
from optimlab.data import DataNotFoundError
from optimlab.data.airfoil import (
    FILE_NAME,
    SHA1,
    AirfoilDataModule,
    ChecksumError,
    packaged_file,
    sha1_of,
)
from optimlab.errors import ConfigError


def test_the_packaged_copy_is_the_official_file() -> None:
    assert sha1_of(packaged_file()) == SHA1


def test_split_mode_standardizes_with_training_statistics_only() -> None:
    dm = AirfoilDataModule()
    dm.setup()
    sizes = {name: dm.split_size(name) for name in ("train", "val", "test")}
    assert sizes == {"train": 1053, "val": 225, "test": 225}
    x, y = dm._splits["train"]
    assert x.shape == (1053, 5) and y.shape == (1053, 1) and x.dtype == torch.float32
    assert torch.allclose(x.mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(5), atol=1e-5)
    assert not torch.allclose(dm._splits["val"][0].mean(0), torch.zeros(5), atol=1e-3)
    # the three splits are disjoint rows
    rows = [set(map(tuple, dm._splits[s][0].tolist())) for s in ("train", "val", "test")]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])


def test_d2l_mode_is_d2l_set_up() -> None:
    data = np.genfromtxt(packaged_file(), dtype=np.float32, delimiter="\t")
    data = (data - data.mean(axis=0)) / data.std(axis=0)
    dm = AirfoilDataModule(mode="d2l")
    dm.setup()
    x, y = dm._splits["train"]
    assert x.shape == (1500, 5)
    np.testing.assert_array_equal(x.numpy(), data[:1500, :-1])  # bit for bit
    np.testing.assert_array_equal(y.numpy()[:, 0], data[:1500, -1])
    assert dm._splits["val"][0] is x and dm._splits["test"][0] is x  # no held-out split


def test_same_seed_same_batches() -> None:
    def first_batch(seed: int) -> torch.Tensor:
        dm = AirfoilDataModule(seed=seed)
        dm.setup()
        return next(iter(dm.train_dataloader()))[0]

    assert torch.equal(first_batch(1), first_batch(1))
    assert not torch.equal(first_batch(1), first_batch(2))


def test_a_corrupt_file_is_a_checksum_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(packaged_file().read_bytes()[:-100])
    dm = AirfoilDataModule(str(tmp_path))
    with pytest.raises(ChecksumError, match=f"{FILE_NAME}.*truncated or corrupt"):
        dm.setup()


def test_missing_file_without_download_names_the_three_ways(tmp_path: Path) -> None:
    dm = AirfoilDataModule(str(tmp_path), download=False)
    dm.prepare_data()
    with pytest.raises(DataNotFoundError) as error:
        dm.setup()
    assert "put the file in" in str(error.value) and "data_dir=null" in str(error.value)


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *args) -> None:
        self.close()


def test_download_is_checked_and_lands_whole(tmp_path: Path, monkeypatch) -> None:
    body = packaged_file().read_bytes()
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(body))
    dm = AirfoilDataModule(str(tmp_path / "data"))
    dm.prepare_data()
    assert sha1_of(tmp_path / "data" / FILE_NAME) == SHA1
    assert [p.name for p in (tmp_path / "data").iterdir()] == [FILE_NAME]


def test_a_truncated_download_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    body = packaged_file().read_bytes()[:1000]
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(body))
    dm = AirfoilDataModule(str(tmp_path))
    with pytest.raises(ChecksumError):
        dm.prepare_data()
    assert list(tmp_path.iterdir()) == []


def test_no_network_names_the_three_ways_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def offline(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    dm = AirfoilDataModule(str(tmp_path))
    with pytest.raises(DataNotFoundError, match="download failed"):
        dm.prepare_data()
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def no_network(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.usefixtures("no_network")
def datamodule_target_std(cfg) -> float:
    """The dB per standardized unit of the run's training split, computed here again."""
    data = AirfoilDataModule(
        cfg.datamodule.data_dir, val_fraction=cfg.datamodule.val_fraction,
        test_fraction=cfg.datamodule.test_fraction, split_seed=cfg.datamodule.split_seed,
    )  # fmt: skip
    data.setup()
    assert data.target_std is not None
    return data.target_std


def test_linear_regression_on_airfoil_trains_offline(compose_train) -> None:
    cfg = compose_train(
        "datamodule=airfoil",
        "model=linear",
        "optimizer=sgd",
        "optimizer.lr=0.05",
        "trainer.max_epochs=3",
    )
    metrics = train(cfg)
    assert metrics["test/r2"] > 0.3  # a linear model explains roughly half the variance
    scalars = read_scalars(Path(cfg.paths.output_dir))
    for stage in ("train", "val", "test"):
        for name in ("loss", "mse", "rmse", "mae", "r2"):
            assert f"{stage}/{name}" in scalars or f"{stage}/{name}_epoch" in scalars, name
    # rmse and mae also in dB: the standardized values times the training target's std
    assert 6.5 < datamodule_target_std(cfg) < 7.5
    for stage in ("val", "test"):
        for name in ("rmse", "mae"):
            raw, standardized = (
                scalars[f"{stage}/{name}_raw"][-1][1],
                scalars[f"{stage}/{name}"][-1][1],
            )
            assert raw == pytest.approx(standardized * datamodule_target_std(cfg), rel=1e-5)
    # an untrained net (w ~ 0) predicts the mean of a standardized target: mse ~ 1
    assert all(v < 0.8 for _, v in scalars["val/loss"])
    assert (Path(cfg.paths.output_dir) / "checkpoints" / "best.ckpt").is_file()


def test_half_mse_is_d2l_squared_loss(compose_train) -> None:
    results = {}
    for loss in ("mse", "half_mse"):
        cfg = compose_train(
            "datamodule=airfoil",
            "model=linear",
            "trainer.max_epochs=1",
            "optimizer.lr=1e-12",  # (almost) no learning: both see the same network
            f"task.regression_loss={loss}",
            "test=false",
        )
        results[loss] = train(cfg)
    assert results["half_mse"]["val/loss"] == pytest.approx(results["mse"]["val/loss"] / 2)
    assert results["half_mse"]["val/mse"] == pytest.approx(results["mse"]["val/mse"])


def test_log_features_take_the_log_before_standardizing() -> None:
    plain, logged = AirfoilDataModule(), AirfoilDataModule(log_features=["frequency"])
    plain.setup()
    logged.setup()
    raw, log = plain._splits["train"][0][:, 0], logged._splits["train"][0][:, 0]
    assert torch.equal(raw.argsort(stable=True), log.argsort(stable=True))  # same rows, monotone
    assert float(log.mean()) == pytest.approx(0, abs=1e-5)
    assert float(log.std(unbiased=False)) == pytest.approx(1, abs=1e-4)
    # the log spreads the low frequencies: the median sits nearer the mean than raw Hz does
    assert abs(float(log.median())) < abs(float(raw.median()))
    assert torch.equal(plain._splits["train"][0][:, 1:], logged._splits["train"][0][:, 1:])
    with pytest.raises(ValueError, match="unknown feature"):
        AirfoilDataModule(log_features=["freq"])
    with pytest.raises(ValueError, match="angle can be 0"):
        AirfoilDataModule(log_features=["angle"])


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"val_fraction": 0.1, "test_fraction": 0.25},
        {"val_fraction": 0.0, "test_fraction": 0.0},
        {"mode": "d2l"},
        {"mode": "d2l", "d2l_rows": 1000},
    ],
    ids=str,
)
def test_train_size_is_counted_before_loading(options: dict) -> None:
    dm = AirfoilDataModule(**options)
    size = dm.train_size()
    dm.setup("fit")
    assert size == dm.split_size("train")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"mode": "kfold"}, "datamodule.mode must be one of ['split', 'd2l']"),
        ({"val_fraction": 1.0}, "datamodule.val_fraction must be a number in [0, 1)"),
        ({"val_fraction": 0.6, "test_fraction": 0.5}, "leave no training rows"),
        ({"d2l_rows": 0}, "datamodule.d2l_rows must be a positive integer"),
        ({"d2l_rows": 2000}, "datamodule.d2l_rows=2000 is more than the file's 1503 rows"),
        ({"mode": "d2l", "log_features": ["frequency"]}, "log_features is for mode=split"),
        ({"standardize_target": "no"}, "datamodule.standardize_target must be true or false"),
        ({"batch_size": 0}, "datamodule.batch_size must be a positive integer"),
    ],
    ids=str,
)
def test_a_bad_setting_is_a_config_error_naming_the_key(options: dict, words: str) -> None:
    with pytest.raises(ConfigError) as error:
        AirfoilDataModule(**options)
    assert words in str(error.value)
