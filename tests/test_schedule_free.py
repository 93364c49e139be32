"""Schedule-free AdamW and SGD: the authors' reference weights, the averaged weights wherever a
run evaluates or saves, BatchNorm statistics refit for them, decaying schedules refused."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import schedulefree
import torch
from omegaconf import OmegaConf
from torch import nn

from helpers import CONF_DIR
from optimlab.callbacks import ScheduleFreeModes
from optimlab.errors import ConfigError
from optimlab.optim import RunLength, build_lr_scheduler, build_optimizer
from optimlab.optim.build import param_groups
from optimlab.runner.preflight import preflight
from optimlab.runner.train import train

REFERENCES = {
    "schedule_free_adamw": schedulefree.AdamWScheduleFreeReference,
    "schedule_free_sgd": schedulefree.SGDScheduleFreeReference,
}


def _config(name: str, **changes: object) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "optimizer" / f"{name}.yaml"))
    rules = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "train.yaml"))["optimizer"]
    return {**cfg, **changes, "param_groups": rules["param_groups"]}


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def _averaged(optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> list[torch.Tensor]:
    """x, read by switching to eval mode and back, as a run does."""
    optimizer.eval()
    weights = [p.detach().clone() for p in params]
    optimizer.train()
    return weights


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_evaluation_weights_match_the_authors_reference_step_by_step(name: str) -> None:
    settings = {"weight_decay": 0.05, "lr": 0.05 if name.endswith("sgd") else 0.01}
    cfg = _config(name, **settings)
    ours_net, ref_net = _net(), _net()
    ours = build_optimizer(cfg, ours_net)  # with the project's groups: no decay on biases
    groups = param_groups(ref_net, cfg["param_groups"], cfg["lr"], cfg["weight_decay"])
    keys = ("lr", "weight_decay", "r", "weight_lr_power", "betas", "eps", "momentum")
    reference = REFERENCES[name](groups, **{k: cfg[k] for k in keys if k in cfg})
    assert len(ours.param_groups) == len(reference.param_groups) == 2
    generator = torch.Generator().manual_seed(1)
    for step in range(25):
        x = torch.randn(16, 6, generator=generator)
        y = torch.randint(0, 3, (16,), generator=generator)
        for optimizer, net in ((ours, ours_net), (reference, ref_net)):
            optimizer.train()
            for group in optimizer.param_groups:  # a 5-step warm-up, as LinearWarmup sets it
                group["lr"] = min(1.0, (step + 1) / 5) * settings["lr"]
            optimizer.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            optimizer.step()
        expected = _averaged(reference, list(ref_net.parameters()))
        got = _averaged(ours, list(ours_net.parameters()))
        for a, b in zip(got, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    moved = _averaged(ours, list(ours_net.parameters()))
    assert not torch.allclose(moved[0], _net()[0].weight)  # it trained


@pytest.mark.parametrize("schedule", ["cosine", "step", "wsd", "one_cycle", "plateau"])
def test_a_decaying_schedule_is_refused_with_the_reason(compose_train, schedule: str) -> None:
    cfg = compose_train("optimizer=schedule_free_adamw", f"scheduler={schedule}")
    with pytest.raises(ConfigError, match=r"schedule-free: .* use scheduler=constant"):
        preflight(cfg)
    optimizer = build_optimizer(_config("schedule_free_adamw"), _net())
    cosine = {"_target_": "optimlab.optim.CosineLR", "interval": "step"}
    with pytest.raises(ConfigError, match="would decay twice"):
        build_lr_scheduler(optimizer, cosine, RunLength(10, 5))


def test_warmup_alone_is_allowed(compose_train) -> None:
    for overrides in (
        ["scheduler=constant", "scheduler.warmup_steps=5"],
        ["scheduler=none"],
    ):
        preflight(compose_train("optimizer=schedule_free_sgd", *overrides))
    sgd = build_optimizer(_config("sgd"), _net())  # other optimizers keep every schedule
    assert build_lr_scheduler(sgd, {"_target_": "optimlab.optim.CosineLR"}, RunLength(10, 5))


def test_validation_checkpoints_and_the_final_model_hold_the_averaged_weights(
    compose_train, tmp_path: Path
) -> None:
    probe = tmp_path / "probe"
    cfg = compose_train(
        "optimizer=schedule_free_adamw",
        "test=false",
        "+callbacks.recorder._target_=helpers.probes.ScheduleFreeRecorder",
        f"+callbacks.recorder.out_dir={probe}",
        "+callbacks.recorder.save_at=15",  # the middle of epoch 2
    )
    train(preflight(cfg))

    # last.ckpt (end of epoch 2) holds what the last validation evaluated: x
    last = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", weights_only=False)
    names = list(last["state_dict"])
    validated = torch.load(probe / "validation.pt")
    for name, weights in zip(names, validated[-1], strict=True):
        assert torch.equal(last["state_dict"][name], weights), name
    assert all(not g["train_mode"] for g in last["optimizer_states"][0]["param_groups"])

    # saved mid-epoch, in train mode, a checkpoint holds x = y + (1 - 1/b1)(z - y), not y
    mid = torch.load(probe / "mid.ckpt", weights_only=False)
    record = torch.load(probe / "mid_y_z.pt")
    for name, y, z in zip(names, record["y"], record["z"], strict=True):
        x = torch.lerp(y, z, 1 - 1 / record["beta"])
        torch.testing.assert_close(mid["state_dict"][name], x, rtol=1e-6, atol=1e-7)
        assert not torch.allclose(mid["state_dict"][name], y)
    assert all(not g["train_mode"] for g in mid["optimizer_states"][0]["param_groups"])
    for before, after in zip(record["y"], record["y_after"], strict=True):
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)  # training goes on at y


def _bn_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def test_batch_norm_statistics_are_refit_for_the_averaged_weights() -> None:
    net = _bn_net()
    optimizer = build_optimizer(_config("schedule_free_adamw", lr=0.05), net)
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.randn(32, 4, generator=generator) + 2.0, torch.zeros(32)) for _ in range(6)]
    optimizer.train()
    net.train()
    for inputs, _ in batches:  # y moves away from x, and the statistics follow y
        optimizer.zero_grad()
        net(inputs).pow(2).mean().backward()
        optimizer.step()
    optimizer.eval()
    net.eval()
    expected = copy.deepcopy(net).train()  # the authors' recipe, by hand, on x
    with torch.no_grad():
        for inputs, _ in batches[:4]:
            expected(inputs)
    before = net[1].running_mean.clone()

    task = L.LightningModule()
    task.net = net
    task.forward = net.forward
    task.eval()  # as Lightning leaves it for validation
    trainer = SimpleNamespace(
        datamodule=SimpleNamespace(train_dataloader=lambda: iter(batches)),
        strategy=SimpleNamespace(batch_to_device=lambda batch: batch),
    )
    rng = torch.get_rng_state()
    ScheduleFreeModes(bn_batches=4).recalibrate_batch_norm(trainer, task)

    assert not net.training  # left in eval mode, as validation expects
    assert torch.equal(torch.get_rng_state(), rng)  # training's random draws untouched
    assert not torch.allclose(net[1].running_mean, before)
    torch.testing.assert_close(net[1].running_mean, expected[1].running_mean)
    torch.testing.assert_close(net[1].running_var, expected[1].running_var)


def test_a_batch_norm_model_trains_and_tests_on_the_averaged_weights(compose_train) -> None:
    cfg = compose_train(
        "optimizer=schedule_free_adamw",
        "model=cnn",
        "model.batch_norm=true",
        "callbacks.schedule_free.bn_batches=3",
    )
    metrics = train(preflight(cfg))
    assert 0.0 <= metrics["test/acc"] <= 1.0


def test_without_the_default_callbacks_the_task_adds_the_mode_switch(compose_train) -> None:
    cfg = compose_train("optimizer=schedule_free_sgd", "~callbacks.schedule_free", "test=false")
    train(preflight(cfg))  # schedulefree refuses to step outside train mode
