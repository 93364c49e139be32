"""Callbacks that the default config adds to every run."""

from optimlab.callbacks.divergence import DivergedError, DivergenceGuard
from optimlab.callbacks.lr_logger import LearningRateLogger
from optimlab.callbacks.progress import ProgressBar
from optimlab.callbacks.schedule_free import ScheduleFreeModes
from optimlab.callbacks.step_scalars import StepScalars, StepScalarWriter, write_rows

__all__ = [
    "DivergedError",
    "DivergenceGuard",
    "LearningRateLogger",
    "ProgressBar",
    "ScheduleFreeModes",
    "StepScalarWriter",
    "StepScalars",
    "write_rows",
]
