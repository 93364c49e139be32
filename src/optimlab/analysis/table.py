"""One row per run and the three ways it is shown: CSV, Markdown, and a printed table.

The sweep summary (built from result.json files) and scripts/compare_runs.py (built from
TensorBoard event files) share these rows, so both print the very same table.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
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
# added when a run had a target: its value and when the run first reached it
TARGET_COLUMNS = ("target", "time_to_target_step", "time_to_target_epoch", "time_to_target_wall_s")
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
    target: float | None = None  # the run's target (a value of metric), when it had one
    time_to_target: dict[str, float] | None = None  # {step, epoch, wall_s}; None: not reached


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


def number(value: float | int | None, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan / inf: a diverged run
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def describe_time(time: Mapping[str, float] | None) -> str:
    """'ep 2, step 940, 12.3 s' for a time to target; 'not reached' for None."""
    if time is None:
        return "not reached"
    return f"ep {time['epoch']:g}, step {time['step']:g}, {time['wall_s']:.1f} s"


def has_targets(rows: Iterable[RunRow]) -> bool:
    """Whether any run had a target (the tables then show the time to it)."""
    return any(r.target is not None for r in rows)


def cells(row: RunRow, shown_overrides: Iterable[str]) -> list[str]:
    """The row as text cells, in COLUMNS order."""
    return [
        row.run,
        " ".join(short_override(o) for o in shown_overrides),
        row.metric or "-",
        number(row.best_val, 4),
        number(row.test, 4),
        number(row.final_train_loss, 4),
        number(row.epochs, 0),
        number(row.wall_time_s, 1),
        row.status,
    ]


def table_cells(rows: Sequence[RunRow]) -> list[list[str]]:
    return [cells(r, shown) for r, shown in zip(rows, varying_overrides(rows), strict=True)]


def _target_cells(row: RunRow) -> list[str]:
    """target, step, epoch, wall_s (CSV); empty for a run without a target or not reaching it."""
    if row.target is None:
        return ["", "", "", ""]
    time = row.time_to_target or {}
    return [
        f"{row.target:g}",
        *(number(time.get(k), 3 if k == "wall_s" else 0) for k in ("step", "epoch", "wall_s")),
    ]


def write_csv(rows: Sequence[RunRow], path: Path) -> None:
    """CSV with the COLUMNS header (and TARGET_COLUMNS when a run had a target); empty cells
    where a value is unknown."""
    targets = has_targets(rows)
    header = [*COLUMNS, *(TARGET_COLUMNS if targets else ())]
    lines = table_cells(rows)
    if targets:
        lines = [[*line, *_target_cells(row)] for line, row in zip(lines, rows, strict=True)]
    write_csv_lines(path, header, lines)


def write_csv_lines(path: Path, header: Sequence[str], lines: Iterable[Sequence[str]]) -> None:
    """A CSV file of text cells; "-" (unknown) becomes an empty cell."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for line in lines:
            writer.writerow(["" if cell == "-" else cell for cell in line])


def markdown_lines(titles: Sequence[str], lines: Iterable[Sequence[str]]) -> str:
    """A GitHub Markdown table of text cells (pipes in cells escaped)."""
    out = ["| " + " | ".join(titles) + " |", "|" + " --- |" * len(titles)]
    for line in lines:
        out.append("| " + " | ".join(cell.replace("|", r"\|") for cell in line) + " |")
    return "\n".join(out) + "\n"


def to_markdown(rows: Sequence[RunRow]) -> str:
    """A GitHub Markdown table, one row per run; a time-to-target column when a run had a
    target."""
    if not has_targets(rows):
        return markdown_lines(TITLES, table_cells(rows))
    lines = [
        [*line[:-1], describe_time(r.time_to_target) if r.target is not None else "-", line[-1]]
        for line, r in zip(table_cells(rows), rows, strict=True)
    ]
    return markdown_lines([*TITLES[:-1], "time to target", TITLES[-1]], lines)


def write_markdown(rows: Sequence[RunRow], path: Path) -> None:
    path.write_text(to_markdown(rows))
