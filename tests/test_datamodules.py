"""Every datamodule keeps the data contract (data/protocol.py) on the shared in-memory base.

Each test runs on all four datamodules, over tiny data in the real formats: the task on
the class, the spec, train_size() against the real split, the loaders, the seeded order
and the DDP shards, and the flat config keys reaching the constructor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate

from helpers.fake_images import image_tree_files, write_cifar10, write_tree
from optimlab.data import (
    CLASSIFICATION,
    REGRESSION,
    TASKS,
    AirfoilDataModule,
    CIFAR10DataModule,
    FashionMNISTDataModule,
    ImageFolderDataModule,
    InMemoryDataModule,
    InMemoryImageDataModule,
    target_std_of,
)
from optimlab.errors import ConfigError

IMAGE_DATAMODULES = ("fashion_mnist", "cifar10", "image_folder")
DATAMODULES = (*IMAGE_DATAMODULES, "airfoil")  # airfoil holds out fractions (test_airfoil.py)
CLASSES = {
    "fashion_mnist": FashionMNISTDataModule,
    "cifar10": CIFAR10DataModule,
    "image_folder": ImageFolderDataModule,
    "airfoil": AirfoilDataModule,
}
Factory = Callable[..., InMemoryDataModule]


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny CIFAR-10 batches and an image tree, written once for the module."""
    root = tmp_path_factory.mktemp("sources")
    files = image_tree_files(counts={"train": 7, "test": 2}, size=8)
    return {
        "cifar10": write_cifar10(root / "cifar", train=150, test=30),
        "image_folder": write_tree(root / "images", files),
    }


@pytest.fixture(params=DATAMODULES)
def make(request: pytest.FixtureRequest, tiny_fashion_dir: Path, sources) -> Factory:
    """make(**options) -> a datamodule of the parametrized kind over tiny data."""
    name = request.param

    def build(**options) -> InMemoryDataModule:
        if name == "fashion_mnist":
            base = {"system_dir": None, "download": False, "val_size": 100}
            return FashionMNISTDataModule(str(tiny_fashion_dir), **{**base, **options})
        if name == "cifar10":
            base = {"download": False, "checksum": False, "val_size": 20}
            return CIFAR10DataModule(str(sources["cifar10"]), **{**base, **options})
        if name == "image_folder":
            base = {"val_size": 3, "cache": False, "cache_dir": None}
            return ImageFolderDataModule(str(sources["image_folder"]), **{**base, **options})
        return AirfoilDataModule(**options)

    build.name = name  # type: ignore[attr-defined]
    return build


def _on_rank(datamodule: InMemoryDataModule, rank: int, world_size: int) -> None:
    """What Lightning's trainer tells a datamodule about the process it runs in."""
    strategy = SimpleNamespace(root_device=torch.device("cpu"))
    datamodule.trainer = SimpleNamespace(  # type: ignore[assignment]
        strategy=strategy, global_rank=rank, world_size=world_size
    )


@pytest.mark.parametrize("name", DATAMODULES)
def test_the_task_is_declared_on_the_class(name: str) -> None:
    cls = CLASSES[name]  # nothing built, nothing loaded
    assert cls.task in TASKS
    assert cls.task == (REGRESSION if name == "airfoil" else CLASSIFICATION)
    assert issubclass(cls, InMemoryDataModule)
    assert issubclass(cls, InMemoryImageDataModule) == (cls.task == CLASSIFICATION)


def test_the_spec_gives_the_model_its_sizes(make: Factory) -> None:
    datamodule = make()
    spec = datamodule.spec
    assert spec.task == type(datamodule).task
    if spec.task == CLASSIFICATION:
        channels, height, width = spec.input_shape
        assert height == width
        assert spec.num_outputs == spec.num_classes == len(spec.class_names)
        expected = {"in_channels": channels, "image_size": height, "num_classes": spec.num_classes}
    else:
        (features,) = spec.input_shape
        expected = {"in_features": features, "out_features": spec.num_outputs}
    assert spec.model_kwargs() == expected
    datamodule.setup("fit")
    x, y = next(iter(datamodule.train_dataloader()))
    assert x.shape[1:] == spec.input_shape
    if spec.task == REGRESSION:
        assert y.shape[1:] == (spec.num_outputs,)


def test_train_size_is_known_before_loading_and_is_the_real_split(make: Factory) -> None:
    datamodule = make()
    size = datamodule.train_size()
    assert not datamodule._splits  # nothing was loaded to answer
    datamodule.setup("fit")
    assert size == datamodule.split_size("train")


@pytest.mark.parametrize("make", IMAGE_DATAMODULES, indirect=True)
def test_train_size_refuses_a_validation_split_as_large_as_the_data(make: Factory) -> None:
    datamodule = make(val_size=10_000)
    with pytest.raises(ConfigError, match=r"datamodule\.val_size=10000 leaves no training data"):
        datamodule.train_size()
    with pytest.raises(ConfigError, match=r"datamodule\.val_size=10000 leaves no training data"):
        datamodule.setup("fit")


