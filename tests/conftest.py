"""Shared fixtures: tiny Fashion-MNIST files and composed configs that train in seconds."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from helpers import CONF_DIR, ROOT, fast_overrides, tiny_fashion_overrides
from helpers.fakedata import write_fashion_mnist
from optimlab.runner.resolvers import register_resolvers

register_resolvers()
os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))


def _share_cores_between_xdist_workers() -> None:
    """Under `pytest -n N`, give each worker (and the processes it starts) its share of
    the cores: N workers each running all-core OpenMP loops wait on each other's threads."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        import torch

        threads = str(max(1, (os.cpu_count() or 1) // workers))
        os.environ["OMP_NUM_THREADS"] = threads
        torch.set_num_threads(int(threads))


_share_cores_between_xdist_workers()


@pytest.fixture(scope="session")
def tiny_fashion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fashion_mnist(tmp_path_factory.mktemp("fashion"))


ComposeFn = Callable[..., DictConfig]


@pytest.fixture
def compose_train(tmp_path: Path, tiny_fashion_dir: Path) -> ComposeFn:
    """compose_train(*overrides) -> the train config of a fast run writing into tmp_path.

    The tiny Fashion-MNIST is the data unless the overrides pick another datamodule.
    """
    made: list[bool] = []

    def _compose(
        *overrides: str, config_name: str = "train", output_dir: Path | None = None
    ) -> DictConfig:
        GlobalHydra.instance().clear()
        other_data = any(o.startswith("datamodule=") for o in overrides)
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            base = (
                fast_overrides(tiny_fashion_dir)
                if config_name == "train"
                else [
                    f"datamodule.data_dir={tiny_fashion_dir}",
                    "datamodule.system_dir=null",
                    "datamodule.download=false",
                    "datamodule.val_size=100",
                    "trainer.accelerator=cpu",
                ]
            )
            if other_data:
                fashion = set(tiny_fashion_overrides(tiny_fashion_dir))
                base = [o for o in base if o not in fashion and not o.startswith("datamodule.")]
            given = {o.split("=", 1)[0] for o in overrides}
            base = [o for o in base if o.split("=", 1)[0] not in given]  # the caller's wins
            cfg = compose(config_name, overrides=[*base, *overrides], return_hydra_config=True)
        out = output_dir or tmp_path / f"run{len(made)}"
        made.append(True)
        with open_dict(cfg):
            cfg.paths.output_dir = str(out)
            cfg.paths.log_dir = str(tmp_path)
            cfg.hydra.runtime.output_dir = str(out)
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
        return cfg

    yield _compose
    GlobalHydra.instance().clear()
