"""The study's database: opened so that several processes can share it, and never migrated
behind the user's back (an old study is refused with the command that upgrades it)."""

from __future__ import annotations

import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState
from sqlalchemy.exc import IntegrityError, OperationalError

from optimlab.errors import ConfigError

SQLITE_BUSY_TIMEOUT_S = 60  # a writer waits this long for another process's lock, not failing
OWNER_HOST, OWNER_PID = "host", "pid"  # the trial's user attrs: the machine and process running it


def open_storage(url: str | None, heartbeat_interval: int | None, grace_period: int | None):
    """An RDB storage for a URL (None: in memory, one process only).

    The heartbeat lets any process sharing the study fail a trial whose process died
    (``grace_period`` after its last beat); a dead process on this machine is noticed at
    once (``fail_dead_local_trials``).
    """
    if url is None:
        return optuna.storages.InMemoryStorage()
    engine: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    database = sqlite_file(url)
    if database is not None:  # SQLite creates the .db file but not its folder (outputs/optuna/)
        database.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():  # the heartbeat is "experimental" since optuna 2.9
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return _with_retries(
                lambda: RDBStorage(
                    url,
                    engine_kwargs=engine,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                )
            )
    except RuntimeError as error:
        if "optuna storage upgrade" in str(error):
            raise ConfigError(
                f"the study database {url} was written by an older optuna; back it up, then "
                f"upgrade it once with: optuna storage upgrade --storage {url}"
            ) from error
        raise


def sqlite_file(url: str | None) -> Path | None:
    """The database file of a sqlite:/// URL; None for other URLs and SQLite in memory."""
    if url and url.startswith("sqlite:///"):
        name = url.removeprefix("sqlite:///").split("?", 1)[0]
        return Path(name).expanduser() if name and name != ":memory:" else None
    return None


def open_study(
    name: str, storage: BaseStorage, sampler: Any, pruner: Any, direction: str
) -> optuna.Study:
    """Create the study, or continue it; another process may be creating it at this moment."""
    study = _with_retries(
        lambda: optuna.create_study(
            study_name=name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction=direction,
            load_if_exists=True,
        )
    )
    if study.direction.name.lower() != direction:
        raise ConfigError(
            f"study {name} was created to {study.direction.name.lower()} and this search would "
            f"{direction}; give the search another hydra.sweeper.study_name"
        )
    return study


def check_space_matches(url: str, study_name: str, space: dict[str, Any]) -> None:
    """A study's earlier trials must fit the space: Optuna cannot compare a choice() whose
    options changed (ranges may change)."""
    storage = open_storage(url, None, None)
    if study_name not in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        return
    study = optuna.load_study(study_name=study_name, storage=storage)
    earlier: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        earlier.update(trial.distributions)
    for key, distribution in space.items():
        if key not in earlier:
            continue
        try:
            optuna.distributions.check_distribution_compatibility(earlier[key], distribution)
        except ValueError:
            raise ConfigError(
                f"{key} was searched over {_describe(earlier[key])} in study {study_name}; "
                f"to search {_describe(distribution)}, give it another hydra.sweeper.study_name"
            ) from None


def _describe(distribution: Any) -> str:
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return "choice(" + ", ".join(map(str, distribution.choices)) + ")"
    log = "log " if getattr(distribution, "log", False) else ""
    return f"{log}[{distribution.low}, {distribution.high}]"


def claim_trial(trial: optuna.Trial) -> None:
    """Mark the trial as run by this process (so a rerun here can tell it was killed)."""
    trial.set_user_attr(OWNER_HOST, socket.gethostname())
    trial.set_user_attr(OWNER_PID, os.getpid())


def fail_dead_local_trials(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose process, on this machine, no longer exists (a search
    killed mid-trial); trials of live processes (another search sharing the study) are left."""
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if attrs.get(OWNER_HOST) != socket.gethostname() or _alive(attrs.get(OWNER_PID)):
            continue
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        failed.append(trial.number)
    return failed


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True  # not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _with_retries(make, attempts: int = 5):
    """Two processes starting on one new SQLite file race to create its tables, its schema
    version and the study: the loser sees "already exists", a lock or a duplicate version
    row, and succeeds when it tries again."""
    for attempt in range(attempts):
        try:
            return make()
        except (OperationalError, IntegrityError, optuna.exceptions.DuplicatedStudyError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")
