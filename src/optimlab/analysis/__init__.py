"""Comparing runs: summary tables (sweeps, compare_runs) and curves from TensorBoard events.

table and results import nothing heavy, so a sweep's summary costs no TensorBoard or
matplotlib import; events and plots are imported by whoever draws.
"""

from optimlab.analysis.results import read_result, sweep_rows
from optimlab.analysis.table import (
    COLUMNS,
    RunRow,
    to_markdown,
    varying_overrides,
    write_csv,
    write_markdown,
)

__all__ = [
    "COLUMNS",
    "RunRow",
    "read_result",
    "sweep_rows",
    "to_markdown",
    "varying_overrides",
    "write_csv",
    "write_markdown",
]
