"""The LR range test: python scripts/lr_find.py [train.py's overrides] [key=value ...]

    python scripts/lr_find.py optimizer=adam
    python scripts/lr_find.py optimizer=sgd 'seeds=[1,2,3]' num_steps=200

It trains the configured model on the configured data for ``num_steps`` optimizer steps
while ``optimizer.lr`` grows exponentially from ``start_lr`` to ``end_lr``, smooths the
training loss and stops early once it diverges (conf/lr_find.yaml). It writes lr_find.csv
(seed, step, lr, loss, smoothed_loss: every test's curve) and lr_find.png into its own run
directory under outputs/lr_find/runs/, prints what the steepest-slope and minimum/10 rules
read off the curve, and ends with ``suggested_lr=<value>``: the valley rule's lr (with
several seeds, the median over the seeds; every rule's spread is printed above it).

The sweep is a short fit of the project's own Trainer, built by runner/train.py's
build_task and build_trainer from the same config as train.py, not Lightning's
``Tuner.lr_find``. The Tuner sets every parameter group to one lr, so it would drop the
per-group multipliers of ``optimizer.param_groups``; it records only the smoothed loss and
suggests by one rule (the steepest gradient against lr, not log lr); it replaces the
trainer's callbacks and loggers and saves and restores a checkpoint around the test. Here
each group's lr is its configured lr times the sweep's factor (their ratios stay), the raw
loss is kept, and each seed is a fresh model. Learning-rate-free optimizers (Prodigy,
D-Adaptation), whose lr only multiplies the step size they estimate, are refused; the
configured scheduler is not used (the test sets the lr of every step).
"""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not

from optimlab.analysis.lr_find import RULES, spread, suggest, summary_lines  # noqa: E402
from optimlab.runner.cli import check_group_choices, run_or_exit  # noqa: E402
from optimlab.runner.lr_find import run_range_test, settings_of  # noqa: E402
from optimlab.runner.resolvers import register_resolvers  # noqa: E402
from optimlab.viz.lr_find import plot_range_test, write_range_csv  # noqa: E402

register_resolvers()


def _choice(group: str) -> str:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.choices.get(group))
    return "?"


def lr_find(cfg: DictConfig) -> float:
    """Run the test once per seed, write the CSV and the figure; returns the suggested lr."""
    settings = settings_of(cfg)
    seeds = settings.seeds or (cfg.get("seed"),)
    output_dir = Path(cfg.output_dir)
    what = " ".join(f"{group}={_choice(group)}" for group in ("model", "datamodule", "optimizer"))
    print(
        f"lr range test: {what}, lr {settings.start_lr:g} -> {settings.end_lr:g} in "
        f"{settings.num_steps} steps, seed{'s' if len(seeds) > 1 else ''} "
        f"{', '.join(map(str, seeds))} -> {output_dir}",
        flush=True,
    )
    if cfg.get("scheduler"):
        print(f"(scheduler={_choice('scheduler')} is not used: the test sets every step's lr)")

    curves = []
    for seed in seeds:
        curve = run_range_test(cfg, settings, seed)
        curves.append(curve)
        end = (
            f"stopped after {len(curve.lrs)} steps at lr {curve.lrs[-1]:.3g}: the loss diverged"
            if curve.stopped_early
            else f"all {curve.num_steps} steps"
        )
        print(f"seed {seed}: {end}", flush=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_range_csv(output_dir / "lr_find.csv", curves)  # (also when no rule can read a curve)

    suggestions = {curve.seed: suggest(curve) for curve in curves}
    lines, chosen = summary_lines(suggestions)
    per_rule = {rule: spread([s.of(rule) for s in suggestions.values()]).median for rule in RULES}
    title = f"LR range test: {what}" + (f", {len(seeds)} seeds" if len(seeds) > 1 else "")
    plot_range_test(output_dir / "lr_find.png", curves, suggestions, per_rule, title=title)
    print(f"picture: {output_dir / 'lr_find.png'}\nvalues:  {output_dir / 'lr_find.csv'}")
    print("\n".join(lines))
    print(f"suggested_lr={chosen:.3g}", flush=True)
    return chosen


@hydra.main(version_base="1.3", config_path="../conf", config_name="lr_find")
def main(cfg: DictConfig) -> None:
    run_or_exit(lr_find, cfg)


if __name__ == "__main__":
    check_group_choices(sys.argv[1:], ROOT / "conf")
    main()
