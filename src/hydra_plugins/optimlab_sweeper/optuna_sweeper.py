"""The Hydra plugin shell of optimlab's Optuna sweeper (the work is in optimlab.search).

Hydra imports every module under hydra_plugins when it starts, for every run: this one
imports nothing heavy, so plain runs do not pay for Optuna.
"""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from optimlab.search.sweeper import OptunaSearch

        self.search = OptunaSearch(self.settings)
        self.search.setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.config, self.launcher = config, self.search.launcher

    def sweep(self, arguments: list[str]) -> Any:
        from optimlab.errors import OptimlabError
        from optimlab.runner.preflight import refuse

        try:
            return self.search.sweep(arguments)
        except OptimlabError as error:  # one line, exit 2, as for a refused run
            refuse(error)
