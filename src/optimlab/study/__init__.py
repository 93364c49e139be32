"""Studies: a grid of runs (variants × learning rates × seeds, on one or more workloads) and
the report that answers its question. conf/study/ holds the grids; report.py writes study.md."""

from optimlab.study.report import write_study_report
from optimlab.study.settings import StudySettings, saved_settings

__all__ = ["StudySettings", "saved_settings", "write_study_report"]
