"""Small shared choices of layers, by name, so configs can pick them."""

from __future__ import annotations

from torch import nn

from optimlab.errors import ConfigError

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
}
POOLS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def choose(kind: str, value: str, options: dict[str, type[nn.Module]]) -> type[nn.Module]:
    if value not in options:
        raise ConfigError(f"unknown {kind} {value!r}; choose one of {sorted(options)}")
    return options[value]
