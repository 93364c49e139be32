"""python scripts/trajectories.py [optimizer=<name>] [key=value ...]  (see conf/trajectories.yaml)

The 2-D optimizer demos of D2L ch. 11: plots a real torch optimizer's path on a 2-D function.
"""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not

from optimlab.runner.cli import run_or_exit  # noqa: E402
from optimlab.runner.resolvers import register_resolvers  # noqa: E402
from optimlab.viz.trajectories import run_from_config  # noqa: E402

register_resolvers()


@hydra.main(version_base="1.3", config_path="../conf", config_name="trajectories")
def main(cfg: DictConfig) -> None:
    run_or_exit(run_from_config, cfg)


if __name__ == "__main__":
    main()
