"""Parameter groups: no weight decay on biases and normalization weights by default, per-kind
lr multipliers, and the groups named in the start line and in train/lr."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from helpers import CONF_DIR
from helpers.tb import read_scalars
from optimlab.errors import ConfigError
from optimlab.models import CNN
from optimlab.optim import RunLength, build_lr_scheduler, build_optimizer
from optimlab.runner.preflight import preflight
from optimlab.runner.train import train

DEFAULT_RULES = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "train.yaml"))["optimizer"][
    "param_groups"
]


def _net() -> torch.nn.Module:
    return CNN(in_channels=1, image_size=28, num_classes=10, batch_norm=True)


def _adamw(**rules: object) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "optimizer" / "adamw.yaml"))
    return {**cfg, "param_groups": {**DEFAULT_RULES, **rules}}


def test_by_default_biases_and_norm_weights_get_no_weight_decay() -> None:
    net = _net()
    optimizer = build_optimizer(_adamw(), net)
    weights, rest = optimizer.param_groups
    assert weights["name"] == "weight" and weights["weight_decay"] == pytest.approx(0.01)
    assert rest["name"] == "bias+norm" and rest["weight_decay"] == 0.0
    norms = {
        id(p) for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d) for p in m.parameters()
    }
    layers = (torch.nn.Conv2d, torch.nn.Linear)
    biases = {id(m.bias) for m in net.modules() if isinstance(m, layers) and m.bias is not None}
    assert {id(p) for p in rest["params"]} == norms | biases
    assert len(weights["params"]) + len(rest["params"]) == len(list(net.parameters()))


def test_the_rule_switches_off() -> None:
    (group,) = build_optimizer(_adamw(no_decay=[]), _net()).param_groups
    assert group["weight_decay"] == pytest.approx(0.01)


def test_lr_multipliers_scale_a_kind_and_schedules_keep_the_ratio() -> None:
    optimizer = build_optimizer(_adamw(lr_multipliers={"bias": 2.0}), _net())
    names = [g["name"] for g in optimizer.param_groups]
    assert names == ["weight", "norm", "bias"]  # group 0 keeps the optimizer's own lr
    lrs = [g["lr"] for g in optimizer.param_groups]
    assert lrs == pytest.approx([0.001, 0.001, 0.002])
    cosine = {"_target_": "optimlab.optim.CosineLR", "interval": "step"}
    schedule = build_lr_scheduler(optimizer, cosine, RunLength(10, 5))["scheduler"]
    for _ in range(3):
        optimizer.step()
        schedule.step()
    weights, _, bias = (g["lr"] for g in optimizer.param_groups)
    assert bias == pytest.approx(2 * weights) and weights < 0.001


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown kind 'biases'"):
        build_optimizer(_adamw(no_decay=["biases"]), _net())


def test_a_run_names_its_groups_and_logs_each_groups_lr(compose_train, capsys) -> None:
    cfg = compose_train(
        "optimizer=adamw", "+optimizer.param_groups.lr_multipliers.bias=3.0", "test=false"
    )
    train(preflight(cfg))
    start = next(line for line in capsys.readouterr().out.splitlines() if "optimlab:" in line)
    assert "groups weight: 5 tensors" in start and "bias: 5 tensors" in start
    assert "lr 0.003, wd 0" in start
    scalars = read_scalars(Path(cfg.paths.output_dir) / "tensorboard")
    assert dict(scalars["train/lr/bias"])[0] == pytest.approx(3 * dict(scalars["train/lr"])[0])
