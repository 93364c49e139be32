"""compare_runs: the table and the figure for every run under a directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from optimlab.analysis.events import load_runs, row_from_events
from optimlab.analysis.plots import plot_runs
from optimlab.analysis.table import (
    RunRow,
    short_override,
    to_markdown,
    varying_overrides,
    write_csv,
)
from optimlab.errors import ConfigError


@dataclass
class Comparison:
    rows: list[RunRow]
    markdown: str  # the printed table
    csv: Path
    figure: Path


def compare(root: Path, out_dir: Path, *, name: str = "comparison") -> Comparison:
    """Read every run under ``root``; write <name>.csv, <name>.md and <name>.png to out_dir."""
    runs = load_runs(root)
    if not runs:
        raise ConfigError(
            f"no TensorBoard event files under {root}; give a run, sweep or outputs/ directory"
        )
    rows = [row_from_events(run) for run in runs]
    shown = varying_overrides(rows)  # the legend names runs by what differs between them
    labels = [" ".join(map(short_override, o)) or r.run for r, o in zip(rows, shown, strict=True)]
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{name}.csv"
    write_csv(rows, csv_path)
    markdown = to_markdown(rows)
    (out_dir / f"{name}.md").write_text(markdown)
    figure = plot_runs(runs, labels, out_dir / f"{name}.png")
    return Comparison(rows=rows, markdown=markdown, csv=csv_path, figure=figure)
