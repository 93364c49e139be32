"""An Optuna search as a Hydra sweep: each trial is an ordinary run, launched by Hydra's
launcher (in this process, side by side with hydra/launcher=parallel, or on SLURM).

Optuna's own loop (``study.optimize``) asks for each trial, so ``n_jobs`` threads each run
one trial after another: a finished trial frees its slot at once, with no batch to wait for,
and the study's heartbeat marks the trials of a process that died. What became of a run is
read from its result.json (finished, diverged, pruned), the one record every run writes.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from optimlab.config import to_plain
from optimlab.errors import ConfigError
from optimlab.runner.result_file import DIVERGED, PRUNED, read_result
from optimlab.search.pruning import LOCAL_TRIALS, TRIAL_VARIABLE, trial_reference
from optimlab.search.space import SearchSpace, parse_space
from optimlab.search.storage import (
    check_space_matches,
    claim_trial,
    fail_dead_local_trials,
    open_storage,
    open_study,
    sqlite_file,
)

log = logging.getLogger(__name__)
RESULTS_FILE = "optimization_results.yaml"  # the sweep's best trial, next to summary.md
IN_PROCESS_LAUNCHERS = ("BasicLauncher",)
DEFAULT_STUDY_NAME = (
    "optimlab"  # hydra.sweeper.study_name: null  # run jobs in this process: one at a time
)


class RunDiverged(Exception):
    """A trial's run diverged: recorded FAIL, and the search goes on (it is a result)."""


class JobFailed(Exception):
    """A trial's run raised: recorded FAIL; stops the search past ``max_failure_rate``."""


@dataclass
class SearchSettings:
    """``hydra.sweeper``'s keys (conf/hydra/sweeper/optuna.yaml says what each means)."""

    sampler: dict[str, Any]
    pruner: dict[str, Any]
    direction: str
    storage: str | None
    study_name: str | None
    n_trials: int
    n_jobs: int
    max_failure_rate: float
    heartbeat_interval: int | None
    grace_period: int | None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, sweeper: Any) -> SearchSettings:
        """From hydra.sweeper (or the keyword arguments Hydra built the sweeper with)."""
        return cls(
            **{
                key: to_plain(value) if isinstance(value, DictConfig) else value
                for key, value in sweeper.items()
                if not key.startswith("_")
            }
        )

    def __post_init__(self) -> None:
        if not isinstance(self.direction, str) or self.direction not in ("minimize", "maximize"):
            raise ConfigError(
                f"hydra.sweeper.direction={self.direction} must be minimize or maximize "
                "(one objective: optimized_metric)"
            )
        if int(self.n_trials) < 1:
            raise ConfigError(f"hydra.sweeper.n_trials={self.n_trials} must be at least 1")
        if not 0 <= float(self.max_failure_rate) <= 1:
            raise ConfigError(
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate} must be in [0, 1]"
            )


class OptunaSearch:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = SearchSettings.from_config(settings)
        self.config: DictConfig | None = None
        self.launcher: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        settings = self.settings
        space = parse_space(settings.params, arguments)
        if not space.distributions:
            raise ConfigError(
                "the search space is empty: give hydra.sweeper.params, or a range on the "
                "command line, e.g. 'optimizer.lr=tag(log,interval(1e-4,1e-1))'"
            )
        storage = open_storage(settings.storage, settings.heartbeat_interval, settings.grace_period)
        study = open_study(
            settings.study_name or DEFAULT_STUDY_NAME,
            storage,
            build_sampler(settings.sampler, space),
            build_pruner(settings.pruner),
            settings.direction,
        )
        earlier = len(study.trials)
        killed = fail_dead_local_trials(study)
        where = settings.storage or "memory"
        log.info(
            f"study {study.study_name} ({where}): "
            + (f"continuing after {earlier} trials" if earlier else "new")
            + (f"; trials {killed} were killed mid-run: marked failed" if killed else "")
        )
        runner = TrialRunner(self, space, study)
        study.optimize(
            runner.objective,
            n_trials=int(settings.n_trials),
            n_jobs=self._concurrency(),
            catch=(RunDiverged, JobFailed) if settings.max_failure_rate > 0 else (RunDiverged,),
            callbacks=[runner.stop_past_failure_rate],
        )
        write_results(study, Path(str(self.config.hydra.sweep.dir)), runner.numbers)
        return [runner.returns]

    def _concurrency(self) -> int:
        """Trials at once: n_jobs, but one for a launcher that runs jobs in this process."""
        n_jobs = int(self.settings.n_jobs)
        if n_jobs < 1:  # joblib's -1: one per core
            n_jobs = os.cpu_count() or 1
        if n_jobs > 1 and type(self.launcher).__name__ in IN_PROCESS_LAUNCHERS:
            log.warning(
                f"hydra.sweeper.n_jobs={n_jobs}: the basic launcher runs one job at a time; "
                "add hydra/launcher=parallel to run trials side by side"
            )
            return 1
        return n_jobs


