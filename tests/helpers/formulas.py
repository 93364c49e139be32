"""Learning-rate formulas the schedule tests compare against, written once."""

from __future__ import annotations

import math


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
