"""CIFAR-10 from the official python batches: where it is found, checks, splits, a whole run."""

from __future__ import annotations

import hashlib
import math
import pickle
from pathlib import Path

import pytest
import torch

from helpers.fake_images import fake_rgb_images, write_cifar10
from helpers.runs import train
from optimlab.data import ChecksumError, CIFAR10DataModule, DataFormatError, DataNotFoundError
from optimlab.data import cifar10 as cifar10_module
from optimlab.data.cifar10 import BATCH_FOLDER, MEAN, STD
from optimlab.data.cifar_batches import META_FILE, TEST_FILES, TRAIN_FILES, read_batch


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_cifar10(tmp_path_factory.mktemp("cifar"), train=200, test=50)


def _datamodule(data_dir: Path, **kwargs) -> CIFAR10DataModule:
    options = {"download": False, "checksum": False, "val_size": 20, "batch_size": 32}
    return CIFAR10DataModule(str(data_dir), **{**options, **kwargs})


def _official_md5_of(batch_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make our fake files the 'official' ones, so the checksum path can pass."""
    names = [*TRAIN_FILES, *TEST_FILES, META_FILE]
    digests = {n: hashlib.md5((batch_dir / n).read_bytes()).hexdigest() for n in names}
    monkeypatch.setattr(cifar10_module, "official_md5", lambda: digests)


def test_loads_uint8_splits_with_a_held_out_validation_set(cifar_dir: Path) -> None:
    dm = _datamodule(cifar_dir)
    dm.setup("fit")
    dm.setup("test")
    assert (dm.split_size("train"), dm.split_size("val"), dm.split_size("test")) == (180, 20, 50)
    for split in ("train", "val", "test"):
        images, labels = dm._splits[split]
        assert images.dtype == torch.uint8 and images.shape[1:] == (3, 32, 32)
        assert labels.dtype == torch.int64
        assert int(labels.min()) >= 0 and int(labels.max()) < 10
    assert dm.spec.model_kwargs() == {"in_channels": 3, "image_size": 32, "num_classes": 10}
    assert dm.class_names[0] == "airplane"


def test_train_size_comes_from_batches_meta_or_the_official_count(tmp_path: Path) -> None:
    assert _datamodule(tmp_path / "nothing", val_size=5000).train_size() == 45_000
    uneven = write_cifar10(tmp_path / "uneven", train=62, test=10)  # no num_cases_per_batch
    assert _datamodule(uneven).train_size() is None  # files you made: only loading tells
    assert _datamodule(uneven, checksum=True).train_size() == 50_000 - 20  # must be official


def test_pixels_are_read_in_the_official_channel_plane_order(cifar_dir: Path) -> None:
    images, labels = read_batch(cifar_dir / BATCH_FOLDER / "data_batch_1")
    expected, expected_labels = fake_rgb_images(200, seed=0)
    assert torch.equal(images, expected[:40])  # 1024 red, then 1024 green, then 1024 blue bytes
    assert torch.equal(labels, expected_labels[:40])


@pytest.mark.parametrize("where", ["data_dir", "nested", "system_dir"])
def test_batches_are_found_where_users_put_them(tmp_path: Path, where: str) -> None:
    if where == "system_dir":
        system = write_cifar10(tmp_path / "system", train=60, test=10)
        dm = _datamodule(tmp_path / "empty", system_dir=str(system))
    else:
        dm = _datamodule(write_cifar10(tmp_path, train=60, test=10, nested=where == "nested"))
    dm.setup("fit")
    assert dm.split_size("train") == 40


def test_default_normalization_and_augmentation(cifar_dir: Path) -> None:
    dm = _datamodule(cifar_dir, batch_size=180)
    assert dm.normalize.mean.flatten().tolist() == pytest.approx(MEAN)
    assert dm.normalize.std.flatten().tolist() == pytest.approx(STD)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    raw, raw_y = dm._splits["train"]
    order = dm.train_dataloader().sampler.indices()
    assert torch.equal(y, raw_y[order])
    assert not torch.allclose(x, dm.normalize(raw[order]))  # cropped and flipped
    vx, _ = next(iter(dm.val_dataloader()))
    assert torch.allclose(vx, dm.normalize(dm._splits["val"][0]))  # validation is not


def test_measured_statistics_normalize_to_zero_mean_unit_std(cifar_dir: Path) -> None:
    dm = _datamodule(cifar_dir, mean=None, std=None, val_size=0, batch_size=200, augment=None)
    dm.setup("fit")
    x, _ = next(iter(dm.train_dataloader()))
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-4)


def test_checksums_pass_for_intact_files_and_name_a_corrupt_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_cifar10(tmp_path, train=60, test=10)
    batch_dir = tmp_path / BATCH_FOLDER
    _official_md5_of(batch_dir, monkeypatch)
    _datamodule(tmp_path, checksum=True).setup("fit")
    corrupt = batch_dir / "data_batch_3"
    corrupt.write_bytes(corrupt.read_bytes()[:-100])  # a truncated download
    with pytest.raises(ChecksumError) as error:
        _datamodule(tmp_path, checksum=True).setup("fit")
    message = str(error.value)
    assert "\n" not in message
    for part in ("data_batch_3", "delete it and download again", "datamodule.checksum=false"):
        assert part in message


def test_the_real_official_checksums_refuse_files_we_made(cifar_dir: Path) -> None:
    with pytest.raises(ChecksumError, match=r"batches.meta: md5 \w+ is not the official \w+"):
        _datamodule(cifar_dir, checksum=True).setup("fit")


def test_a_file_that_does_not_parse_is_a_format_error(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train=60, test=10)
    (tmp_path / BATCH_FOLDER / "data_batch_2").write_bytes(b"not a pickle at all")
    with pytest.raises(DataFormatError, match=r"data_batch_2: not a CIFAR-10 python batch"):
        _datamodule(tmp_path).setup("fit")


def test_pickles_that_would_run_code_are_refused(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train=60, test=10)

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    (tmp_path / BATCH_FOLDER / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(DataFormatError, match=r"test_batch: .*refusing to load builtins.print"):
        _datamodule(tmp_path).setup("test")


def test_wrong_shapes_are_format_errors(tmp_path: Path) -> None:
    write_cifar10(tmp_path, train=60, test=10)
    data = torch.zeros(10, 100, dtype=torch.uint8).numpy()
    path = tmp_path / BATCH_FOLDER / "test_batch"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [0] * 10}))
    with pytest.raises(DataFormatError, match=r"test_batch: b'data' is uint8 \(10, 100\)"):
        _datamodule(tmp_path).setup("test")


def test_missing_data_names_the_three_ways(tmp_path: Path) -> None:
    dm = _datamodule(tmp_path / "nothing")
    dm.prepare_data()  # download=false: nothing tried
    with pytest.raises(DataNotFoundError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert "\n" not in message
    for way in ("official python batches", "datamodule.download=true", "datamodule=image_folder"):
        assert way in message


def test_failed_download_is_reported_with_the_three_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading cifar-10-python.tar.gz")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    dm = _datamodule(tmp_path / "nothing", download=True)
    with pytest.raises(DataNotFoundError, match=r"download failed.*datamodule=image_folder"):
        dm.prepare_data()


@pytest.mark.parametrize("model", ["lenet", "cnn", "cnn_deep"])
def test_a_few_steps_of_training_through_the_runner(
    compose_train, cifar_dir: Path, model: str
) -> None:
    cfg = compose_train(
        "datamodule=cifar10",
        f"datamodule.data_dir={cifar_dir}",
        "datamodule.checksum=false",
        "datamodule.download=false",
        "datamodule.val_size=20",
        "datamodule.batch_size=45",
        "datamodule.eval_batch_size=50",
        f"model={model}",
        "trainer.max_epochs=1",
        "~logger",
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss_epoch"])
    assert 0.0 <= metrics["test/acc"] <= 1.0
