"""Learning-rate formulas the schedule tests compare against, written once."""

from __future__ import annotations

import math


def sgdr_lr(t: int, base_lr: float, *, t0: int = 5, mult: int = 2, eta_min: float = 0.0) -> float:
    """SGDR (cosine_restarts): a cosine from base_lr to eta_min over periods t0, t0*mult, ..."""
    period = t0
    while t >= period:
        t, period = t - period, period * mult
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / period)) / 2
