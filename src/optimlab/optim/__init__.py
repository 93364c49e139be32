"""Optimizers and learning-rate schedules, built from config groups."""

from optimlab.optim.closed_form import (
    ClosedFormLR,
    ConstantLR,
    FactorLR,
    InverseTimeLR,
    PolynomialDecayLR,
    WarmupCosineLR,
    warmup_cosine_lr,
)
from optimlab.optim.lr_schedulers import ScheduleLength, build_lr_scheduler, schedule_length
from optimlab.optim.optimizers import build_optimizer
from optimlab.optim.rmsprop_seed import RMSpropEpsInRoot
from optimlab.optim.schedules import cosine_warmup, metric_mode, one_cycle, reduce_on_plateau
from optimlab.optim.warmup import LinearWarmup

__all__ = [
    "ClosedFormLR",
    "ConstantLR",
    "FactorLR",
    "InverseTimeLR",
    "LinearWarmup",
    "PolynomialDecayLR",
    "RMSpropEpsInRoot",
    "ScheduleLength",
    "WarmupCosineLR",
    "build_lr_scheduler",
    "build_optimizer",
    "cosine_warmup",
    "metric_mode",
    "one_cycle",
    "reduce_on_plateau",
    "schedule_length",
    "warmup_cosine_lr",
]
