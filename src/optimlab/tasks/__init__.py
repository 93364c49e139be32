"""LightningModules: one per kind of problem, sharing the optimizer/schedule wiring."""

from optimlab.tasks.base import OptimTask
from optimlab.tasks.classification import ClassificationTask

TASKS: dict[str, type[OptimTask]] = {ClassificationTask.kind: ClassificationTask}

__all__ = ["TASKS", "ClassificationTask", "OptimTask"]
