"""Hydra callbacks around the runs: a fresh directory for each, a summary at a sweep's end.

Hydra unpickles this module in every worker that runs jobs (joblib's loky processes, SLURM
tasks), which never run train.py's top level; registering the resolvers on import makes
``${run_tag:...}`` and ``${metric_mode:...}`` resolvable there too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, open_dict, read_write

from optimlab.analysis import RunRow, sweep_rows, to_markdown, write_csv
from optimlab.analysis.groups import (
    group_runs,
    has_repeats,
    runs_and_groups_markdown,
    write_groups_csv,
)
from optimlab.runner.resolvers import register_resolvers

register_resolvers()

CLAIM_FILE = ".claimed"  # created exclusively (O_EXCL) by the one process that owns the directory
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")  # set in DDP's other ranks


def claim_directory(path: Path) -> Path:
    """Create ``path`` (or path-2, path-3, ...) exclusively: two runs never share one.

    An existing empty directory counts as free (e.g. one made for the run by a script). The
    claim is a file created with O_EXCL, not the mkdir: a sweep's directory stays empty for
    seconds (joblib workers start, Optuna opens its study), and a second sweep started in the
    same second must not take it for a free one in that time.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 1
    while True:
        candidate.mkdir(exist_ok=True)
        if not any(p.name != CLAIM_FILE for p in candidate.iterdir()):
            try:
                (candidate / CLAIM_FILE).open("x").close()
                return candidate
            except FileExistsError:
                pass  # another process claimed it a moment ago
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")


def ddp_helper_process() -> bool:
    """Whether this process is one of DDP's other ranks (started by Lightning or a cluster).

    Lightning starts rank 1.. as ``train.py <same overrides> hydra.run.dir=<rank 0's dir>``:
    they must use that directory, not claim one of their own.
    """
    return any(os.environ.get(name, "0") not in ("", "0") for name in RANK_VARIABLES)


def _given(config: DictConfig, key: str) -> bool:
    """Whether the user set ``key`` on the command line (then it is used as given)."""
    return any(o.split("=", 1)[0].lstrip("+~") == key for o in config.hydra.overrides.hydra)


class RunGuard(Callback):
    """A directory no other run has (same second or not); runs after Preflight."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if ddp_helper_process():
            return  # rank 0 claimed hydra.run.dir and passed it on the command line
        with read_write(config.hydra), open_dict(config.hydra):
            run_dir = Path(str(config.hydra.run.dir))
            resume = config.get("resume")
            if resume:  # the resumed run sits beside the run it continues
                original = Path(str(resume)).expanduser().resolve()
                run_dir = original.with_name(f"{original.name}_resumed")
            config.hydra.run.dir = str(claim_directory(run_dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if _given(config, "hydra.sweep.dir") or config.get("study"):
            # continuing a sweep (a study always has one directory): finished jobs are
            # skipped (skip_finished), interrupted ones continue from their last checkpoint
            sweep_dir.mkdir(parents=True, exist_ok=True)
            return
        sweep_dir = claim_directory(sweep_dir)
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.sweep.dir = str(sweep_dir)
            # each job's config is composed again from these overrides
            config.hydra.overrides.hydra.append(f"hydra.sweep.dir={sweep_dir}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        summarize_sweep(sweep_dir, config.get("optimized_metric"))
        if config.get("study"):
            from optimlab.study.report import write_study_report  # matplotlib: only when needed

            report = write_study_report([sweep_dir], sweep_dir, config.study)
            print(f"study report: {report}", flush=True)


def summarize_sweep(sweep_dir: Path, metric: str | None) -> list[RunRow]:
    """Print the sweep's table and write it as summary.csv and summary.md in the sweep dir.

    One row per job: run, overrides, best val metric, test metric, final train loss, epochs,
    wall time, status (finished, diverged, or unfinished for a job without a result), and
    the time to target when the jobs had one. Jobs that differ only in seed are also
    summarized together (analysis/groups.py): summary_groups.csv, and a second table in
    summary.md.
    """
    rows = sweep_rows(sweep_dir, metric)
    write_csv(rows, sweep_dir / "summary.csv")
    files = "summary.csv, summary.md"
    markdown = to_markdown(rows)
    if has_repeats(rows):
        groups = group_runs(rows)
        write_groups_csv(groups, sweep_dir / "summary_groups.csv")
        markdown = runs_and_groups_markdown(rows, groups)
        files += ", summary_groups.csv"
    (sweep_dir / "summary.md").write_text(markdown)
    print(f"\nsweep {sweep_dir} ({metric}): {files}")
    print(markdown, flush=True)
    return rows
