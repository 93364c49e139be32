"""Models: shapes for every data set, init schemes, clipping, and model/data mismatches."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from helpers import CONF_DIR
from helpers.runs import train
from helpers.tb import read_scalars
from optimlab.models import CNN, INIT_SCHEMES, MLP, LeNet, LinearRegression, initialize

CLASSIFIERS = ["lenet", "cnn", "cnn_deep"]
REGRESSORS = ["linear", "mlp"]


def test_every_model_file_is_tested() -> None:
    assert {p.stem for p in (CONF_DIR / "model").glob("*.yaml")} == set(CLASSIFIERS + REGRESSORS)


@pytest.mark.parametrize("shape", [(1, 28), (3, 32)])
@pytest.mark.parametrize("model_cls", [LeNet, CNN])
def test_image_models_take_their_sizes_from_the_data(model_cls, shape) -> None:
    channels, size = shape
    net = model_cls(in_channels=channels, image_size=size, num_classes=7)
    assert net(torch.zeros(5, channels, size, size)).shape == (5, 7)


def test_default_cnn_is_the_apx_cifar10_network() -> None:
    """Keras' summary of the ApX CIFAR-10 practice's model: 896 + 18,496 + 23,050 parameters."""
    net = CNN(in_channels=3, image_size=32, num_classes=10)
    assert sum(p.numel() for p in net.parameters()) == 896 + 18_496 + 23_050
    assert any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in net.modules())


def test_cnn_batch_norm_follows_every_conv() -> None:
    net = CNN(widths=(8, 16, 32), convs_per_block=2, padding=1, batch_norm=True)
    kinds = [type(m) for m in net.features]
    assert kinds.count(nn.Conv2d) == kinds.count(nn.BatchNorm2d) == 6
    for i, kind in enumerate(kinds):
        if kind is nn.Conv2d:
            assert kinds[i + 1] is nn.BatchNorm2d


@pytest.mark.parametrize("model_cls", [LinearRegression, MLP])
def test_regression_models_map_features_to_targets(model_cls) -> None:
    assert model_cls(in_features=5, out_features=1)(torch.zeros(4, 5)).shape == (4, 1)


def test_linear_model_starts_as_d2l_does() -> None:
    torch.manual_seed(0)
    layer = LinearRegression(in_features=2000, out_features=1).linear
    assert layer.weight.std().item() == pytest.approx(0.01, rel=0.1)
    assert torch.count_nonzero(layer.bias) == 0


def _init_stats(scheme: str) -> tuple[nn.Linear, nn.Conv2d]:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(400, 300), nn.Conv2d(16, 32, 5))
    initialize(net, scheme, std=0.02)
    return net[0], net[1]


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
def test_init_gives_the_expected_weight_statistics(scheme: str) -> None:
    linear, conv = _init_stats(scheme)
    for layer, fan_in, fan_out in ((linear, 400, 300), (conv, 16 * 25, 32 * 25)):
        std = layer.weight.std().item()
        expected = {
            "default": math.sqrt(1 / (3 * fan_in)),  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            "he": math.sqrt(2 / fan_in),
            "xavier": math.sqrt(2 / (fan_in + fan_out)),
            "zeros": 0.0,
            "small_normal": 0.02,
        }[scheme]
        assert std == pytest.approx(expected, rel=0.1, abs=1e-12), layer
        if scheme != "default":
            assert torch.count_nonzero(layer.bias) == 0


def test_unknown_init_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        LeNet(init="glorot")


@pytest.mark.parametrize("model", CLASSIFIERS)
def test_every_classifier_trains_on_image_data(compose_train, model: str) -> None:
    cfg = compose_train(
        f"model={model}",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.max_epochs=1",
        "test=false",
    )
    assert math.isfinite(train(cfg)["train/loss_epoch"])


@pytest.mark.parametrize("model", REGRESSORS)
def test_every_regressor_trains_on_airfoil(compose_train, model: str) -> None:
    cfg = compose_train(
        "datamodule=airfoil", f"model={model}", "trainer.max_epochs=1", "test=false"
    )
    assert math.isfinite(train(cfg)["train/loss_epoch"])


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (
            ["datamodule=airfoil", "model=lenet"],
            ["LeNet is a classification model", "model=linear"],
        ),
        (["model=mlp"], ["MLP is a regression model", "model=lenet"]),
    ],
)
def test_a_model_that_does_not_fit_the_data_is_refused(compose_train, overrides, words) -> None:
    cfg = compose_train(*overrides)
    with pytest.raises(ValueError) as error:
        train(cfg)
    for word in words:
        assert word in str(error.value)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()


def test_zeros_cannot_learn_and_he_can(compose_train) -> None:
    """The ApX CIFAR-10 practice's initialization experiment on tiny images (chance is 0.1)."""
    accuracy = {}
    for scheme in ("zeros", "he"):
        cfg = compose_train(
            f"model.init={scheme}", "optimizer=adam", "optimizer.lr=0.003", "trainer.max_epochs=3"
        )
        accuracy[scheme] = train(cfg)["test/acc"]
    assert accuracy["zeros"] < 0.2
    assert accuracy["he"] > 0.6


class GradientProbe(L.Callback):
    """The gradient norm and largest entry the optimizer actually used (after clipping)."""

    def __init__(self) -> None:
        self.norms: list[float] = []
        self.largest: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        self.norms.append(torch.nn.utils.get_total_norm(grads).item())
        self.largest.append(max(g.abs().max().item() for g in grads))


@pytest.mark.parametrize(("algorithm", "limit"), [("norm", 0.05), ("value", 0.001)])
def test_clipping_bounds_the_gradient_and_the_raw_norm_is_logged(
    compose_train, algorithm: str, limit: float
) -> None:
    cfg = compose_train(
        f"trainer.gradient_clip_val={limit}",
        f"trainer.gradient_clip_algorithm={algorithm}",
        "+callbacks.probe._target_=test_models.GradientProbe",
        "trainer.max_epochs=1",
        "test=false",
    )
    import optimlab.runner.train as build

    probes: list[GradientProbe] = []
    original = build.instantiate_all

    def keep_probe(group):
        made = original(group)
        probes.extend(c for c in made if isinstance(c, GradientProbe))
        return made

    build.instantiate_all = keep_probe
    try:
        train(cfg)
    finally:
        build.instantiate_all = original
    (probe,) = probes
    if algorithm == "norm":
        assert max(probe.norms) <= limit * (1 + 1e-4)
    else:
        assert max(probe.largest) <= limit * (1 + 1e-6)
    raw = [v for _, v in read_scalars(Path(cfg.paths.output_dir))["train/grad_norm"]]
    assert len(raw) == 10 and max(raw) > limit  # logged before clipping


@pytest.mark.parametrize(
    "dtypes", [(torch.float32,) * 3, (torch.float32, torch.float64, torch.bfloat16)]
)
def test_the_logged_gradient_norm_is_get_total_norms(dtypes) -> None:
    """The fused path (one dtype) and the fallback (mixed dtypes) agree with torch's."""
    from optimlab.tasks.fast_steps import total_norm

    generator = torch.Generator().manual_seed(0)
    tensors = [
        torch.randn(n, generator=generator).to(d) for n, d in zip((3, 50, 7), dtypes, strict=True)
    ]
    expected = torch.nn.utils.get_total_norm(tensors, norm_type=2.0)
    assert total_norm(tensors).item() == pytest.approx(expected.item(), rel=1e-6)
