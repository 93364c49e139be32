"""The job's side of a search: each epoch's validation value goes to the job's Optuna trial,
and the trial's pruner may stop the run there.

The sweeper names the trial in the job's environment (``hydra.job.env_set``, so it reaches
jobs in other processes or machines); the job opens the study's storage to report. A study
in memory (``storage: null``) has its trials here instead, for jobs in the sweeper's process.
Optuna is imported only in a job of a search: plain runs start without it.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer

TRIAL_VARIABLE = "OPTIMLAB_TRIAL"
LOCAL_TRIALS: dict[int, Any] = {}  # trial id -> optuna.Trial, for a study kept in memory


class RunPruned(Exception):
    """The search's pruner stopped this run (not a failure: the trial is recorded PRUNED)."""


def trial_reference(storage: str | None, study_name: str, trial_id: int) -> str:
    """How the sweeper names a trial to its job: an override-safe token (letters, digits, -_)."""
    text = json.dumps({"storage": storage, "study": study_name, "trial_id": trial_id})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def job_trial() -> Any | None:
    """The trial this job runs for, or None outside a search."""
    token = os.environ.get(TRIAL_VARIABLE)
    if not token:
        return None
    reference = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    if reference["storage"] is None:
        return LOCAL_TRIALS[reference["trial_id"]]
    import optuna
    from hydra.core.hydra_config import HydraConfig

    from optimlab.config import to_plain
    from optimlab.search.sweeper import build_pruner

    # a pruner is not stored with the study: the job builds the one the sweeper has, from
    # the same hydra.sweeper.pruner (the job's config is composed from the same overrides)
    pruner = build_pruner(to_plain(HydraConfig.get().sweeper.pruner))
    study = optuna.load_study(
        study_name=reference["study"], storage=reference["storage"], pruner=pruner
    )
    return optuna.trial.Trial(study, reference["trial_id"])


class ReportToTrial(Callback):
    """After each epoch's validation: report ``metric`` to the trial (step = epochs done),
    then stop the run at once if the pruner says so."""

    def __init__(self, trial: Any, metric: str) -> None:
        self.trial = trial
        self.metric = metric

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        value = trainer.callback_metrics.get(self.metric)
        if trainer.sanity_checking or value is None:
            return
        epochs = trainer.current_epoch + 1
        prune = False
        if trainer.is_global_zero:  # the value is already reduced over the ranks
            self.trial.report(float(value), step=epochs)
            prune = self.trial.should_prune()
        if trainer.strategy.broadcast(prune, src=0):  # DDP: every rank stops, or none
            raise RunPruned(f"pruned after epoch {epochs}: {self.metric} {float(value):.4g}")


def trial_callbacks(metric: str | None) -> list[Callback]:
    """The reporting callback for a job of a search; none for any other run."""
    trial = job_trial()
    return [ReportToTrial(trial, metric)] if trial is not None and metric else []
