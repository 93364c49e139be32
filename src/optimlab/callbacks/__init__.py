"""Callbacks that the default config adds to every run."""

from optimlab.callbacks.lr_logger import LearningRateLogger

__all__ = ["LearningRateLogger"]
