"""Optimizers and learning-rate schedules, built from config groups."""

from optimlab.optim.build import (
    RunLength,
    build_lr_scheduler,
    build_optimizer,
    plan_schedule,
    run_length,
)
from optimlab.optim.rmsprop_eps_in_root import RMSpropEpsInRoot
from optimlab.optim.schedules import (
    ClosedFormLR,
    ConstantLR,
    CosineLR,
    FactorLR,
    InverseTimeLR,
    LinearWarmup,
    PolynomialLR,
    WarmupStableDecayLR,
    one_cycle,
    reduce_on_plateau,
    warmup_cosine_lr,
)

__all__ = [
    "ClosedFormLR",
    "ConstantLR",
    "CosineLR",
    "FactorLR",
    "InverseTimeLR",
    "LinearWarmup",
    "PolynomialLR",
    "RMSpropEpsInRoot",
    "RunLength",
    "WarmupStableDecayLR",
    "build_lr_scheduler",
    "build_optimizer",
    "one_cycle",
    "plan_schedule",
    "reduce_on_plateau",
    "run_length",
    "warmup_cosine_lr",
]
