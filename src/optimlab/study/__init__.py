"""Studies: a grid of runs (variants × learning rates × seeds, on one or more workloads) and
the report that answers its question. conf/study/ holds the grids; report.py writes study.md.

settings.py is light (the preflight reads it); report.py draws with matplotlib, so it is
imported only where a report is written."""
