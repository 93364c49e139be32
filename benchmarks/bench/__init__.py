"""Throughput benchmark: the bare model step, optimlab's real training path, the classic recipe.

``benchmarks/benchmark.py`` is the command line; ``run_benchmark`` does the work in one
process, interleaving the repeats of every path so that machine noise hits them alike.
It uses optimlab's public API only, and nothing in optimlab imports it: deleting
``benchmarks/`` (and its line in ``.ci/run``) leaves a complete project.
"""

from bench.options import BenchOptions
from bench.runner import BenchResult, run_benchmark

__all__ = ["BenchOptions", "BenchResult", "run_benchmark"]
