"""Hydra callbacks: check every job's config and claim a fresh directory before a run starts."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from optimlab.runner.preflight import ConfigError, preflight
from optimlab.runner.train import read_result


def claim_directory(path: Path) -> Path:
    """Create ``path`` (or path-2, path-3, ...) exclusively: two runs never share one.

    An existing empty directory counts as free (e.g. one made for the run by a script).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            if candidate.is_dir() and not any(candidate.iterdir()):
                return candidate
            n += 1
            candidate = path.with_name(f"{path.name}-{n}")


def _given(config: DictConfig, key: str) -> bool:
    """Whether the user set ``key`` on the command line (then it is used as given)."""
    return any(o.split("=", 1)[0].lstrip("+~") == key for o in config.hydra.overrides.hydra)


def _sweep_job_overrides(config: DictConfig) -> list[list[str]] | None:
    """Every job's overrides for Hydra's basic sweeper; None for other sweepers."""
    sweeper = str(config.hydra.sweeper.get("_target_", ""))
    if not sweeper.endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    parsed = OverridesParser.create().parse_overrides(overrides=overrides)  # type: ignore[arg-type]
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def _refuse(error: ConfigError) -> None:
    print(f"error: {error}", file=sys.stderr, flush=True)
    sys.exit(2)


class RunGuard(Callback):
    """Preflight checks, then a directory no other run has (same second or not)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            preflight(config)
        except ConfigError as error:
            _refuse(error)
        with read_write(config.hydra), open_dict(config.hydra):
            run_dir = Path(str(config.hydra.run.dir))
            resume = config.get("resume")
            if resume:  # the resumed run sits beside the run it continues
                original = Path(str(resume)).expanduser().resolve()
                run_dir = original.with_name(f"{original.name}_resumed")
            config.hydra.run.dir = str(claim_directory(run_dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = _sweep_job_overrides(config)
        loader = GlobalHydra.instance().config_loader()
        swept = {o.split("=", 1)[0] for o in config.hydra.overrides.task if "," in o}
        try:
            if jobs is None:
                preflight(config)
            for job in jobs or []:
                try:
                    preflight(loader.load_sweep_config(config, job))
                except ConfigError as error:
                    choice = " ".join(o for o in job if o.split("=", 1)[0] in swept)
                    raise ConfigError(f"{error} (in a sweep job: {choice})") from error
        except ConfigError as error:
            _refuse(error)
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if _given(config, "hydra.sweep.dir"):
            # continuing a sweep: finished jobs are skipped (skip_finished), the rest run
            sweep_dir.mkdir(parents=True, exist_ok=True)
            return
        sweep_dir = claim_directory(sweep_dir)
        with read_write(config.hydra), open_dict(config.hydra):
            config.hydra.sweep.dir = str(sweep_dir)
            # each job's config is composed again from these overrides
            config.hydra.overrides.hydra.append(f"hydra.sweep.dir={sweep_dir}")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        summarize_sweep(Path(str(config.hydra.sweep.dir)), config.get("optimized_metric"))


def summarize_sweep(sweep_dir: Path, metric: str | None) -> list[dict[str, Any]]:
    """Print and write summary.csv: one row per job with its status and optimized metric."""
    rows = []
    for job_dir in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and p.name[0].isdigit()):
        result = read_result(job_dir) or {"status": "unfinished", "metrics": {}}
        value = result.get("metrics", {}).get(metric) if metric else None
        rows.append({"job": job_dir.name, "status": result["status"], "metric": value})
    rows.sort(key=lambda r: int(r["job"].split("_", 1)[0]))
    with (sweep_dir / "summary.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["job", "status", "metric"])
        writer.writeheader()
        writer.writerows(rows)
    width = max([len(r["job"]) for r in rows] + [3])
    print(f"\nsweep {sweep_dir} ({metric})")
    for row in rows:
        shown = f"{row['metric']:.4f}" if isinstance(row["metric"], float) else "-"
        print(f"  {row['job']:<{width}}  {row['status']:<10}  {shown}")
    return rows
