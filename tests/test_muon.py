"""optimizer=muon: which parameters Muon updates and which AdamW does, the step against the
authors' rule (and torch.optim.Muon's), and whole runs: the split in the start line, each
group's lr in TensorBoard, a resumed run equal to an uninterrupted one."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import pytorch_optimizer.optimizer.muon.base as muon_base
import torch
from omegaconf import OmegaConf
from torch import nn

from helpers import CONF_DIR
from helpers.formulas import adamw_step, muon_step
from helpers.runs import train
from helpers.tb import read_scalars
from optimlab.errors import ConfigError
from optimlab.models import CNN, LeNet
from optimlab.optim import build_optimizer
from optimlab.optim.build import check_optimizer
from optimlab.runner.cli import EXIT_BAD_INPUT, run_or_exit
from optimlab.runner.preflight import preflight

TRAIN = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "train.yaml"))
RULES = TRAIN["optimizer"]["param_groups"]  # optimizer.param_groups, as every run has it


def muon_cfg(**changes: object) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "optimizer" / "muon.yaml"))
    adamw = {**cfg["adamw"], **changes.pop("adamw", {})}
    rules = {**RULES, **changes.pop("param_groups", {})}
    return {**cfg, **changes, "adamw": adamw, "param_groups": rules}


def split(optimizer: torch.optim.Optimizer, net: nn.Module) -> dict[str, set[str]]:
    """{group name: the names of its parameters}"""
    names = {id(p): name for name, p in net.named_parameters()}
    return {g["name"]: {names[id(p)] for p in g["params"]} for g in optimizer.param_groups}


# ---------------------------------------------------------------------------- the split


def test_lenet_hidden_matrices_go_to_muon_and_the_rest_to_adamw_by_role() -> None:
    net = LeNet()  # features: 0 conv 6@5x5, 3 conv 16@5x5; classifier: 0, 2, 4 dense
    optimizer = build_optimizer(muon_cfg(), net)
    assert split(optimizer, net) == {
        "muon": {"features.3.weight", "classifier.0.weight", "classifier.2.weight"},
        "adamw:input+output": {"features.0.weight", "classifier.4.weight"},
        "adamw:bias": {name for name, _ in net.named_parameters() if name.endswith("bias")},
    }
    muon, head, bias = optimizer.param_groups  # Muon's first: train/lr is its lr
    assert muon["use_muon"] and not head["use_muon"] and not bias["use_muon"]
    settings = {key: muon[key] for key in ("lr", "momentum", "nesterov", "ns_steps")}
    assert settings == {"lr": 0.02, "momentum": 0.95, "nesterov": True, "ns_steps": 5}
    assert muon["weight_decay"] == head["weight_decay"] == 0.01
    assert head["lr"] == bias["lr"] == 3e-4 and bias["weight_decay"] == 0.0  # no_decay
    assert head["betas"] == (0.9, 0.95) and head["eps"] == 1e-10


def test_cnn_norm_weights_and_biases_share_adamw_s_no_decay_group() -> None:
    net = CNN(in_channels=1, image_size=28, num_classes=10, batch_norm=True)
    groups = split(build_optimizer(muon_cfg(), net), net)
    assert groups == {
        "muon": {"features.4.weight"},  # the second conv, a 4-D kernel
        "adamw:input+output": {"features.0.weight", "classifier.1.weight"},
        "adamw:bias+norm": {
            "features.1.weight",
            "features.1.bias",
            "features.5.weight",
            "features.5.bias",
            "classifier.1.bias",
        },
    }


def test_the_split_is_configuration() -> None:
    net = LeNet()
    optimizer = build_optimizer(
        muon_cfg(muon_input_layer=True, adamw={"lr": {"output": 1e-3}}), net
    )
    groups = split(optimizer, net)
    assert groups["muon"] == {
        "features.0.weight",
        "features.3.weight",
        "classifier.0.weight",
        "classifier.2.weight",
    }
    assert groups["adamw:output"] == {"classifier.4.weight"}
    assert [g["lr"] for g in optimizer.param_groups] == [0.02, 1e-3, 3e-4]

    # no_decay=[]: input, output and biases have the same lr and decay, so one group
    (_, adamw) = build_optimizer(muon_cfg(param_groups={"no_decay": []}), net).param_groups
    assert adamw["name"] == "adamw:input+output+bias" and adamw["weight_decay"] == 0.01
    # a kind's lr multiplier scales every role of that kind
    bias = build_optimizer(muon_cfg(param_groups={"lr_multipliers": {"bias": 2.0}}), net)
    assert bias.param_groups[-1]["name"] == "adamw:bias"
    assert bias.param_groups[-1]["lr"] == pytest.approx(6e-4)


# ---------------------------------------------------------------------------- the step


def layers() -> nn.Sequential:
    """Every role: an input conv, a hidden conv (8 x 4*3*3), a tall and a wide hidden matrix,
    a LayerNorm, an output layer. The steps below set the gradients, so shapes need not chain."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.Conv2d(4, 8, 3),
        nn.Linear(10, 24),
        nn.Linear(24, 6),
        nn.LayerNorm(6),
        nn.Linear(6, 3),
    )


