"""Image folders (tree or .tar.gz): decoding, classes, sizes, the cache, errors, a whole run."""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import pytest
import torch

from helpers import ROOT
from helpers.fake_images import image_tree_files, write_archive, write_tree
from helpers.runs import train
from optimlab.data import DataFormatError, DataNotFoundError, ImageFolderDataModule, image_cache
from optimlab.data import image_folder as image_folder_module

REAL_ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
CLASSES = ("cat", "dog", "frog")


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return image_tree_files(classes=CLASSES, counts={"train": 6, "test": 2}, size=8)


@pytest.fixture
def tree(tmp_path: Path, files: dict[str, bytes]) -> Path:
    return write_tree(tmp_path / "images", files)


def _datamodule(data_dir: Path, **kwargs) -> ImageFolderDataModule:
    options = {"val_size": 3, "batch_size": 5, "cache_dir": None}
    return ImageFolderDataModule(str(data_dir), **{**options, **kwargs})


def _tensors(dm: ImageFolderDataModule) -> list[torch.Tensor]:
    return [*dm.load_split("train"), *dm.load_split("test")]


def _no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(image_folder_module, "decode_images", fail)


def test_spec_comes_from_the_folders_before_setup(tree: Path) -> None:
    dm = _datamodule(tree)
    assert dm.spec.model_kwargs() == {"in_channels": 3, "image_size": 8, "num_classes": 3}
    assert dm.spec.class_names == CLASSES
    assert dm.spec.task == "classification"


def test_splits_shapes_dtypes_and_labels(tree: Path) -> None:
    dm = _datamodule(tree)
    dm.setup("fit")
    dm.setup("test")
    assert (dm.split_size("train"), dm.split_size("val"), dm.split_size("test")) == (15, 3, 6)
    images, labels = dm.load_split("train")
    assert images.dtype == torch.uint8 and images.shape == (18, 3, 8, 8)
    assert labels.dtype == torch.int64
    assert labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6  # sorted folder names
    for k in range(3):  # the class is the bright row the fake data drew for it
        assert bool((images[labels == k, :, k].float().mean() > 150).all())
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == torch.float32 and x.shape == (5, 3, 8, 8) and y.dtype == torch.int64


@pytest.mark.parametrize(("name", "top"), [("images.tar.gz", None), ("images.tgz", "cifar")])
def test_an_archive_gives_the_same_tensors_as_the_tree(
    tmp_path: Path, tree: Path, files: dict[str, bytes], name: str, top: str | None
) -> None:
    archive = write_archive(tmp_path / name, files, top=top)
    from_tree, from_archive = _tensors(_datamodule(tree)), _tensors(_datamodule(archive))
    assert all(torch.equal(a, b) for a, b in zip(from_tree, from_archive, strict=True))
    assert _datamodule(archive).spec == _datamodule(tree).spec


def test_a_tree_inside_one_top_level_folder_is_found(tmp_path: Path, files) -> None:
    nested = write_tree(tmp_path / "download" / "cifar10", files).parent
    assert _datamodule(nested).spec.num_classes == 3


def test_measured_statistics_and_configured_ones(tree: Path) -> None:
    dm = _datamodule(tree, val_size=0, batch_size=18, augment=None)
    dm.setup("fit")
    x, _ = next(iter(dm.train_dataloader()))
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3), atol=1e-4)
    fixed = _datamodule(tree, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25])
    assert fixed.normalize.mean.flatten().tolist() == [0.5, 0.5, 0.5]


def test_augmentation_is_on_by_default_for_training_only(tree: Path) -> None:
    dm = _datamodule(tree, val_size=3, batch_size=15)
    dm.setup("fit")
    order = dm.train_dataloader().sampler.indices()
    x, y = next(iter(dm.train_dataloader()))
    raw, raw_y = dm._splits["train"]
    assert torch.equal(y, raw_y[order])
    assert not torch.allclose(x, dm.normalize(raw[order]))
    vx, _ = next(iter(dm.val_dataloader()))
    assert torch.allclose(vx, dm.normalize(dm._splits["val"][0]))


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grey_and_rgba_images_become_rgb_or_grey(tmp_path: Path, mode: str) -> None:
    tree = write_tree(tmp_path / mode, image_tree_files(mode=mode))
    rgb = _datamodule(tree, cache=False)
    assert rgb.load_split("train")[0].shape[1:] == (3, 8, 8)
    grey = _datamodule(tree, channels=1, cache=False)
    assert grey.load_split("train")[0].shape[1:] == (1, 8, 8)
    assert grey.spec.in_channels == 1


