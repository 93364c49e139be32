"""Pictures of optimizers at work: the 2-D trajectory demos of D2L ch. 11."""

from optimlab.viz.trajectories import (
    OBJECTIVES,
    Objective,
    TrajectoryRun,
    describe_optimizer,
    divergence,
    format_end,
    get_objective,
    plot_trajectory,
    run_from_config,
    run_trajectory,
    view_limits,
    write_csv,
)

__all__ = [
    "OBJECTIVES",
    "Objective",
    "TrajectoryRun",
    "describe_optimizer",
    "divergence",
    "format_end",
    "get_objective",
    "plot_trajectory",
    "run_from_config",
    "run_trajectory",
    "view_limits",
    "write_csv",
]