class TrialRunner:
    """One trial = one launched run; thread-safe, as ``n_jobs`` threads share it."""

    def __init__(self, search: OptunaSearch, space: SearchSpace, study: optuna.Study) -> None:
        self.search = search
        self.space = space
        self.study = study
        self.returns: list[JobReturn] = []
        self.numbers: list[int] = []  # this invocation's trials
        self.errors = 0
        self._lock = threading.Lock()

    def objective(self, trial: optuna.Trial) -> float | None:
        claim_trial(trial)
        with self._lock:
            self.numbers.append(trial.number)
        params = {key: suggest(trial, key, d) for key, d in self.space.distributions.items()}
        settings = self.search.settings
        # the run finds its trial through this (optimlab.search.pruning); _trial_id is how
        # Optuna itself names a trial to its storage
        reference = trial_reference(settings.storage, self.study.study_name, trial._trial_id)
        if settings.storage is None:
            LOCAL_TRIALS[trial._trial_id] = trial
        overrides = [
            *self.space.overrides(params),
            f"hydra.job.env_set.{TRIAL_VARIABLE}={reference}",
        ]
        try:
            (ret,) = self.search.launcher.launch([overrides], initial_job_idx=trial.number)
        except SystemExit:  # a run refused its config (exit 2): the trial did not run
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            raise
        finally:
            LOCAL_TRIALS.pop(trial._trial_id, None)
        with self._lock:
            self.returns.append(ret)
        return self._outcome(trial, ret)

    def _outcome(self, trial: optuna.Trial, ret: JobReturn) -> float | None:
        run_dir = Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
        trial.set_user_attr("run_dir", str(run_dir))
        if ret.status == JobStatus.FAILED:
            with self._lock:
                self.errors += 1
            try:
                ret.return_value  # noqa: B018 (a failed job's return_value raises its error)
            except Exception as error:
                raise JobFailed(f"{type(error).__name__}: {error}") from error
        result = read_result(run_dir) or {}
        status = result.get("status")
        trial.set_user_attr("status", status)
        trial.set_user_attr("epochs", result.get("epochs"))
        if status == PRUNED:
            raise optuna.TrialPruned(result.get("reason", ""))
        if status == DIVERGED:
            raise RunDiverged(result.get("reason", "the loss became NaN/inf"))
        value = ret.return_value
        if value is None:
            raise RunDiverged(f"the run returned no value of {self.search.config.optimized_metric}")
        return float(value)

    def stop_past_failure_rate(self, study: optuna.Study, trial: Any) -> None:
        """Stop once more than max_failure_rate of this invocation's trials raised."""
        with self._lock:
            done = len(self.returns)
            too_many = done and self.errors / done > self.search.settings.max_failure_rate
        if too_many:
            log.error(f"{self.errors} of {done} trials failed: stopping the search")
            study.stop()


