"""One row per run and the three ways it is shown: CSV, Markdown, and a printed table.

The sweep summary (built from result.json files) and scripts/compare_runs.py (built from
TensorBoard event files) share these rows, so both print the very same table.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# CSV header, in the order the table shows the columns
COLUMNS = (
    "run",
    "overrides",
    "metric",
    "best_val",
    "test",
    "final_train_loss",
    "epochs",
    "wall_time_s",
    "status",
)
# Markdown / printed header: the same columns, written for people
TITLES = (
    "run",
    "overrides",
    "metric",
    "best val",
    "test",
    "final train loss",
    "epochs",
    "wall time (s)",
    "status",
)


@dataclass
class RunRow:
    """What one run achieved; None where it is not known (e.g. a run still going)."""

    run: str  # the run directory's name (sweep: <job number>_<overrides>)
    overrides: list[str] = field(default_factory=list)  # every command-line override
    metric: str | None = None  # the optimized metric, e.g. val/acc
    best_val: float | None = None  # its best epoch's value (what best.ckpt scored)
    test: float | None = None  # the matching test metric (test/acc) of best.ckpt
    final_train_loss: float | None = None  # mean training loss of the last epoch
    epochs: int | None = None  # completed epochs
    wall_time_s: float | None = None  # seconds from the run's start to its result
    status: str = "unfinished"  # finished | diverged | unfinished


def matching_test_metric(metric: str | None) -> str | None:
    """test/acc for val/acc: the test counterpart of a validation metric."""
    if not metric or "/" not in metric:
        return None
    return "test/" + metric.split("/", 1)[1].removesuffix("_best")


def varying_overrides(rows: Sequence[RunRow]) -> list[list[str]]:
    """Each row's overrides that differ between the rows (all of them for a single row).

    A sweep repeats its fixed overrides (data paths, epochs) in every job; only the swept
    ones tell the rows apart. Rows whose overrides are unknown (no result yet) take no part.
    """
    parsed = [dict(_split(o) for o in r.overrides) for r in rows if r.overrides]
    if len(parsed) < 2:
        return [list(r.overrides) for r in rows]
    values = {key: {p.get(key) for p in parsed} for key in {k for p in parsed for k in p}}
    return [[o for o in r.overrides if len(values[_split(o)[0]]) > 1] for r in rows]


def _split(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key, value


def short_override(override: str) -> str:
    """optimizer.lr=0.0004352 for optimizer.lr=0.00043517682693808: Optuna's floats, readable.

    The exact values stay in each run's result.json and .hydra/overrides.yaml.
    """
    key, value = _split(override)
    try:
        number = float(value)
    except ValueError:
        return override
    if number.is_integer() and "e" not in value.lower() and "." not in value:
        return override  # 10, not 10.0
    return f"{key}={number:.4g}"


def _number(value: float | int | None, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan / inf: a diverged run
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def cells(row: RunRow, shown_overrides: Iterable[str]) -> list[str]:
    """The row as text cells, in COLUMNS order."""
    return [
        row.run,
        " ".join(short_override(o) for o in shown_overrides),
        row.metric or "-",
        _number(row.best_val, 4),
        _number(row.test, 4),
        _number(row.final_train_loss, 4),
        _number(row.epochs, 0),
        _number(row.wall_time_s, 1),
        row.status,
    ]


def table_cells(rows: Sequence[RunRow]) -> list[list[str]]:
    return [cells(r, shown) for r, shown in zip(rows, varying_overrides(rows), strict=True)]


def write_csv(rows: Sequence[RunRow], path: Path) -> None:
    """CSV with the COLUMNS header; empty cells where a value is unknown."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for line in table_cells(rows):
            writer.writerow(["" if cell == "-" else cell for cell in line])


def to_markdown(rows: Sequence[RunRow]) -> str:
    """A GitHub Markdown table (pipes in cells escaped)."""
    lines = ["| " + " | ".join(TITLES) + " |", "|" + " --- |" * len(TITLES)]
    for line in table_cells(rows):
        lines.append("| " + " | ".join(cell.replace("|", r"\|") for cell in line) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(rows: Sequence[RunRow], path: Path) -> None:
    path.write_text(to_markdown(rows))
