"""Every committed experiment recipe composes, passes the preflight and trains (a few steps
on tiny data): a recipe in docs/results.md must be runnable as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from helpers import CONF_DIR
from helpers.fake_images import image_tree_files, write_tree
from helpers.runs import train
from optimlab.runner.preflight import preflight

EXPERIMENTS = sorted(
    str(path.relative_to(CONF_DIR / "experiment").with_suffix(""))
    for path in (CONF_DIR / "experiment").rglob("*.yaml")
)
# a few batches per epoch and validation/test on one batch
FEW_STEPS = [
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
]


def compose_as_written(*overrides: str) -> DictConfig:
    """train.yaml with these overrides alone (no tiny-data paths), Hydra's section included."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()
    return cfg


def recipe_datamodule(experiment: str) -> str:
    """The datamodule option the recipe composes to (its own, or one it inherits)."""
    return str(compose_as_written(f"experiment={experiment}").hydra.runtime.choices.datamodule)


def data_overrides(experiment: str, tmp_path: Path) -> list[str]:
    """The recipe's own data set, made tiny."""
    datamodule = recipe_datamodule(experiment)
    if datamodule == "image_folder":
        files = image_tree_files(classes=("cat", "dog"), counts={"train": 40, "test": 4}, size=32)
        folder = write_tree(tmp_path / "images", files)
        return [
            "datamodule=image_folder",
            f"datamodule.data_dir={folder}",
            f"datamodule.cache_dir={tmp_path / 'cache'}",
            "datamodule.val_size=8",
        ]
    if datamodule == "airfoil":
        return ["datamodule=airfoil"]
    return []  # Fashion-MNIST: the tiny copy compose_train points at


def recipe_epochs(experiment: str) -> int:
    """The recipe's own trainer.max_epochs (its warm-up and milestones are sized to it)."""
    return int(compose_as_written(f"experiment={experiment}").trainer.max_epochs)


def test_the_recipes_are_found() -> None:
    for name in ("lenet_10ep", "airfoil_mlp", "apx/cifar10_cnn", "d2l/lenet_cosine_warmup"):
        assert name in EXPERIMENTS


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_passes_the_preflight_and_trains(
    compose_train, tmp_path: Path, experiment: str
) -> None:
    epochs = f"trainer.max_epochs={recipe_epochs(experiment)}"
    overrides = [*data_overrides(experiment, tmp_path), f"experiment={experiment}", epochs]
    preflight(compose_train(*overrides))  # the recipe as written
    # then 4 optimizer steps of it (2 epochs of 2 batches): its objects all build and run
    result = train(compose_train(*overrides, *FEW_STEPS, "trainer.max_steps=4"))
    assert any(key.startswith("test/") for key in result)


@pytest.mark.parametrize("experiment", ["modern/lenet", "modern/cifar10_cnn"])
@pytest.mark.parametrize("optimizer", ["muon", "prodigy", "schedule_free_adamw"])
def test_a_comparison_recipe_keeps_each_optimizers_own_settings(
    experiment: str, optimizer: str
) -> None:
    """The modern/ recipes compare optimizers at their recommended settings: a workload they
    build on must not set an lr that would replace the optimizer's own."""
    own = compose_as_written(f"optimizer={optimizer}").optimizer
    recipe = compose_as_written(f"experiment={experiment}", f"optimizer={optimizer}").optimizer
    assert recipe == own
