"""python train.py [group=option ...] [key=value ...]  (see conf/train.yaml)"""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not

from optimlab.runner.cli import check_group_choices, run_or_exit  # noqa: E402
from optimlab.runner.resolvers import register_resolvers  # noqa: E402
from optimlab.runner.train import train  # noqa: E402

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = run_or_exit(train, cfg)
    return metrics.get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    check_group_choices(sys.argv[1:], ROOT / "conf")
    main()
