"""Weight initialization as a config choice (the ApX CIFAR-10 practice: zeros fails, He learns)."""

from __future__ import annotations

from torch import nn

from optimlab.errors import ConfigError

INIT_SCHEMES = ("default", "he", "xavier", "zeros", "small_normal")


def initialize(module: nn.Module, scheme: str, *, std: float = 0.01) -> None:
    """Re-initialize every conv and linear layer of ``module``; biases start at zero.

    default: PyTorch's own (Kaiming-uniform with a=sqrt(5)); he: Kaiming-normal for ReLU
    (fan_in); xavier: Glorot-uniform; zeros: all zero (symmetric, so it cannot learn);
    small_normal: N(0, std^2), D2L ch. 11's linear-regression init.
    """
    if scheme not in INIT_SCHEMES:
        raise ConfigError(f"unknown init {scheme!r}; choose one of {list(INIT_SCHEMES)}")
    if scheme == "default":
        return
    for layer in module.modules():
        if not isinstance(layer, nn.Conv1d | nn.Conv2d | nn.Linear):
            continue
        if scheme == "he":
            nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
        elif scheme == "xavier":
            nn.init.xavier_uniform_(layer.weight)
        elif scheme == "zeros":
            nn.init.zeros_(layer.weight)
        else:
            nn.init.normal_(layer.weight, mean=0.0, std=std)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
