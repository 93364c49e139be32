"""Throughput benchmark: the bare model step, optimlab's real training path, the classic recipe.

``scripts/benchmark.py`` is the command line; ``run_benchmark`` does the work in one
process, interleaving the repeats of every path so that machine noise hits them alike.
"""

from optimlab.bench.options import BenchOptions
from optimlab.bench.runner import BenchResult, run_benchmark

__all__ = ["BenchOptions", "BenchResult", "run_benchmark"]
