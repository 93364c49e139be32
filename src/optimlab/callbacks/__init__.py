"""Callbacks that the default config adds to every run."""

from optimlab.callbacks.divergence import DivergedError, DivergenceGuard
from optimlab.callbacks.lr_logger import LearningRateLogger

__all__ = ["DivergedError", "DivergenceGuard", "LearningRateLogger"]