def step_both(net: nn.Module, cfg: dict, dtype: torch.dtype, steps: int = 3):
    """Step ``optimizer=muon`` and the authors' rule (helpers.formulas) with the same
    gradients; yield (step, parameter name, group name, ours, theirs) after each step."""
    optimizer = build_optimizer(cfg, net)
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    theirs = {name: p.detach().clone() for name, p in net.named_parameters()}
    state: dict[str, dict] = {name: {} for name in theirs}
    generator = torch.Generator().manual_seed(1)
    for t in range(1, steps + 1):
        for name, p in net.named_parameters():
            grad = torch.randn(p.shape, generator=generator)
            p.grad = grad.clone()
            group = group_of[id(p)]
            hyper = {"lr": group["lr"], "weight_decay": group["weight_decay"]}
            if group["use_muon"]:
                buffer = state[name].setdefault("buffer", torch.zeros_like(grad))
                muon_step(theirs[name], grad, buffer, momentum=0.95, dtype=dtype, **hyper)
            else:
                hyper |= {"betas": group["betas"], "eps": group["eps"]}
                adamw_step(theirs[name], grad, state[name], t, **hyper)
        optimizer.step()
        for name, p in net.named_parameters():
            yield t, name, group_of[id(p)]["name"], p.detach(), theirs[name]


@pytest.fixture
def float32_newton_schulz(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytorch_optimizer runs Newton-Schulz in bfloat16, as the authors do: two bfloat16
    programs of the same rule differ by a few percent. In float32 they agree to rounding."""
    ns = muon_base.zero_power_via_newton_schulz_5
    monkeypatch.setattr(
        muon_base, "zero_power_via_newton_schulz_5", functools.partial(ns, dtype=torch.float32)
    )


def test_each_step_is_the_authors_rule(float32_newton_schulz: None) -> None:
    """Muon on a conv kernel (as 8 x 36) and on tall and wide matrices; AdamW on the input
    and output layers, the biases and the LayerNorm, each with its group's settings."""
    net = layers()
    seen = set()
    for _, name, group, ours, theirs in step_both(net, muon_cfg(), torch.float32):
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=2e-7, msg=name)
        seen.add((name, group))
    assert {name for name, group in seen if group == "muon"} == {"1.weight", "2.weight", "3.weight"}
    start = layers()
    for name, p in start.named_parameters():
        assert not torch.equal(p, dict(net.named_parameters())[name]), name  # it moved


def test_in_bfloat16_the_step_stays_the_authors_rule_up_to_rounding() -> None:
    """The default (bfloat16 Newton-Schulz, ours and the reference's): the Muon steps agree
    to a few percent of the step, the AdamW ones to float32 rounding."""
    net = layers()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    for t, name, group, ours, theirs in step_both(net, muon_cfg(), torch.bfloat16, steps=1):
        assert t == 1
        if group == "muon":
            moved, expected = ours - before[name], theirs - before[name]
            assert (moved - expected).norm() < 0.1 * expected.norm(), name
        else:
            torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7, msg=name)


def test_a_conv_with_more_outputs_than_inputs_differs_by_the_matrix_shape_factor(
    float32_newton_schulz: None,
) -> None:
    """The one known difference: for a kernel (out, in, kh, kw), pytorch_optimizer scales by
    sqrt(max(1, out / (in kh kw))), the matrix it orthogonalizes; the authors' code by
    sqrt(max(1, kh / kw)) = 1. Conv2d(1, 8, 2) is an 8 x 4 matrix: a factor sqrt(2)."""
    conv = nn.Conv2d(1, 8, 2)
    start = conv.weight.detach().clone()
    optimizer = build_optimizer(muon_cfg(weight_decay=0.0), [conv.weight])
    grad = torch.randn(conv.weight.shape, generator=torch.Generator().manual_seed(3))
    conv.weight.grad = grad.clone()
    optimizer.step()
    theirs = start.clone()
    muon_step(theirs, grad, torch.zeros_like(grad), lr=0.02, momentum=0.95, weight_decay=0.0)
    torch.testing.assert_close(conv.weight.detach() - start, 2**0.5 * (theirs - start))


