"""Values of the wrong kind (text for a number, 2.5 for an integer, 0 for a size) are
refused in one line naming the key and a fix, before anything is written; a bug is not."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import open_dict

from helpers import CONF_DIR
from helpers.cli import Started, start_script
from optimlab.config import to_plain
from optimlab.errors import ConfigError
from optimlab.runner.value_checks import check_values


@cache
def _composed(choices: tuple[str, ...]) -> dict[str, Any]:
    """The train config with these group choices as preflight sees it in a run."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=list(choices), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = "/nonexistent/run"  # nothing is written
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return {k: v for k, v in to_plain(cfg).items() if k != "hydra"}


def plain_config(*overrides: str) -> dict[str, Any]:
    """``train.py <overrides>``'s config, composed once per set of group choices: the
    key=value overrides are parsed by Hydra's own parser and set in a copy."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    choices = tuple(o for o, p in zip(overrides, parsed, strict=True) if "." not in p.key_or_group)
    cfg = copy.deepcopy(_composed(choices))
    for override in parsed:
        if "." in override.key_or_group:
            *sections, key = override.key_or_group.split(".")
            node = cfg
            for section in sections:
                node = node.setdefault(section, {})
            node[key] = override.value()
    return cfg


def train_py(tmp_path: Path, *overrides: str) -> Started:
    """train.py with ``overrides``, started in a fork of this worker (helpers.cli)."""
    return start_script("train.py", *overrides, f"paths.log_dir={tmp_path / 'logs'}")


ISSUE_CASES = {  # train.py's overrides -> the start of its one line
    "optimizer.lr=abc": "error: optimizer.lr must be a number, got 'abc'; e.g. optimizer.lr=",
    "trainer.max_epochs=2.5": "error: trainer.max_epochs must be an integer or null, got 2.5; "
    "e.g. trainer.max_epochs=10",
    "datamodule=airfoil model=mlp model.hidden=[0]": "error: model.hidden must be a list of "
    "positive integers, got [0]; e.g. model.hidden=[64,64]",
}


def test_the_issue_cases_exit_2_with_one_line_and_write_nothing(tmp_path: Path) -> None:
    runs = {case: train_py(tmp_path / str(i), *case.split()) for i, case in enumerate(ISSUE_CASES)}
    for i, (case, run) in enumerate(runs.items()):
        done = run.wait(300)
        stderr = done.stderr
        assert done.returncode == 2, stderr[-3000:]
        (line,) = stderr.strip().splitlines()  # the one line, nothing else
        assert line.startswith(ISSUE_CASES[case]), line
        assert not (tmp_path / str(i)).exists()  # no run directory, not even its parent


BAD = [
    # (overrides, the key the message names, what it asks for)
    (["datamodule.batch_size=abc"], "datamodule.batch_size", "a positive integer"),
    (["datamodule.batch_size=0"], "datamodule.batch_size", "a positive integer"),
    (["datamodule.batch_size=2.5"], "datamodule.batch_size", "a positive integer"),
    (["datamodule.eval_batch_size=0"], "datamodule.eval_batch_size", "a positive integer"),
    (["datamodule.val_size=abc"], "datamodule.val_size", "an integer"),
    (["datamodule.mean=[a]"], "datamodule.mean", "a list of numbers"),
    (
        ["datamodule.augment.random_crop_padding=1.5"],
        "datamodule.augment.random_crop_padding",
        "an integer",
    ),
    (
        ["datamodule.augment.horizontal_flip=3"],
        "datamodule.augment.horizontal_flip",
        "true or false",
    ),
    (
        ["datamodule=airfoil", "model=mlp", "datamodule.val_fraction=abc"],
        "datamodule.val_fraction",
        "a number",
    ),
    (
        ["datamodule=airfoil", "model=mlp", "datamodule.d2l_rows=0"],
        "datamodule.d2l_rows",
        "a positive integer",
    ),
    (
        ["datamodule=image_folder", "datamodule.image_size=0"],
        "datamodule.image_size",
        "a positive integer",
    ),
    (
        ["datamodule=image_folder", "datamodule.channels=abc"],
        "datamodule.channels",
        "a positive integer",
    ),
    (["model=cnn", "model.widths=[0,64]"], "model.widths", "a non-empty list of positive integers"),
    (["model=cnn", "model.widths=[]"], "model.widths", "a non-empty list of positive integers"),
    (["model=cnn", "model.widths=abc"], "model.widths", "a non-empty list of positive integers"),
    (["model=cnn", "model.hidden=0"], "model.hidden", "a positive integer or null"),
    (["model=cnn", "model.convs_per_block=0"], "model.convs_per_block", "a positive integer"),
    (["model=cnn", "model.kernel_size=2.5"], "model.kernel_size", "a positive integer"),
    (["model=cnn", "model.dropout=abc"], "model.dropout", "a number"),
    (["model=cnn", "model.batch_norm=abc"], "model.batch_norm", "true or false"),
    (
        ["datamodule=airfoil", "model=mlp", "model.hidden=abc"],
        "model.hidden",
        "a list of positive integers",
    ),
    (["datamodule=airfoil", "model=mlp", "model.dropout=abc"], "model.dropout", "a number"),
    (["model.init_std=abc"], "model.init_std", "a number"),
    (["model.compile=abc"], "model.compile", "true or false"),
    (["optimizer.momentum=abc"], "optimizer.momentum", "a number"),
    (["optimizer.weight_decay=[1]"], "optimizer.weight_decay", "a number"),
    (["optimizer.lr=true"], "optimizer.lr", "a number"),
    (["optimizer.lr=null"], "optimizer.lr", "a number"),
    (["optimizer.nesterov=1"], "optimizer.nesterov", "true or false"),
    (["optimizer=adam", "optimizer.betas=[a,b]"], "optimizer.betas", "a list of 2 numbers"),
    (["optimizer=adam", "optimizer.betas=[0.9]"], "optimizer.betas", "a list of 2 numbers"),
    (["optimizer=adam", "optimizer.eps=abc"], "optimizer.eps", "a number"),
    (["optimizer=lamb", "optimizer.lr=abc"], "optimizer.lr", "a number"),
    (["optimizer=rmsprop_eps_in_root", "optimizer.alpha=abc"], "optimizer.alpha", "a number"),
    (["scheduler=step", "scheduler.step_size=1.5"], "scheduler.step_size", "a positive integer"),
    (["scheduler=step", "scheduler.step_size=0"], "scheduler.step_size", "a positive integer"),
    (["scheduler=step", "scheduler.gamma=abc"], "scheduler.gamma", "a number"),
    (["scheduler=step", "scheduler.warmup_steps=abc"], "scheduler.warmup_steps", "an integer"),
    (["scheduler=step", "scheduler.warmup_epochs=abc"], "scheduler.warmup_epochs", "a number"),
    (["scheduler=step", "scheduler.frequency=0"], "scheduler.frequency", "a positive integer"),
    (
        ["scheduler=multistep", "scheduler.milestones=[a]"],
        "scheduler.milestones",
        "a list of integers",
    ),
    (
        ["scheduler=multistep", "scheduler.milestones=[2.5]"],
        "scheduler.milestones",
        "a list of integers",
    ),
    (["scheduler=cosine_restarts", "scheduler.T_0=0"], "scheduler.T_0", "a positive integer"),
    (["scheduler=plateau", "scheduler.patience=1.5"], "scheduler.patience", "an integer"),
    (["scheduler=cosine_warmup", "scheduler.max_steps=abc"], "scheduler.max_steps", "an integer"),
    (["trainer.devices=abc"], "trainer.devices", "an integer, a list of integers or 'auto'"),
    (["trainer.log_every_n_steps=0.5"], "trainer.log_every_n_steps", "a positive integer"),
    (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps", "a positive integer"),
    (["trainer.max_steps=abc"], "trainer.max_steps", "an integer"),
    (["trainer.limit_train_batches=abc"], "trainer.limit_train_batches", "a number"),
    (["trainer.gradient_clip_val=abc"], "trainer.gradient_clip_val", "a number"),
    (
        ["trainer.accumulate_grad_batches=0"],
        "trainer.accumulate_grad_batches",
        "a positive integer",
    ),
    (["+trainer.num_nodes=0"], "trainer.num_nodes", "a positive integer"),
    (["trainer.precision=abc"], "trainer.precision", "one of 64, 32, 16"),
    (["trainer.deterministic=abc"], "trainer.deterministic", "true or false"),
    (["seed=abc"], "seed", "an integer"),
    (["seed=1.5"], "seed", "an integer"),
    (["task.log_grad_norm=3"], "task.log_grad_norm", "true or false"),
    (
        ["callbacks.model_checkpoint.save_top_k=abc"],
        "callbacks.model_checkpoint.save_top_k",
        "an integer",
    ),
    (
        ["callbacks.learning_rate.every_n_steps=0"],
        "callbacks.learning_rate.every_n_steps",
        "a positive integer",
    ),
    (["logger.tensorboard.max_queue=0"], "logger.tensorboard.max_queue", "a positive integer"),
]


@pytest.mark.parametrize(("overrides", "key", "wanted"), BAD)
def test_a_value_of_the_wrong_kind_names_the_key_and_a_fix(
    overrides: list[str], key: str, wanted: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        check_values(plain_config(*overrides))
    message = str(refused.value)
    assert message.startswith(f"{key} must be {wanted}"), message
    assert "\n" not in message


FINE = [
    ["trainer.limit_train_batches=20"],
    ["trainer.limit_train_batches=0.5"],
    ["trainer.devices=auto"],
    ["trainer.devices=[0,1]"],
    ["trainer.precision=16-mixed"],
    ["trainer.max_epochs=-1"],
    ["seed=null"],
    ["optimizer.lr=1"],  # an integer is a number
    ["optimizer=yogi", "optimizer.betas=[0.9,0.99,0.1]"],  # the library takes three
    ["datamodule.mean=null", "datamodule.std=null"],
    ["datamodule=airfoil", "model=mlp", "model.hidden=[]"],  # no hidden layer: linear
    ["model=cnn", "model.hidden=128"],
    ["scheduler=cosine_warmup", "scheduler.warmup_epochs=0.5"],
    ["+optimizer.foreach=true"],  # a key no file declares: its annotation applies
    ["+optimizer.not_a_parameter=abc"],  # declared nowhere: left to the constructor
    ["+trainer.max_time=00:01:00:00"],
    ["+model.new_option=[a,b]"],
]


@pytest.mark.parametrize("overrides", FINE, ids=" ".join)
def test_values_of_the_right_kind_pass(overrides: list[str]) -> None:
    check_values(plain_config(*overrides))


GROUPS = "optimizer scheduler model datamodule trainer callbacks logger debug hparams_search"


def _every_option() -> list[str]:
    options = []
    for group in GROUPS.split():
        for file in sorted((CONF_DIR / group).glob("*.yaml")):
            options.append(f"{group}={file.stem}")
    experiments = CONF_DIR / "experiment"
    options += [
        f"experiment={p.relative_to(experiments).with_suffix('')}"
        for p in sorted(experiments.rglob("*.yaml"))
    ]
    return options


@pytest.mark.parametrize("option", _every_option())
def test_every_shipped_option_passes(option: str) -> None:
    """The rule follows the files' own defaults, so none of them can be refused."""
    regression = option in ("model=linear", "model=mlp")
    check_values(plain_config(*(["datamodule=airfoil"] if regression else []), option))


def test_a_bug_keeps_its_traceback(tmp_path: Path) -> None:
    """A ValueError from inside a network is no user error: no one-liner, no exit code 2."""
    run = train_py(
        tmp_path,
        "datamodule=airfoil",
        "model=linear",
        "model._target_=helpers.broken.ForwardRaises",
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
    )
    done = run.wait(300)
    stderr = done.stderr
    assert done.returncode not in (0, 2, 3), stderr[-3000:]
    assert "Traceback" in stderr
    assert "ValueError: a bug inside the network's forward" in stderr
    assert not any(line.startswith("error:") for line in stderr.splitlines())
