"""Draw LR against step for a schedule (or all of them) and write the values as CSV.

python scripts/plot_schedules.py scheduler=step scheduler.warmup_epochs=5 optimizer.lr=0.3
python scripts/plot_schedules.py all=true total_steps=3000
"""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from optimlab.config import to_plain  # noqa: E402
from optimlab.optim.simulate import simulate_lr  # noqa: E402
from optimlab.runner.cli import run_or_exit  # noqa: E402
from optimlab.runner.resolvers import register_resolvers  # noqa: E402
from optimlab.viz.schedules import plot_lr_curves, write_lr_csv  # noqa: E402

register_resolvers()
SCHEDULER_DIR = ROOT / "conf" / "scheduler"


def plot(cfg: DictConfig) -> dict[str, list[float]]:
    optimizer = to_plain(cfg.optimizer)
    if cfg.all:
        schedules = {
            path.stem: to_plain(OmegaConf.load(path))
            for path in sorted(SCHEDULER_DIR.glob("*.yaml"))
            if path.stem != "none"  # the same line as constant
        }
        title = f"every schedule, lr {optimizer['lr']}"
    else:
        chosen = hydra.core.hydra_config.HydraConfig.get().runtime.choices["scheduler"]
        schedules = {chosen: to_plain(cfg.scheduler)}
        title = f"scheduler={chosen}, lr {optimizer['lr']}"
    curves = {
        name: simulate_lr(
            optimizer,
            schedule,
            total_steps=cfg.total_steps,
            steps_per_epoch=cfg.steps_per_epoch,
            plateau_metric=cfg.plateau_metric,
        )
        for name, schedule in schedules.items()
    }
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    plot_lr_curves(output_dir / "lr.png", curves, title=title, steps_per_epoch=cfg.steps_per_epoch)
    write_lr_csv(output_dir / "lr.csv", curves)
    for name, lrs in curves.items():
        print(f"{name:<16} lr[0]={lrs[0]:.6g}  max={max(lrs):.6g}  last={lrs[-1]:.6g}")
    print(f"picture: {output_dir / 'lr.png'}\nvalues:  {output_dir / 'lr.csv'}")
    return curves


@hydra.main(version_base="1.3", config_path="../conf", config_name="plot_schedules")
def main(cfg: DictConfig) -> None:
    run_or_exit(plot, cfg)


if __name__ == "__main__":
    main()
