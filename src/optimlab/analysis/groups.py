"""Seed groups: runs that differ only in ``seed``, summarized by their mean, spread and a
95% confidence interval of the mean, and shown as one table row (or one figure line) each.

The interval is Student's t: mean ± t(0.975, n-1) · s / √n, with s the sample standard
deviation (n - 1 in its denominator). It says where the mean over *all* seeds plausibly lies
given these n; with 3 seeds t(0.975, 2) = 4.30, so the interval is about 5 standard deviations
wide. Only finished runs count; time to target is the median over them, a run that never
reached the target counting as infinitely slow (so the median is "not reached" once half of
the runs did not reach it).

The sweep summary and scripts/compare_runs.py both group with these functions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from optimlab.analysis.table import (
    RunRow,
    describe_time,
    markdown_lines,
    number,
    short_override,
    to_markdown,
    varying_overrides,
    write_csv_lines,
)

SEED_KEY = "seed"
CONFIDENCE = 0.95
TIME_KEYS = ("step", "epoch", "wall_s")

# CSV header of the group table
GROUP_COLUMNS = (
    "overrides",
    "metric",
    "n",
    "seeds",
    "best_val_mean",
    "best_val_std",
    "best_val_ci95_low",
    "best_val_ci95_high",
    "test_mean",
    "test_std",
    "test_ci95_low",
    "test_ci95_high",
    "status",
)
# added when the runs had a target: how many reached it, and the medians of the time to it
GROUP_TARGET_COLUMNS = (
    "target",
    "reached",
    "time_to_target_step_median",
    "time_to_target_epoch_median",
    "time_to_target_wall_s_median",
)
GROUP_TITLES = (
    "overrides",
    "metric",
    "n",
    "seeds",
    "best val mean",
    "best val std",
    "best val 95% CI",
    "test mean",
    "test std",
    "test 95% CI",
    "status",
)
GROUPS_NOTE = (
    "Seed groups: runs that differ only in `seed`. n finished runs; std is the sample "
    "standard deviation; 95% CI is Student's t interval of the mean (wide for few seeds: "
    "with n = 3 it spans about 5 std)."
)


@dataclass(frozen=True)
class Stats:
    """Mean, sample std and 95% t-interval of some values; None where n is too small."""

    n: int
    mean: float | None = None
    std: float | None = None  # needs n >= 2
    ci_low: float | None = None  # needs n >= 2
    ci_high: float | None = None


def t_quantile(probability: float, df: float) -> float:
    """Student's t quantile, e.g. t(0.975, 2) = 4.303 (scipy: imported only when asked)."""
    from scipy.stats import t

    return float(t.ppf(probability, df))


