"""Hydra callbacks: check every job's config and claim a fresh directory before a run starts.

Hydra unpickles this module in every worker that runs jobs (joblib's loky processes, SLURM
tasks), which never run train.py's top level; registering the resolvers on import makes
``${run_tag:...}`` and ``${metric_mode:...}`` resolvable there too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from optimlab.analysis import RunRow, sweep_rows, to_markdown, write_csv, write_markdown
from optimlab.runner.preflight import ConfigError, preflight
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


def _ddp_in_multirun(config: DictConfig) -> str | None:
    """Lightning's DDP launcher re-runs the command line per rank: with -m, the whole sweep."""
    trainer = config.get("trainer") or {}
    strategy = str(trainer.get("strategy", ""))
    devices = trainer.get("devices", 1)
    launcher = str(config.hydra.launcher.get("_target_", ""))
    count = len(devices) if OmegaConf.is_list(devices) else devices
    several = count in (-1, "auto") or (isinstance(count, int) and count > 1)
    several = several or (trainer.get("num_nodes") or 1) > 1
    spawned = strategy.startswith("ddp") and "spawn" not in strategy and several
    if spawned and "submitit" not in launcher:  # SLURM starts one task per device itself
        return (
            f"trainer.strategy={strategy} with {devices} devices in a multirun (-m) would "
            "start the whole sweep again in every rank; use trainer.strategy=ddp_spawn, "
            "hydra/launcher=slurm, or run the jobs one by one without -m"
        )
    return None


def _sqlite_parent(config: DictConfig) -> None:
    """SQLite creates the study's .db file but not its folder (outputs/optuna/)."""
    storage = config.hydra.sweeper.get("storage")
    if isinstance(storage, str) and storage.startswith("sqlite:///"):
        database = storage.removeprefix("sqlite:///").split("?", 1)[0]
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


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
        jobs = _sweep_job_overrides(config)
        loader = GlobalHydra.instance().config_loader()
        swept = {o.split("=", 1)[0] for o in config.hydra.overrides.task if "," in o}
        try:
            ddp_problem = _ddp_in_multirun(config)
            if ddp_problem:
                raise ConfigError(ddp_problem)
            if jobs is None:  # Optuna & co. pick jobs while running: check the base config
                preflight(config)
            for job in jobs or []:
                try:
                    preflight(loader.load_sweep_config(config, job))
                except ConfigError as error:
                    choice = " ".join(o for o in job if o.split("=", 1)[0] in swept)
                    raise ConfigError(f"{error} (in a sweep job: {choice})") from error
        except ConfigError as error:
            _refuse(error)
        _sqlite_parent(config)
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


def summarize_sweep(sweep_dir: Path, metric: str | None) -> list[RunRow]:
    """Print the sweep's table and write it as summary.csv and summary.md in the sweep dir.

    One row per job: run, overrides, best val metric, test metric, final train loss, epochs,
    wall time, status (finished, diverged, or unfinished for a job without a result).
    """
    rows = sweep_rows(sweep_dir, metric)
    write_csv(rows, sweep_dir / "summary.csv")
    write_markdown(rows, sweep_dir / "summary.md")
    print(f"\nsweep {sweep_dir} ({metric}): summary.csv, summary.md")
    print(to_markdown(rows), flush=True)
    return rows
