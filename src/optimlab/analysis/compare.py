"""compare_runs: the table and the figure for every run under a directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from optimlab.analysis.events import load_runs, row_from_events
from optimlab.analysis.groups import (
    GroupRow,
    group_indices,
    group_labels,
    group_runs,
    groups_markdown,
    has_repeats,
    runs_and_groups_markdown,
    write_groups_csv,
)
from optimlab.analysis.plots import plot_groups
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
    markdown: str  # <name>.md: every run, then the seed groups when there are any
    printed: str  # what the script prints: the group table, or the run table without groups
    csv: Path  # every run
    figure: Path
    groups: list[GroupRow] | None = None  # None: no runs differ only in seed, or --no-group
    groups_csv: Path | None = None


def _label(overrides: list[str], fallback: str) -> str:
    return " ".join(map(short_override, overrides)) or fallback


def compare(
    root: Path, out_dir: Path, *, name: str = "comparison", group: bool = True
) -> Comparison:
    """Read every run under ``root``; write <name>.csv, <name>.md and <name>.png to out_dir.

    With ``group`` (the default), runs that differ only in seed are summarized together
    (<name>_groups.csv, a second table in <name>.md) and drawn as one line with a band.
    """
    runs = load_runs(root)
    if not runs:
        raise ConfigError(
            f"no TensorBoard event files under {root}; give a run, sweep or outputs/ directory"
        )
    rows = [row_from_events(run) for run in runs]
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{name}.csv"
    write_csv(rows, csv_path)
    comparison = Comparison(rows, "", "", csv_path, out_dir / f"{name}.png")
    targets = {(r.metric, r.target) for r in rows if r.metric and r.target is not None}
    target = targets.pop() if len(targets) == 1 else None  # drawn when the runs share one
    if group and has_repeats(rows):
        indices = group_indices(rows)
        groups = group_runs(rows)
        labels = [
            f"{_label(shown, g.runs[0].run)} (n={len(g.runs)})"
            for g, shown in zip(groups, group_labels(groups), strict=True)
        ]
        comparison.groups = groups
        comparison.groups_csv = out_dir / f"{name}_groups.csv"
        write_groups_csv(groups, comparison.groups_csv)
        comparison.markdown = runs_and_groups_markdown(rows, groups)
        comparison.printed = groups_markdown(groups)
        plot_groups([[runs[i] for i in g] for g in indices], labels, comparison.figure, target)
    else:
        shown = varying_overrides(rows)  # the legend names runs by what differs between them
        labels = [_label(o, r.run) for r, o in zip(rows, shown, strict=True)]
        comparison.markdown = comparison.printed = to_markdown(rows)
        plot_groups([[run] for run in runs], labels, comparison.figure, target)
    (out_dir / f"{name}.md").write_text(comparison.markdown)
    return comparison
