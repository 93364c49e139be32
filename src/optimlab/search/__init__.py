"""Hyperparameter search on Optuna: our Hydra sweeper (``hydra/sweeper=optuna``).

space.py turns ``hydra.sweeper.params`` into Optuna distributions and trials back into
overrides; storage.py opens (and guards) the study's database; sweeper.py runs the trials
through Hydra's launcher; pruning.py is the job's side: it reports each epoch to its trial.
The Hydra plugin itself (src/hydra_plugins/optimlab_sweeper) is a thin shell around sweeper.py.
"""
