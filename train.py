"""python train.py [group=option ...] [key=value ...]  (see conf/train.yaml)"""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not
# ... also in the processes launchers start (submitit/SLURM jobs unpickle optimlab functions)
_paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
if str(ROOT / "src") not in _paths:  # (DDP's other ranks run this file again)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *_paths])

from optimlab.runner.cli import check_group_choices, run_or_exit  # noqa: E402
from optimlab.runner.resolvers import register_resolvers  # noqa: E402
from optimlab.runner.train import objective, train  # noqa: E402

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = run_or_exit(train, cfg)
    return objective(metrics, cfg.get("optimized_metric"))  # what sweepers (Optuna) optimize


if __name__ == "__main__":
    check_group_choices(sys.argv[1:], ROOT / "conf")
    main()
