"""The in-memory data path: IDX files, where data is found, batches, shards, normalization."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from helpers.fakedata import write_fashion_mnist
from optimlab.data import DataNotFoundError, EpochSampler, FashionMNISTDataModule, TensorBatchLoader
from optimlab.data.idx import IDXFormatError, read_idx, write_idx
from optimlab.data.transforms import NormalizeImages


def _datamodule(data_dir: Path, **kwargs) -> FashionMNISTDataModule:
    options = {"system_dir": None, "download": False, "val_size": 100, "batch_size": 64}
    return FashionMNISTDataModule(str(data_dir), **{**options, **kwargs})


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip(tmp_path: Path, name: str) -> None:
    array = torch.randint(0, 256, (7, 5, 3), dtype=torch.uint8)
    write_idx(tmp_path / name, array)
    assert torch.equal(read_idx(tmp_path / name), array)


def test_truncated_idx_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, torch.zeros(10, 28, 28, dtype=torch.uint8))
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(IDXFormatError, match=r"train-images-idx3-ubyte\.gz.*truncated"):
        read_idx(path)


def test_not_idx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    path.write_bytes(b"hello world")
    with pytest.raises(IDXFormatError, match="bad magic"):
        read_idx(path)


def test_loads_uint8_splits_with_a_held_out_validation_set(tiny_fashion_dir: Path) -> None:
    dm = _datamodule(tiny_fashion_dir)
    dm.setup("fit")
    dm.setup("test")
    assert (dm.split_size("train"), dm.split_size("val"), dm.split_size("test")) == (500, 100, 200)
    images, labels = dm._splits["train"]
    assert images.dtype == torch.uint8 and images.shape[1:] == (1, 28, 28)
    assert labels.dtype == torch.int64
    # validation images are taken out of the training split, never out of test
    train_rows = {bytes(x.numpy()) for x in dm._splits["train"][0]}
    assert not any(bytes(x.numpy()) in train_rows for x in dm._splits["val"][0])


def test_validation_split_is_fixed_by_split_seed(tiny_fashion_dir: Path) -> None:
    first, second, other = (_datamodule(tiny_fashion_dir, split_seed=s) for s in (0, 0, 1))
    for dm in (first, second, other):
        dm.setup("fit")
    assert torch.equal(first._splits["val"][0], second._splits["val"][0])
    assert not torch.equal(first._splits["val"][0], other._splits["val"][0])


def test_data_dir_comes_before_the_system_copy(tmp_path: Path) -> None:
    local = write_fashion_mnist(tmp_path / "local", train=120, test=30)
    system = write_fashion_mnist(tmp_path / "system", train=300, test=30)
    dm = _datamodule(local, system_dir=str(system), val_size=20)
    dm.setup("fit")
    assert dm.split_size("train") + dm.split_size("val") == 120


def test_system_copy_is_used_when_data_dir_is_empty(tmp_path: Path) -> None:
    system = write_fashion_mnist(tmp_path / "system", train=300, test=30, gz=True)
    dm = _datamodule(tmp_path / "empty", system_dir=str(system), val_size=20)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.split_size("train") + dm.split_size("val") == 300


def test_torchvision_layout_in_data_dir_is_found(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path / "FashionMNIST" / "raw", train=150, test=30, gz=False)
    dm = _datamodule(tmp_path, val_size=50)
    dm.setup("fit")
    assert dm.split_size("train") == 100


def test_missing_data_names_the_three_ways(tmp_path: Path) -> None:
    dm = _datamodule(tmp_path / "nothing", system_dir=str(tmp_path / "no-system"))
    with pytest.raises(DataNotFoundError) as error:
        dm.setup("fit")
    message = str(error.value)
    assert "\n" not in message
    for way in ("IDX files", "apt-get install dataset-fashion-mnist", "download"):
        assert way in message


def test_failed_download_is_reported_with_the_three_ways(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", offline)
    dm = _datamodule(tmp_path / "nothing", download=True)
    with pytest.raises(DataNotFoundError, match=r"download failed.*apt-get install"):
        dm.prepare_data()


def test_epoch_sampler_is_seeded_per_epoch() -> None:
    sampler = EpochSampler(100, shuffle=True, seed=3)
    sampler.set_epoch(0)
    first = sampler.indices()
    sampler.set_epoch(1)
    second = sampler.indices()
    sampler.set_epoch(0)
    assert torch.equal(sampler.indices(), first)
    assert not torch.equal(first, second)
    assert sorted(first.tolist()) == list(range(100))


def test_ranks_get_disjoint_equal_shards_covering_everything() -> None:
    shards = [
        EpochSampler(10, shuffle=True, seed=0, rank=r, world_size=3).indices() for r in range(3)
    ]
    assert {len(s) for s in shards} == {4}
    assert set(torch.cat(shards).tolist()) == set(range(10))
    # only the two padding samples repeat
    assert len(torch.cat(shards)) - len(set(torch.cat(shards).tolist())) == 2


def test_batches_come_from_indexing_with_a_short_last_batch() -> None:
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    labels = torch.arange(10)
    loader = TensorBatchLoader(
        images, labels, batch_size=4, sampler=EpochSampler(10, shuffle=False, seed=0)
    )
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert torch.equal(batches[1][1], torch.tensor([4, 5, 6, 7]))
    assert torch.equal(batches[1][0][:, 0, 0, 0], torch.tensor([4, 5, 6, 7], dtype=torch.uint8))
    drop = TensorBatchLoader(images, labels, batch_size=4, sampler=loader.sampler, drop_last=True)
    assert len(drop) == len(list(drop)) == 2


def test_normalization_matches_the_torchvision_recipe() -> None:
    images = torch.randint(0, 256, (8, 3, 4, 4), dtype=torch.uint8)
    mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 2.0]
    expected = (images.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(
        std
    ).view(1, 3, 1, 1)
    assert torch.allclose(NormalizeImages(mean, std)(images), expected, atol=1e-6)


def test_training_batches_are_normalized_floats(tiny_fashion_dir: Path) -> None:
    dm = _datamodule(tiny_fashion_dir)
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and x.shape == (64, 1, 28, 28)
    assert y.dtype == torch.int64
    assert len(dm.train_dataloader()) == 8  # ceil(500 / 64)


def test_a_partial_copy_in_data_dir_is_named_not_skipped(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path / "full")
    (tmp_path / "partial").mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (tmp_path / "partial" / name).write_bytes((tmp_path / "full" / name).read_bytes())
    dm = _datamodule(tmp_path / "partial", system_dir=str(tmp_path / "full"))
    with pytest.raises(ValueError, match=r"only some of the Fashion-MNIST files.*t10k-images"):
        dm.prepare_data()


def test_a_failed_download_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    import torchvision.datasets

    class HalfDownload:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            raw = Path(root) / "FashionMNIST" / "raw"
            raw.mkdir(parents=True, exist_ok=True)
            (raw / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b half of it")
            raise RuntimeError("Connection reset by peer")

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", HalfDownload)
    dm = _datamodule(tmp_path / "data", download=True)
    with pytest.raises(DataNotFoundError, match="Connection reset by peer"):
        dm.prepare_data()
    assert list((tmp_path / "data").iterdir()) == []


def test_train_size_is_official_until_the_files_are_here_then_read_from_their_header(
    tmp_path: Path,
) -> None:
    dm = _datamodule(tmp_path / "data", download=True)
    assert dm.train_size() == 60_000 - 100  # to be downloaded: the official split
    write_fashion_mnist(tmp_path / "data", train=150, test=30)
    assert dm.train_size() == 50  # the IDX header's count, minus val_size
    dm.setup("fit")
    assert dm.split_size("train") == 50