def test_loaders_cut_batches_from_the_held_splits(make: Factory) -> None:
    datamodule = make(batch_size=4, eval_batch_size=7)
    datamodule.setup()
    train = datamodule.train_dataloader()
    assert len(train) == math.ceil(datamodule.split_size("train") / 4)
    assert train.sampler.shuffle and len(next(iter(train))[1]) == 4
    for loader, split in (
        (datamodule.val_dataloader(), "val"),
        (datamodule.test_dataloader(), "test"),
    ):
        assert not loader.sampler.shuffle and loader.augment is None
        assert loader.batch_size == 7
        assert len(loader) == math.ceil(datamodule.split_size(split) / 7)
    dropping = make(batch_size=4, eval_batch_size=7, drop_last=True)
    dropping.setup("fit")
    assert len(dropping.train_dataloader()) == datamodule.split_size("train") // 4
    assert len(dropping.val_dataloader()) == len(datamodule.val_dataloader())  # training only


def test_the_seed_fixes_the_order_and_null_draws_one(make: Factory) -> None:
    def order(**options) -> list[int]:
        datamodule = make(**options)
        datamodule.setup("fit")
        sampler = datamodule.train_dataloader().sampler
        sampler.set_epoch(1)
        return sampler.indices().tolist()

    assert order(seed=5) == order(seed=5)
    assert order(seed=5) != order(seed=6)
    assert make(seed=None).seed != make(seed=None).seed  # a random run: 1 in 2**31 to clash


def test_each_rank_trains_on_its_own_shard(make: Factory) -> None:
    shards = []
    for rank in (0, 1):
        datamodule = make(batch_size=3)
        _on_rank(datamodule, rank, world_size=2)
        datamodule.setup("fit")
        loader = datamodule.train_dataloader()
        assert (loader.sampler.rank, loader.sampler.world_size) == (rank, 2)
        indices = loader.sampler.indices()
        _, targets = next(iter(loader))
        assert torch.equal(targets, datamodule._splits["train"][1][indices[:3]])
        shards.append(set(indices.tolist()))
    size = datamodule.split_size("train")
    assert shards[0] | shards[1] == set(range(size))
    assert len(shards[0] & shards[1]) == size % 2  # only the padding repeats


def test_regression_data_says_how_its_target_was_scaled(make: Factory) -> None:
    datamodule = make()
    assert target_std_of(datamodule) is None  # not known before setup (none for classes)
    datamodule.setup("fit")
    if type(datamodule).task == REGRESSION:
        assert target_std_of(datamodule) == datamodule.target_std > 0  # type: ignore[attr-defined]
    else:
        assert target_std_of(datamodule) is None
    assert target_std_of(None) is None


def test_every_key_of_the_config_reaches_the_datamodule(compose_train, make: Factory) -> None:
    name = make.name  # type: ignore[attr-defined]
    cfg = compose_train(
        f"datamodule={name}",
        "datamodule.batch_size=3",
        "datamodule.eval_batch_size=5",
        "datamodule.seed=11",
        "datamodule.split_seed=2",
        "datamodule.drop_last=true",
        *([] if name == "airfoil" else ["datamodule.val_size=4"]),
        *(["datamodule.augment.random_crop_padding=2"] if name != "airfoil" else []),
    )
    datamodule = instantiate(cfg.datamodule)  # builds it; loads nothing
    assert type(datamodule) is CLASSES[name]
    expected = {"batch_size": 3, "eval_batch_size": 5, "seed": 11, "split_seed": 2}
    assert {key: getattr(datamodule, key) for key in expected} == expected
    assert datamodule.drop_last is True
    if name != "airfoil":
        assert datamodule.val_size == 4
        assert datamodule.augment.padding == 2


def test_image_datamodules_share_the_image_keys_with_their_own_defaults(
    tiny_fashion_dir: Path,
) -> None:
    fashion = FashionMNISTDataModule(str(tiny_fashion_dir))
    cifar = CIFAR10DataModule(str(tiny_fashion_dir))
    assert (fashion.batch_size, fashion.augment) == (256, None)
    assert cifar.batch_size == 64 and cifar.augment is not None
    with pytest.raises(ConfigError, match=r"unknown datamodule key\(s\) \['bach_size'\]"):
        FashionMNISTDataModule(str(tiny_fashion_dir), bach_size=3)


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "64"}, "batch_size"),
        ({"eval_batch_size": 2.5}, "eval_batch_size"),
        ({"seed": "x"}, "seed"),
        ({"split_seed": None}, "split_seed"),
        ({"drop_last": "yes"}, "drop_last"),
    ],
)
def test_a_bad_shared_setting_is_a_config_error_naming_its_key(
    make: Factory, options: dict, key: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^datamodule\.{key} must be"):
        make(**options)
