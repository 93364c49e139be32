"""One run in-process, as train.py runs it: the preflight, then the training."""

from __future__ import annotations

from omegaconf import DictConfig

from optimlab.runner import train as runner
from optimlab.runner.preflight import preflight


def train(cfg: DictConfig) -> dict[str, float]:
    """Check ``cfg`` (a resume= config becomes that run's), then fit, test and record it."""
    return runner.train(preflight(cfg))
