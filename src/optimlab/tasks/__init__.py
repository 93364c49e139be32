"""LightningModules: one per kind of problem, sharing the optimizer/schedule wiring."""

from optimlab.tasks.base import OptimTask
from optimlab.tasks.classification import ClassificationTask
from optimlab.tasks.fast_steps import FastSteps
from optimlab.tasks.regression import RegressionTask

TASKS: dict[str, type[OptimTask]] = {
    ClassificationTask.kind: ClassificationTask,
    RegressionTask.kind: RegressionTask,
}

__all__ = ["TASKS", "ClassificationTask", "FastSteps", "OptimTask", "RegressionTask"]
