"""study.md, study.csv and the figures: what a study found, written from its runs.

The report answers the study's question the way optimizer benchmarks do: each variant at its
own best learning rate (chosen on validation, never on test), its test metric with a 95%
interval over the seeds, whether the best variant's lead is larger than that spread (Welch's
interval of the difference), how much the result depends on the lr, and how soon each
variant reached the target.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from optimlab.analysis.groups import Difference, Stats, interval_text, welch_difference
from optimlab.analysis.table import markdown_lines, number, write_csv_lines
from optimlab.errors import ConfigError
from optimlab.metrics import metric_mode
from optimlab.runner import provenance
from optimlab.study.figures import plot_best_curves, plot_profile, plot_sensitivity
from optimlab.study.grid import Cell, StudyRun, best_cells, cells, read_runs, study_metric
from optimlab.study.profile import ratios
from optimlab.study.settings import StudySettings, saved_name

CSV_COLUMNS = (
    "workload",
    "variant",
    "lr_scale",
    "lr",
    "chosen",
    "runs",
    "finished",
    "diverged",
    "final_val_mean",
    "final_val_std",
    "best_val_mean",
    "best_val_std",
    "test_mean",
    "test_std",
    "test_ci95_low",
    "test_ci95_high",
    "target",
    "reached",
    "time_to_target_step_median",
    "time_to_target_epoch_median",
    "time_to_target_wall_s_median",
)
REPORT = "study.md"


def _unique(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _csv_row(cell: Cell, chosen: bool) -> list[str]:
    time = cell.time_to_target or {}
    target = cell.target
    cells_ = [
        cell.workload,
        cell.variant,
        f"{cell.lr_scale:g}",
        number(cell.lr, 6),
        "yes" if chosen else "",
        str(len(cell.runs)),
        str(len(cell.finished)),
        str(cell.diverged),
    ]
    for stats in (cell.final_val, cell.best_val):
        cells_ += [number(stats.mean, 6), number(stats.std, 6)]
    test = cell.test
    cells_ += [number(v, 6) for v in (test.mean, test.std, test.ci_low, test.ci_high)]
    cells_ += [
        "" if target is None else f"{target:g}",
        "" if target is None else f"{cell.reached}/{len(cell.finished)}",
        *(f"{time[k]:g}" if k in time else "" for k in ("step", "epoch", "wall_s")),
    ]
    return [c if c != "-" else "" for c in cells_]


def _mean_std(stats: Stats, digits: int = 4) -> str:
    if stats.mean is None:
        return "-"
    if stats.std is None:
        return number(stats.mean, digits)
    return f"{stats.mean:.{digits}f} ± {stats.std:.{digits}f}"


def _time(cell: Cell) -> str:
    if cell.target is None:
        return "-"
    reached = f"{cell.reached}/{len(cell.finished)} reached"
    time = cell.time_to_target
    if time is None:
        return f"not reached ({reached})"
    return f"epoch {time['epoch']:g}, {time['wall_s']:.0f} s ({reached})"


def _lr(lr: float | None) -> str:
    return "-" if lr is None else f"{lr:.3g}"


def _edge(cell: Cell, scales: Sequence[float]) -> str:
    """A chosen lr at the end of the grid: the best may lie beyond it."""
    if len(scales) < 2:
        return ""
    if cell.lr_scale == min(scales):
        return " (grid's lowest)"
    if cell.lr_scale == max(scales):
        return " (grid's highest)"
    return ""


def _ranked(best: Sequence[Cell], mode: str) -> list[Cell]:
    def key(cell: Cell) -> float:
        mean = cell.test.mean
        if mean is None:
            return math.inf
        return -mean if mode == "max" else mean

    return sorted(best, key=key)


def _best_table(ranked: Sequence[Cell], grid: Sequence[Cell], scales: Sequence[float]) -> str:
    titles = (
        "variant",
        "chosen lr (× default)",
        "best val (mean ± std)",
        "test (mean ± std)",
        "test 95% CI",
        "n",
        "time to target (median)",
        "diverged at",
    )
    lines = []
    for cell in ranked:
        lines.append(
            [
                cell.variant,
                f"{_lr(cell.lr)} (×{cell.lr_scale:g}){_edge(cell, scales)}",
                _mean_std(cell.best_val),
                _mean_std(cell.test),
                interval_text(cell.test),
                str(len(cell.finished)),
                _time(cell),
                _diverged_scales(grid, cell.workload, cell.variant),
            ]
        )
    return markdown_lines(titles, lines)


def _diverged_scales(all_cells: Sequence[Cell], workload: str, variant: str) -> str:
    scales = [
        f"×{c.lr_scale:g}"
        for c in all_cells
        if c.workload == workload and c.variant == variant and c.diverged
    ]
    return ", ".join(scales) or "-"


def _finding_lines(ranked: Sequence[Cell], mode: str) -> list[str]:
    """The best variant, and which others its lead over is (or is not) resolved by the seeds."""
    scored = [c for c in ranked if c.test.mean is not None]
    if not scored:
        return ["- No variant finished a run: nothing to compare."]
    leader = scored[0]
    lead = [r.row.test for r in leader.finished if r.row.test is not None]
    tied, behind, unknown = [], [], []
    for cell in scored[1:]:
        other = [r.row.test for r in cell.finished if r.row.test is not None]
        difference = welch_difference(lead, other)
        if difference is None:
            unknown.append(cell.variant)
        elif difference.resolved:
            behind.append((cell.variant, difference))
        else:
            tied.append((cell.variant, difference))
    worse = "lower" if mode == "max" else "higher"
    lines = [
        f"- **Best test mean: {leader.variant}** ({_mean_std(leader.test)}, n = "
        f"{len(leader.finished)}, at lr {_lr(leader.lr)})."
    ]
    if tied:
        lines.append(
            f"- **No difference the seeds resolve** between {leader.variant} and: "
            + ", ".join(f"{v} ({_signed(d)})" for v, d in tied)
            + f". In brackets: its test mean minus {leader.variant}'s, with Welch's 95% "
            "interval; it includes 0."
        )
    if behind:
        lines.append(
            f"- **Resolved: {worse} than {leader.variant}**: "
            + ", ".join(f"{v} ({_signed(d)})" for v, d in behind)
            + ". Their interval excludes 0."
        )
    if unknown:
        lines.append(f"- Too few finished seeds to compare: {', '.join(unknown)}.")
    return lines


def _signed(difference: Difference) -> str:
    return (
        f"{-difference.mean:+.4f}, 95% CI [{-difference.ci_high:+.4f}, {-difference.ci_low:+.4f}]"
    )


def _status_counts(runs: Sequence[StudyRun]) -> str:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.row.status] = counts.get(run.row.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _sensitivity_table(all_cells: Sequence[Cell], workload: str, variants: Sequence[str]) -> str:
    scales = sorted({c.lr_scale for c in all_cells if c.workload == workload})
    by_key = {(c.variant, c.lr_scale): c for c in all_cells if c.workload == workload}
    lines = []
    for variant in variants:
        row = [variant]
        for scale in scales:
            cell = by_key.get((variant, scale))
            if cell is None:
                row.append("")
            elif cell.diverged:
                row.append(f"diverged ({cell.diverged}/{len(cell.runs)})")
            else:
                row.append(_mean_std(cell.final_val, 3))
        lines.append(row)
    return markdown_lines(("variant", *(f"×{s:g}" for s in scales)), lines)


def _provenance(runs: Sequence[StudyRun]) -> list[str]:
    commits = _unique([r.commit or "not recorded" for r in runs if r.row.status != "unfinished"])
    machines = _unique([r.machine for r in runs if r.machine])
    lines = [f"- Runs measured at commit {', '.join(f'`{c}`' for c in commits) or '-'}."]
    if machines:
        lines.append(f"- Machine: {'; '.join(machines)}.")
    lines.append(
        f"- Report written {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} at commit "
        f"`{provenance.commit() or 'unknown'}` on {platform.node() or 'this machine'}."
    )
    return lines


def _metrics_line(metrics: Mapping[str, str]) -> str:
    def one(metric: str) -> str:
        return f"`{metric}` ({'higher' if metric_mode(metric) == 'max' else 'lower'} is better)"

    if len(set(metrics.values())) == 1:
        return one(next(iter(metrics.values())))
    return ", ".join(f"{workload}: {one(metric)}" for workload, metric in metrics.items())


def _regenerate_lines(study_dirs: Sequence[Path], command: str | None) -> list[str]:
    """How to get this report again: each study's own command (which also runs what is
    missing), and the command that wrote this copy when it was not the study itself."""
    names = [saved_name(d) for d in study_dirs]
    lines = [
        f"- Run or continue: `python train.py -m study={name}` (skips finished jobs, continues "
        "an interrupted one, rewrites the report in its directory)."
        for name in names
        if name
    ]
    if command:
        lines.append(f"- This report: `{command}` (from the runs alone).")
    return lines


def _grid_line(runs: Sequence[StudyRun], variants: Sequence[str], workloads: Sequence[str]) -> str:
    scales = sorted({r.lr_scale for r in runs})
    seeds = _unique(
        [o.split("=", 1)[1] for r in runs for o in r.row.overrides if o.startswith("seed=")]
    )
    epochs = _unique([r.row.epochs for r in runs if r.row.status == "finished"])
    target = _unique([r.row.target for r in runs if r.row.target is not None])
    parts = [
        f"{len(variants)} variants × {len(scales)} lr scales "
        f"({', '.join(f'{s:g}' for s in scales)}) × {len(seeds) or 1} seeds "
        f"({', '.join(seeds) or 'the config default'})"
        + (f" × {len(workloads)} workloads" if len(workloads) > 1 else ""),
        f"{len(runs)} runs: {_status_counts(runs)}",
        f"epochs per run: {', '.join(map(str, epochs)) or '-'}",
    ]
    if target:
        parts.append(f"target: {', '.join(f'{t:g}' for t in target)}")
    return "- Grid: " + "; ".join(parts) + "."


def _profile_section(
    best: Sequence[Cell],
    variants: Sequence[str],
    workloads: Sequence[str],
    settings: StudySettings,
    out_dir: Path,
) -> list[str]:
    times = profile_times(best, settings.profile_time)
    if not any(math.isfinite(t) for by_variant in times.values() for t in by_variant.values()):
        return ["No variant reached a target on any workload: no profile to draw."]
    figure = plot_profile(
        times, variants, settings.profile_max_tau, settings.profile_time, out_dir / "profile.png"
    )
    table = ratios(times)
    lines = [
        [
            variant,
            *(
                _ratio_cell(times[w].get(variant, math.inf), table[w].get(variant, math.inf))
                for w in workloads
            ),
        ]
        for variant in variants
    ]
    return [
        f"Time to target: the median `{settings.profile_time}` of the seeds at each variant's "
        "chosen lr. A cell is that time and its ratio r to the workload's fastest variant; "
        "the profile is the fraction of workloads with r ≤ τ.",
        "",
        f"![performance profile]({figure.name})",
        "",
        markdown_lines(("variant", *workloads), lines),
    ]


def _ratio_cell(time: float, ratio: float) -> str:
    if not math.isfinite(time):
        return "not reached"
    return f"{time:.4g} (r = {ratio:.2f})"


def profile_times(best: Sequence[Cell], key: str) -> dict[str, dict[str, float]]:
    """workload -> variant -> median time to target at the chosen lr (inf: not reached)."""
    times: dict[str, dict[str, float]] = {}
    for cell in best:
        time = cell.time_to_target
        times.setdefault(cell.workload, {})[cell.variant] = float(time[key]) if time else math.inf
    return times


def write_study_report(
    study_dirs: Sequence[Path],
    out_dir: Path,
    settings: StudySettings | Mapping[str, Any],
    *,
    command: str | None = None,
) -> Path:
    """Read every job under ``study_dirs``; write study.md, study.csv and the PNGs to out_dir.

    Several directories make one report whose workloads are the directories (or the values
    of ``workload_key``): the performance profile is drawn when there are two or more.
    """
    if not isinstance(settings, StudySettings):
        settings = StudySettings.from_config(settings)
    runs = read_runs(study_dirs, settings)
    if not runs:
        raise ConfigError(
            f"no study jobs in {', '.join(map(str, study_dirs))}: run python train.py -m "
            "study=<name> first"
        )
    grid = cells(runs)
    workloads = _unique([c.workload for c in grid])
    # each workload its own metric (val/acc here, val/loss there): its direction picks the lr
    metrics = {
        w: study_metric([r for r in runs if r.workload == w]) or "val/acc" for w in workloads
    }
    best = [
        cell
        for w in workloads
        for cell in best_cells([c for c in grid if c.workload == w], metrics[w])
    ]
    variants = _unique([c.variant for c in grid])
    out_dir.mkdir(parents=True, exist_ok=True)

    chosen = {id(c) for c in best}
    write_csv_lines(
        out_dir / "study.csv", CSV_COLUMNS, [_csv_row(c, id(c) in chosen) for c in grid]
    )
    lr_grid = len({c.lr_scale for c in grid}) > 1  # one lr: no sensitivity to show
    if lr_grid:
        plot_sensitivity(grid, best, variants, metrics, out_dir / "lr_sensitivity.png")

    lines = [f"# Study: {settings.name}", ""]
    if settings.question:
        lines += [f"**Question.** {settings.question}", ""]
    lines += [
        *_regenerate_lines(study_dirs, command),
        _grid_line(runs, variants, workloads),
        f"- Metric: {_metrics_line(metrics)}. The lr of a variant is chosen by its mean "
        "best-validation value over seeds, among the lrs where no seed diverged; the test "
        "metric is reported at that lr only.",
        *_provenance(runs),
        "",
    ]
    for workload in workloads:
        metric = metrics[workload]
        mode = metric_mode(metric)
        mine = [c for c in best if c.workload == workload]
        ranked = _ranked(mine, mode)
        scales = sorted({c.lr_scale for c in grid if c.workload == workload})
        table = _best_table(ranked, grid, scales)
        target = next((c.target for c in mine if c.target is not None), None)
        curves = plot_best_curves(
            ranked,
            (metric, target) if target is not None else None,
            out_dir
            / (f"curves_{_file_part(workload)}.png" if len(workloads) > 1 else "curves.png"),
        )
        heading = f"## {workload}: each" if len(workloads) > 1 else "## Each"
        lines += [
            f"{heading} variant at its chosen learning rate",
            "",
            table,
            "",
            "### What the numbers support",
            "",
            *_finding_lines(ranked, mode),
            "- A variant's chosen lr marked as the grid's lowest or highest may do better "
            "beyond the grid.",
            "- Each comparison holds at 95% on its own: among many, about 1 in 20 can look "
            "resolved by chance, and the chosen lr was picked on validation with these seeds.",
            "- The intervals are over seeds at fixed data and code: they say nothing about other "
            "models, data sets, epoch budgets or lr grids, and n seeds bound how small a "
            "difference can be resolved.",
            "",
        ]
        if lr_grid:
            lines += [
                f"### Learning-rate sensitivity: final `{metric}` (mean ± std over seeds)",
                "",
                _sensitivity_table(grid, workload, variants),
                "",
            ]
        lines += [
            "### Training curves at the chosen lr",
            "",
            f"![training curves]({curves.name})",
            "",
        ]
    if lr_grid:
        lines += [
            "## Learning-rate sensitivity",
            "",
            "![learning-rate sensitivity](lr_sensitivity.png)",
            "",
        ]
    if len(workloads) > 1:
        lines += [
            "## Performance profile",
            "",
            *_profile_section(best, variants, workloads, settings, out_dir),
            "",
        ]
    report = out_dir / REPORT
    report.write_text("\n".join(lines))
    return report


def _file_part(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