def suggest(trial: optuna.Trial, key: str, distribution: Any) -> Any:
    """Ask the trial for ``key`` from its distribution (the public suggest_* calls)."""
    d = distribution
    if isinstance(d, optuna.distributions.CategoricalDistribution):
        return trial.suggest_categorical(key, d.choices)
    if isinstance(d, optuna.distributions.IntDistribution):
        return trial.suggest_int(key, d.low, d.high, step=d.step, log=d.log)
    return trial.suggest_float(key, d.low, d.high, step=d.step, log=d.log)


def build_sampler(config: dict[str, Any], space: SearchSpace) -> optuna.samplers.BaseSampler:
    """hydra.sweeper.sampler: the grid sampler gets its grid from the search space."""
    extra = {"search_space": space.grid()} if config["_target_"].endswith("GridSampler") else {}
    return _build("hydra.sweeper.sampler", config, extra)


def build_pruner(config: dict[str, Any]) -> optuna.pruners.BasePruner:
    return _build("hydra.sweeper.pruner", config, {})


def _build(where: str, config: dict[str, Any], extra: dict[str, Any]) -> Any:
    """The class named by ``_target_`` with the other keys; a key it does not take is
    refused in one line (e.g. TPE's n_startup_trials left over when switching sampler)."""
    kwargs = {key: value for key, value in config.items() if not key.startswith("_")}
    cls = get_class(config["_target_"])
    accepted = inspect.signature(cls).parameters
    for key in kwargs:
        if key not in accepted:
            raise ConfigError(
                f"{where}.{key} is not a setting of {cls.__name__}; drop it with "
                f"'~{where}.{key}' (it takes: {', '.join(p for p in accepted if p not in extra)})"
            )
    return cls(**kwargs, **extra)


def write_results(study: optuna.Study, sweep_dir: Path, numbers: list[int]) -> None:
    """optimization_results.yaml: the study's best trial so far, and this sweep's trials."""
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    epochs = 0  # what pruning saves shows here: the epochs this sweep's trials ran
    for trial in trials:
        if trial.number in numbers:
            state = trial.state.name.lower()
            counts[state] = counts.get(state, 0) + 1
            epochs += int(trial.user_attrs.get("epochs") or 0)
    summary: dict[str, Any] = {
        "study_name": study.study_name,
        "direction": study.direction.name.lower(),
        "trials_in_study": len(trials),
        "this_sweep": counts,
        "epochs_run": epochs,
    }
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if complete:
        best = study.best_trial
        summary.update(best_trial=best.number, best_value=best.value, best_params=best.params)
        log.info(f"best trial {best.number}: {best.value:.6g} with {best.params}")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(OmegaConf.create(summary), sweep_dir / RESULTS_FILE)


def check_search(config: DictConfig) -> list[list[str]]:
    """Everything about a search that can be wrong before its first trial (settings, space,
    sampler, pruner, an old study database); returns the trials to preflight: together they
    pick every choice and both ends of every range."""
    settings = SearchSettings.from_config(config.hydra.sweeper)
    task_overrides = [str(o) for o in config.hydra.overrides.task]
    space = parse_space(settings.params, task_overrides)
    for key in space.distributions:
        if OmegaConf.select(config, key.lstrip("+~"), default=_MISSING) is _MISSING:
            raise ConfigError(
                f"the search space key {key} names no config key; check its spelling "
                f"(python train.py --cfg job shows the keys)"
            )
    build_sampler(settings.sampler, space)
    build_pruner(settings.pruner)
    launcher = str(config.hydra.launcher.get("_target_", ""))
    if settings.storage is None and not launcher.endswith(IN_PROCESS_LAUNCHERS):
        raise ConfigError(
            "hydra.sweeper.storage=null keeps the study in this process, where trials of "
            f"{launcher.rsplit('.', 1)[-1]} cannot reach it; give a storage URL "
            "(sqlite:///outputs/optuna/<name>.db)"
        )
    database = sqlite_file(settings.storage)
    if settings.storage and (database is None or database.exists()):
        # an old schema, or a space the study's earlier trials do not fit, is refused here
        name = settings.study_name or DEFAULT_STUDY_NAME
        check_space_matches(settings.storage, name, space.distributions)
    return space.corners()


_MISSING = object()