def test_a_matrix_step_equals_torch_optim_muon() -> None:
    """torch.optim.Muon (2-D parameters only) has the same rule, in bfloat16 too: equal bits."""
    for shape in [(24, 10), (6, 24)]:
        ours = nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(2)))
        twin = nn.Parameter(ours.detach().clone())
        optimizer = build_optimizer(muon_cfg(), [ours])
        reference = torch.optim.Muon(
            [twin], lr=0.02, weight_decay=0.01, momentum=0.95, nesterov=True, ns_steps=5
        )
        generator = torch.Generator().manual_seed(4)
        for _ in range(3):
            grad = torch.randn(shape, generator=generator)
            ours.grad, twin.grad = grad.clone(), grad.clone()
            optimizer.step()
            reference.step()
            assert torch.equal(ours, twin), shape


# ---------------------------------------------------------------------------- the keys

BAD_KEYS = [
    (["optimizer.adamw.betas=[0.9,1.5]"], "optimizer.adamw.betas must be two numbers in [0, 1)"),
    (["optimizer.adamw.lr.output=0"], "optimizer.adamw.lr.output must be > 0"),
    (["+optimizer.adamw.lr.head=0.001"], "optimizer.adamw.lr.head is not a role"),
    (["optimizer.adamw.eps=-1"], "optimizer.adamw.eps must be a number >= 0"),
    (["optimizer.ns_steps=0"], "optimizer.ns_steps must be an integer >= 1"),
    (["optimizer.momentum=1.0"], "optimizer.momentum must be in [0, 1)"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_KEYS, ids=lambda v: str(v))
def test_a_bad_value_is_refused_in_one_line_before_the_run(
    compose_train, capsys, overrides: list[str], message: str
) -> None:
    cfg = compose_train("optimizer=muon", *overrides)
    with pytest.raises(SystemExit) as exit_info:
        run_or_exit(preflight, cfg)
    assert exit_info.value.code == EXIT_BAD_INPUT
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and message in line, line
    assert not Path(cfg.paths.output_dir).exists()


def test_the_file_passes_the_common_checks_and_its_own() -> None:
    check_optimizer(muon_cfg())
    with pytest.raises(ConfigError, match=r"optimizer.adamw.weight_decai is not a key"):
        check_optimizer(muon_cfg(adamw={"weight_decai": 0.1}))


# ---------------------------------------------------------------------------- whole runs


def test_a_run_logs_the_split_and_each_group_s_lr(compose_train, capsys) -> None:
    cfg = compose_train("optimizer=muon", "scheduler=cosine_warmup", "test=false")
    train(cfg)
    start = next(line for line in capsys.readouterr().out.splitlines() if "optimlab:" in line)
    assert "optimizer=muon (lr 0.02)" in start
    assert (
        "groups muon: 3 tensors 60,480 values; adamw:input+output: 2 tensors 990 values, "
        "lr 0.0003; adamw:bias: 5 tensors 236 values, lr 0.0003, wd 0"
    ) in start, start
    scalars = read_scalars(Path(cfg.paths.output_dir) / "tensorboard")
    muon_lr, head_lr = dict(scalars["train/lr"]), dict(scalars["train/lr/adamw:input+output"])
    assert dict(scalars["train/momentum"])[0] == pytest.approx(0.95)
    assert len(muon_lr) == 20  # every step
    for step, lr in muon_lr.items():  # the schedule scales every group alike
        assert head_lr[step] == pytest.approx(lr * 3e-4 / 0.02, rel=1e-5)
    assert muon_lr[1] < muon_lr[10] == pytest.approx(0.02) and muon_lr[19] < muon_lr[10]


def test_a_resumed_run_equals_an_uninterrupted_one(compose_train, tmp_path: Path) -> None:
    """Muon's momentum and AdamW's moments come back from the checkpoint (weights_only)."""
    common = ["optimizer=muon", "scheduler=step", "scheduler.step_size=1", "test=false"]
    straight = compose_train(*common, "trainer.max_epochs=2", output_dir=tmp_path / "straight")
    train(straight)
    half = compose_train(*common, "trainer.max_epochs=1", output_dir=tmp_path / "half")
    train(half)
    resumed = compose_train(
        *common,
        "trainer.max_epochs=2",
        f"ckpt_path={tmp_path / 'half' / 'checkpoints' / 'last.ckpt'}",
        output_dir=tmp_path / "resumed",
    )
    train(resumed)
    final = torch.load(tmp_path / "resumed" / "checkpoints" / "last.ckpt", weights_only=True)
    expected = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)
    assert final["global_step"] == expected["global_step"] == 20
    for key, value in expected["state_dict"].items():
        assert torch.equal(final["state_dict"][key], value), key  # bit for bit on CPU