def test_jpeg_files_are_decoded_too(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "jpegs", image_tree_files(fmt="JPEG", size=16))
    images, labels = _datamodule(tree, cache=False).load_split("test")
    assert images.shape == (6, 3, 16, 16) and labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_mixed_sizes_need_image_size(tmp_path: Path) -> None:
    one = image_tree_files(size=12, counts={"train": 1})
    odd = {path.replace("0000", "9999"): data for path, data in one.items()}
    tree = write_tree(tmp_path / "mixed", {**image_tree_files(size=8), **odd})
    with pytest.raises(DataFormatError, match=r"is 8x8 but .*9999.png is 12x12.*image_size"):
        _datamodule(tree, cache=False).spec  # noqa: B018
    resized = _datamodule(tree, cache=False, image_size=10)
    assert resized.load_split("train")[0].shape[1:] == (3, 10, 10)
    assert resized.spec.image_size == 10


def test_non_square_images_need_image_size(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "wide", image_tree_files(size=(6, 10)))
    with pytest.raises(DataFormatError, match="6x10, not square"):
        _datamodule(tree, cache=False).spec  # noqa: B018
    assert _datamodule(tree, cache=False, image_size=8).spec.image_size == 8


def test_train_size_of_an_archive_is_read_from_its_cache(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = write_archive(tmp_path / "images.tar.gz", files)
    assert _datamodule(archive).train_size() is None  # not decoded yet: only decoding tells
    decoded = _datamodule(archive)
    decoded.setup("fit")
    assert decoded.train_size() == decoded.split_size("train") == 15
    _no_decoding(monkeypatch)
    fresh = _datamodule(archive)
    assert fresh.train_size() == 15
    assert fresh._data is None  # the cache's tensors were mapped for their sizes, not loaded


def test_the_cache_is_written_beside_the_source_and_used_next_time(
    tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _datamodule(tree)
    expected = _tensors(first)
    assert first.cache_file is not None and first.cache_file.parent == tree.parent
    assert not [p for p in tree.parent.iterdir() if p.name.endswith(".tmp")]  # atomic write
    _no_decoding(monkeypatch)
    second = _datamodule(tree)
    assert all(torch.equal(a, b) for a, b in zip(expected, _tensors(second), strict=True))
    assert second.cache_file == first.cache_file


def test_the_cache_follows_changes_of_the_source_and_options(tmp_path: Path, tree: Path) -> None:
    first = _datamodule(tree)
    assert first.spec.num_classes == 3
    extra = image_tree_files(classes=("ant", "bee", "cow", "eel"), seed=3)
    write_tree(tree, {k: v for k, v in extra.items() if "/eel/" in k})
    changed = _datamodule(tree)
    assert changed.spec.num_classes == 4  # the new class folder was seen
    assert changed.cache_file == first.cache_file  # rewritten in place
    resized = _datamodule(tree, image_size=4)
    assert resized.spec.image_size == 4
    assert resized.cache_file != first.cache_file


def test_a_corrupt_cache_is_rebuilt(tree: Path) -> None:
    first = _datamodule(tree)
    expected = _tensors(first)
    first.cache_file.write_bytes(b"garbage")
    again = _datamodule(tree)
    assert all(torch.equal(a, b) for a, b in zip(expected, _tensors(again), strict=True))


def test_a_read_only_source_folder_caches_in_cache_dir(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    shelf = tmp_path / "shelf"
    archive = write_archive(shelf / "images.tar.gz", files)
    shelf.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        cache_dir = tmp_path / "cache"
        dm = _datamodule(archive, cache_dir=str(cache_dir))
        assert dm.spec.num_classes == 3
        assert dm.cache_file is not None and dm.cache_file.parent == cache_dir
        assert sorted(os.listdir(shelf)) == ["images.tar.gz"]  # nothing written beside it
        _no_decoding(monkeypatch)
        again = _datamodule(archive, cache_dir=str(cache_dir))
        assert again.spec.num_classes == 3
        assert again.cache_file == dm.cache_file
    finally:
        shelf.chmod(stat.S_IRWXU)


def test_cache_false_neither_reads_nor_writes_a_cache(tree: Path) -> None:
    dm = _datamodule(tree, cache=False)
    assert dm.spec.num_classes == 3
    assert dm.cache_file is None
    assert sorted(p.name for p in tree.parent.iterdir()) == ["images"]


def test_missing_folder_is_data_not_found(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"does not exist; point datamodule.data_dir"):
        _datamodule(tmp_path / "nowhere").spec  # noqa: B018


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ({}, "found an empty folder"),
        ({"cat/0.png": b"x"}, r"expected the layout train/<class>.*found cat"),
        ({"train/cat/notes.txt": b"x"}, "holds no image files"),
        ({"train/cat/0.png": None, "train/dog/notes.txt": b"x"}, r"class folder\(s\) dog hold no"),
        ({"train/cat/0.png": None}, "no images under test/"),
        ({"train/cat/0.png": b"not an image", "test/cat/0.png": None}, "0.png cannot be decoded"),
        ({"train/cat/0.png": None, "test/dog/0.png": None}, "test/ has classes that train/ lacks"),
    ],
)
def test_wrong_folders_get_clear_errors(tmp_path: Path, layout: dict, message: str) -> None:
    good = image_tree_files(counts={"train": 1}, classes=("cat",))["train/cat/0000.png"]
    root = tmp_path / "wrong"
    root.mkdir()
    write_tree(root, {path: good if data is None else data for path, data in layout.items()})
    with pytest.raises(DataFormatError, match=message):
        _datamodule(root, cache=False).spec  # noqa: B018


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "images.zip").write_bytes(b"PK")
    with pytest.raises(DataFormatError, match=r"not a .tar.gz/.tgz/.tar archive"):
        _datamodule(tmp_path / "images.zip").spec  # noqa: B018
    (tmp_path / "broken.tar.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(DataFormatError, match="cannot be read as a tar archive"):
        _datamodule(tmp_path / "broken.tar.gz").spec  # noqa: B018


def test_a_few_steps_of_training_through_the_runner(compose_train, tmp_path: Path) -> None:
    files = image_tree_files(size=16)  # LeNet's two 5x5 convolutions need 16x16 or more
    archive = write_archive(tmp_path / "data" / "images.tar.gz", files)
    cfg = compose_train(
        "datamodule=image_folder",
        f"datamodule.data_dir={archive}",
        f"datamodule.cache_dir={tmp_path / 'cache'}",
        "datamodule.val_size=3",
        "datamodule.batch_size=5",
        "datamodule.eval_batch_size=6",
        "model=lenet",
        "trainer.max_epochs=1",
        "~logger",
    )
    metrics = train(cfg)
    assert math.isfinite(metrics["train/loss_epoch"])
    assert 0.0 <= metrics["test/acc"] <= 1.0


@pytest.mark.real_data
@pytest.mark.slow
@pytest.mark.skipif(not REAL_ARCHIVE.is_file(), reason=f"needs {REAL_ARCHIVE}")
def test_the_cifar10_jpeg_archive_decodes_then_loads_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = REAL_ARCHIVE
    if image_cache.writable(archive.parent):  # never leave a cache in shared/: use a link
        archive = tmp_path / "link" / archive.name
        archive.parent.mkdir()
        archive.symlink_to(REAL_ARCHIVE)
    before = sorted(os.listdir(REAL_ARCHIVE.parent))
    cache_dir = tmp_path / "cache"
    dm = _datamodule(archive, cache_dir=str(cache_dir), val_size=5000)
    assert dm.spec.model_kwargs() == {"in_channels": 3, "image_size": 32, "num_classes": 10}
    assert dm.spec.class_names[:3] == ("airplane", "automobile", "bird")
    assert dm.cache_file is not None and dm.cache_file.parent in (cache_dir, archive.parent)
    assert sorted(os.listdir(REAL_ARCHIVE.parent)) == before
    dm.setup("fit")
    dm.setup("test")
    assert (dm.split_size("train"), dm.split_size("val"), dm.split_size("test")) == (
        45000, 5000, 10000,
    )  # fmt: skip
    assert torch.bincount(dm.load_split("test")[1]).tolist() == [1000] * 10
    mean, _ = dm.training_stats()
    assert mean == pytest.approx([0.4914, 0.4822, 0.4465], abs=0.005)  # CIFAR-10's, JPEG or not
    _no_decoding(monkeypatch)
    assert _datamodule(archive, cache_dir=str(cache_dir)).spec.num_classes == 10
