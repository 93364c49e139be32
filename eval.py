"""python eval.py ckpt_path=<run>/checkpoints/best.ckpt [datamodule=...]  (see conf/eval.yaml)"""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from optimlab.runner.cli import check_group_choices, run_or_exit  # noqa: E402
from optimlab.runner.evaluate import evaluate  # noqa: E402
from optimlab.runner.resolvers import register_resolvers  # noqa: E402

register_resolvers()


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    run_or_exit(evaluate, cfg)


if __name__ == "__main__":
    check_group_choices(sys.argv[1:], ROOT / "conf")
    main()
