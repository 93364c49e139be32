"""Formulas the tests compare against, written once: learning-rate schedules, and the Muon
and AdamW steps of Muon's authors."""

from __future__ import annotations

import math

import torch


def sgdr_lr(t: int, base_lr: float, *, t0: int = 5, mult: int = 2, eta_min: float = 0.0) -> float:
    """SGDR (cosine_restarts): a cosine from base_lr to eta_min over periods t0, t0*mult, ..."""
    period = t0
    while t >= period:
        t, period = t - period, period * mult
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / period)) / 2


def wsd_lr(
    t: int,
    base_lr: float,
    *,
    run_steps: int,
    warmup_steps: int,
    decay_fraction: float = 0.2,
    final_lr: float = 0.0,
    shape: str = "linear",
) -> float:
    """Warmup-stable-decay over a whole run, as the issue defines it: t/warmup * lr0, then
    lr0 until the last decay_fraction of the run, then a decay to final_lr."""
    if t < warmup_steps:
        return base_lr * t / warmup_steps
    decay_start = run_steps - round(decay_fraction * run_steps)
    if t < decay_start:
        return base_lr
    p = min(1.0, (t - decay_start) / (run_steps - decay_start))
    left = {"linear": 1 - p, "cosine": (1 + math.cos(math.pi * p)) / 2, "sqrt": 1 - math.sqrt(p)}
    return final_lr + (base_lr - final_lr) * left[shape]


# ---------------------------------------------------------------- Muon (Jordan et al. 2024)
# The rule as the authors' repository (github.com/KellerJordan/Muon, muon.py) defines it,
# written out here from its equations: the tests hold pytorch_optimizer.Muon to it.
NEWTON_SCHULZ = (3.4445, -4.7750, 2.0315)  # the quintic's a, b, c


def orthogonalize(matrix: torch.Tensor, steps: int, dtype: torch.dtype) -> torch.Tensor:
    """``steps`` quintic Newton-Schulz iterations X <- aX + (bA + cA²)X, A = XXᵀ, from
    X = G / (‖G‖_F + 1e-7), on the wide orientation of G (transposed back at the end)."""
    a, b, c = NEWTON_SCHULZ
    tall = matrix.size(0) > matrix.size(1)
    x = (matrix.T if tall else matrix).to(dtype)
    x = x / (x.norm() + 1e-7)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def muon_step(
    weight: torch.Tensor,
    grad: torch.Tensor,
    buffer: torch.Tensor,
    *,
    lr: float,
    momentum: float,
    weight_decay: float,
    nesterov: bool = True,
    steps: int = 5,
    dtype: torch.dtype = torch.float32,
) -> None:
    """One Muon step on ``weight`` (and its momentum ``buffer``), in place:
    m <- βm + (1−β)g; u <- NS((1−β)g + βm) (or NS(m)) on the (rows, rest) view;
    w <- (1 − lr λ) w − lr √max(1, g.size(-2)/g.size(-1)) u.

    The shape factor is the authors' as written: the last two sizes of the gradient, so a conv
    kernel's kh/kw, not the rows/columns of the matrix that is orthogonalized."""
    buffer.lerp_(grad, 1 - momentum)
    direction = grad.lerp(buffer, momentum) if nesterov else buffer
    update = orthogonalize(direction.reshape(len(direction), -1), steps, dtype)
    scale = max(1.0, grad.size(-2) / grad.size(-1)) ** 0.5
    weight.mul_(1 - lr * weight_decay)
    weight.add_(update.reshape(weight.shape).to(weight.dtype), alpha=-lr * scale)


def adamw_step(
    weight: torch.Tensor,
    grad: torch.Tensor,
    state: dict[str, torch.Tensor],
    step: int,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
) -> None:
    """The authors' AdamW for the other parameters (MuonWithAuxAdam), step ``step`` >= 1:
    m, v moving averages of g, g²; w <- (1 − lr λ) w − lr m̂ / (√v̂ + ε)."""
    m = state.setdefault("m", torch.zeros_like(weight)).lerp_(grad, 1 - betas[0])
    v = state.setdefault("v", torch.zeros_like(weight)).lerp_(grad.square(), 1 - betas[1])
    m_hat, v_hat = m / (1 - betas[0] ** step), v / (1 - betas[1] ** step)
    weight.mul_(1 - lr * weight_decay)
    weight.add_(m_hat / (v_hat.sqrt() + eps), alpha=-lr)
