"""Time to accuracy: a recipe run as a user runs it, one `python train.py ...` per seed.

python benchmarks/time_to_accuracy.py experiment=speedrun/fmnist_90
python benchmarks/time_to_accuracy.py --seeds 1,2,3,4,5 experiment=speedrun/fmnist_90

Positional arguments are train.py overrides, passed through. The wall time of a seed runs from
starting its process to the process's exit: start-up, data, training, validation and test. The
fit time (data, model, training and validation epochs, no test) and the epochs come from the
run's result.json. The runs go to --out (a new directory under outputs/time_to_accuracy/ by
default). The last line is `median_wall_s=<x> min_test_acc=<y>`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SeedRun:
    seed: int
    wall_s: float
    fit_s: float
    epochs: int
    test_acc: float


def _seeds(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("overrides", nargs="*", help="train.py overrides, e.g. experiment=...")
    p.add_argument("--seeds", type=_seeds, default=[1, 2, 3], help="one run each: 1,2,3")
    p.add_argument("--out", type=Path, default=None, help="where the runs go (a new directory)")
    p.add_argument("--metric", default="test/acc", help="the accuracy reported per seed")
    return p.parse_args(argv)


def new_directory(out: Path | None) -> Path:
    """A directory no earlier measurement has: earlier runs are never overwritten."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = out or ROOT / "outputs" / "time_to_accuracy" / stamp
    candidate, n = base, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            n += 1
            candidate = base.with_name(f"{base.name}-{n}")


def run_seed(overrides: list[str], seed: int, run_dir: Path, metric: str) -> SeedRun:
    command = [sys.executable, str(ROOT / "train.py"), *overrides, f"seed={seed}"]
    command.append(f"hydra.run.dir={run_dir}")
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    (run_dir.parent / f"seed_{seed}.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        sys.exit(f"error: seed {seed} failed (exit {done.returncode}): {last}")
    result = json.loads((run_dir / "result.json").read_text())
    if metric not in result["metrics"]:
        logged = ", ".join(sorted(result["metrics"]))
        sys.exit(f"error: the run logged no {metric}; give --metric one of {logged}")
    return SeedRun(
        seed=seed,
        wall_s=wall,
        fit_s=float(result["fit_time_s"]),
        epochs=int(result["epochs"]),
        test_acc=float(result["metrics"][metric]),
    )


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    out = new_directory(args.out)
    print(f"time to accuracy: {' '.join(args.overrides) or '(defaults)'}; runs in {out}")
    print(f"{'seed':>4}  {'wall s':>8}  {'fit s':>8}  {'epochs':>6}  {args.metric:>9}")
    runs = []
    for seed in args.seeds:
        run = run_seed(args.overrides, seed, out / f"seed_{seed}", args.metric)
        runs.append(run)
        print(
            f"{run.seed:>4}  {run.wall_s:>8.1f}  {run.fit_s:>8.1f}  {run.epochs:>6}  "
            f"{run.test_acc:>9.4f}"
        )
    median_wall = statistics.median(r.wall_s for r in runs)
    median_fit = statistics.median(r.fit_s for r in runs)
    print(f"median wall {median_wall:.1f} s (fit {median_fit:.1f} s) over seeds {args.seeds}")
    print(f"median_wall_s={median_wall:.1f} min_test_acc={min(r.test_acc for r in runs):.4f}")


if __name__ == "__main__":
    main()