def describe(values: Sequence[float | None]) -> Stats:
    """Stats of the finite values among ``values`` (None, NaN and inf are left out)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    if n == 0:
        return Stats(n=0)
    mean = statistics.fmean(finite)
    if n == 1:
        return Stats(n=1, mean=mean)
    std = statistics.stdev(finite)
    half = t_quantile(0.5 + CONFIDENCE / 2, n - 1) * std / math.sqrt(n)
    return Stats(n=n, mean=mean, std=std, ci_low=mean - half, ci_high=mean + half)


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with Welch's 95% interval: it excludes 0 when the data resolve it."""

    mean: float
    ci_low: float
    ci_high: float

    @property
    def resolved(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


def welch_difference(a: Sequence[float], b: Sequence[float]) -> Difference | None:
    """Welch's t interval of the difference of two means (unequal variances, the
    Welch-Satterthwaite degrees of freedom); None unless both have 2 or more values.

    Two groups of identical values differ exactly (a zero-width interval).
    """
    first, second = describe(a), describe(b)
    if first.std is None or second.std is None:
        return None
    assert first.mean is not None and second.mean is not None
    va, vb = first.std**2 / first.n, second.std**2 / second.n
    diff = first.mean - second.mean
    if va + vb == 0:
        return Difference(diff, diff, diff)
    df = (va + vb) ** 2 / (va**2 / (first.n - 1) + vb**2 / (second.n - 1))
    half = t_quantile(0.5 + CONFIDENCE / 2, df) * math.sqrt(va + vb)
    return Difference(diff, diff - half, diff + half)


def median_time(times: Sequence[dict[str, float] | None]) -> dict[str, float] | None:
    """The median of each of step, epoch, wall_s; a run that never reached counts as inf.

    None when there are no runs or the median run did not reach the target.
    """
    if not times:
        return None
    medians = {}
    for key in TIME_KEYS:
        values = [math.inf if t is None else float(t[key]) for t in times]
        medians[key] = statistics.median(values)
    return None if math.isinf(medians["step"]) else medians


def group_key(row: RunRow) -> tuple[str, ...]:
    """The run's overrides without ``seed``: runs with the same key differ only in seed.

    A run whose overrides are unknown (no result, no .hydra/) is a group of its own.
    """
    if not row.overrides:
        return (f"<run {row.run}>",)
    return tuple(sorted(o for o in row.overrides if o.split("=", 1)[0] != SEED_KEY))


def group_indices(rows: Sequence[RunRow]) -> list[list[int]]:
    """The rows' indices, grouped by group_key, groups in the order of their first run."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(group_key(row), []).append(index)
    return list(groups.values())


def has_repeats(rows: Sequence[RunRow]) -> bool:
    """Whether some runs differ only in seed (otherwise a group table repeats the runs)."""
    return any(len(g) > 1 for g in group_indices(rows))


def _seed(row: RunRow) -> str | None:
    for override in row.overrides:
        key, _, value = override.partition("=")
        if key == SEED_KEY:
            return value
    return None


@dataclass
class GroupRow:
    """What the seeds of one setting achieved together."""

    runs: list[RunRow]
    overrides: list[str] = field(default_factory=list)  # shared by the runs, seed left out
    metric: str | None = None
    best_val: Stats = field(default_factory=lambda: Stats(n=0))
    test: Stats = field(default_factory=lambda: Stats(n=0))
    target: float | None = None
    reached: int = 0  # finished runs that reached the target
    time_to_target: dict[str, float] | None = None  # median step, epoch, wall_s

    @property
    def n(self) -> int:
        """Finished runs: the ones every statistic is computed from."""
        return len(self.finished)

    @property
    def finished(self) -> list[RunRow]:
        return [r for r in self.runs if r.status == "finished"]

    @property
    def seeds(self) -> list[str]:
        return [s for s in map(_seed, self.runs) if s is not None]

    @property
    def status(self) -> str:
        """'3 finished', or '2 of 3 finished, 1 diverged' when some runs did not finish."""
        counts: dict[str, int] = {}
        for run in self.runs:
            counts[run.status] = counts.get(run.status, 0) + 1
        finished = counts.pop("finished", 0)
        if not counts:
            return f"{finished} finished"
        others = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        return f"{finished} of {len(self.runs)} finished, {others}"


def shared_target(runs: Iterable[RunRow]) -> float | None:
    """The one target the runs share; None when they have none, or several (no comparison)."""
    targets = {r.target for r in runs if r.target is not None}
    return targets.pop() if len(targets) == 1 else None


def summarize_group(runs: Sequence[RunRow]) -> GroupRow:
    """Statistics over the finished runs of one group (time to target: their median)."""
    finished = [r for r in runs if r.status == "finished"]
    target = shared_target(runs)
    times = [r.time_to_target for r in finished if r.target is not None]
    return GroupRow(
        runs=list(runs),
        overrides=[o for o in runs[0].overrides if o.split("=", 1)[0] != SEED_KEY],
        metric=next((r.metric for r in runs if r.metric), None),
        best_val=describe([r.best_val for r in finished]),
        test=describe([r.test for r in finished]),
        target=target,
        reached=sum(t is not None for t in times),
        time_to_target=median_time(times) if target is not None else None,
    )


def group_runs(rows: Sequence[RunRow]) -> list[GroupRow]:
    """One GroupRow per set of runs that differ only in seed, in the order of their first run."""
    return [summarize_group([rows[i] for i in group]) for group in group_indices(rows)]


# ------------------------------------------------------------------ the group table


def group_labels(groups: Sequence[GroupRow]) -> list[list[str]]:
    """Each group's overrides that differ between the groups (what names it in a legend)."""
    return varying_overrides([RunRow(run="", overrides=g.overrides) for g in groups])


def interval_text(stats: Stats) -> str:
    """The 95% interval as ``[low, high]`` (4 decimals), or ``-`` where n is too small."""
    if stats.ci_low is None or stats.ci_high is None:
        return "-"
    return f"[{stats.ci_low:.4f}, {stats.ci_high:.4f}]"


def _time_cell(group: GroupRow) -> str:
    if group.target is None:
        return "-"
    runs = sum(r.target is not None for r in group.finished)
    return f"{describe_time(group.time_to_target)} ({group.reached}/{runs} reached)"


def _cells(group: GroupRow, shown: Sequence[str]) -> list[str]:
    return [
        " ".join(short_override(o) for o in shown),
        group.metric or "-",
        str(group.n),
        " ".join(group.seeds) or "-",
        number(group.best_val.mean, 4),
        number(group.best_val.std, 4),
        interval_text(group.best_val),
        number(group.test.mean, 4),
        number(group.test.std, 4),
        interval_text(group.test),
        group.status,
    ]


def _has_targets(groups: Sequence[GroupRow]) -> bool:
    return any(g.target is not None for g in groups)


def groups_markdown(groups: Sequence[GroupRow]) -> str:
    """The group table in Markdown (a time-to-target column when the runs had a target)."""
    lines = [_cells(g, shown) for g, shown in zip(groups, group_labels(groups), strict=True)]
    if not _has_targets(groups):
        return markdown_lines(GROUP_TITLES, lines)
    titles = [*GROUP_TITLES[:-1], "time to target (median)", GROUP_TITLES[-1]]
    lines = [[*line[:-1], _time_cell(g), line[-1]] for line, g in zip(lines, groups, strict=True)]
    return markdown_lines(titles, lines)


def runs_and_groups_markdown(rows: Sequence[RunRow], groups: Sequence[GroupRow]) -> str:
    """Every run's table, then (after a line saying what the columns mean) the group table."""
    return f"{to_markdown(rows)}\n{GROUPS_NOTE}\n\n{groups_markdown(groups)}"


def _csv_cells(group: GroupRow, shown: Sequence[str], targets: bool) -> list[str]:
    cells = [" ".join(shown), group.metric or "-", str(group.n), " ".join(group.seeds) or "-"]
    for stats in (group.best_val, group.test):
        cells += [number(v, 6) for v in (stats.mean, stats.std, stats.ci_low, stats.ci_high)]
    cells.append(group.status)
    if targets:
        time = group.time_to_target or {}
        runs = sum(r.target is not None for r in group.finished)
        cells += [
            "-" if group.target is None else f"{group.target:g}",
            "-" if group.target is None else f"{group.reached}/{runs}",
            *(f"{time[k]:g}" if k in time else "-" for k in TIME_KEYS),
        ]
    return cells


def write_groups_csv(groups: Sequence[GroupRow], path: Path) -> None:
    """The group table as CSV (exact overrides, CI bounds in two columns, more digits);
    empty cells where a value is undefined."""
    targets = _has_targets(groups)
    header = [*GROUP_COLUMNS, *(GROUP_TARGET_COLUMNS if targets else ())]
    lines = [
        _csv_cells(g, shown, targets) for g, shown in zip(groups, group_labels(groups), strict=True)
    ]
    write_csv_lines(path, header, lines)
