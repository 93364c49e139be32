"""The train config and the datamodule of a run, built the way ``python train.py`` builds them."""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from optimlab.runner.resolvers import register_resolvers

ROOT = Path(__file__).resolve().parents[2]  # the repository
CONF_DIR = ROOT / "conf"


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The train config exactly as ``python train.py <overrides>`` would compose it."""
    register_resolvers()
    os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


def instantiate_datamodule(cfg: DictConfig) -> L.LightningDataModule:
    """The configured datamodule, its data found (or fetched) and its training split ready."""
    datamodule = instantiate(cfg.datamodule)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def same_data(a: DictConfig, b: DictConfig) -> bool:
    return OmegaConf.to_container(a.datamodule, resolve=True) == OmegaConf.to_container(
        b.datamodule, resolve=True
    )


def seed_like_train(cfg: DictConfig) -> None:
    """Seed as train.py does, so the benchmarked runs start from the same weights."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True, verbose=False)
