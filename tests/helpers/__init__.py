"""Test helpers, imported as `from helpers import ROOT` or `from helpers.fakedata import ...`.

- config: ROOT, CONF_DIR, REAL_FASHION_MNIST and the overrides of a tiny, fast run
- fakedata / fake_images: Fashion-MNIST IDX files, CIFAR-10 batches and image trees to test on
- interrupts / probes / broken: callbacks and models that runs load by `_target_` (crashes,
  kills, rendezvous, a bug)
- runs: one run in-process as train.py runs it (preflight, then training)
- cli: train.py and the scripts as their command lines run them, in a fork of the test
  process (no second import of torch and Lightning)
- tb: read the scalars of a TensorBoard event file
- formulas: learning-rate formulas the schedule tests compare against; the authors' Muon and
  AdamW steps
"""

from helpers.config import (
    CONF_DIR,
    REAL_FASHION_MNIST,
    ROOT,
    cli_overrides,
    fast_overrides,
    sweep_job_overrides,
    tiny_fashion_overrides,
)

__all__ = [
    "CONF_DIR",
    "REAL_FASHION_MNIST",
    "ROOT",
    "cli_overrides",
    "fast_overrides",
    "sweep_job_overrides",
    "tiny_fashion_overrides",
]
