"""Rerun the airfoil and LeNet tables of D2L ch. 11: a Markdown table, its number vs optimlab's.

    python scripts/reproduce_d2l.py airfoil --seeds 1 2
    python scripts/reproduce_d2l.py lenet --seeds 1 2

D2L ch. 11 is *Dive into Deep Learning*, chapter 11 (docs/results.md, References). Each row
runs `train.py` once per random seed of `--seeds` (in a fresh process, as a user would) and
reads the run's result.json. Nothing here trains by itself: the numbers come from the real
entry point.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Row:
    name: str
    overrides: tuple[str, ...]
    reference: float  # the number D2L ch. 11 prints
    metric: str  # which of our metrics is comparable


def airfoil_row(name: str, reference: float, *overrides: str) -> Row:
    return Row(name, ("experiment=d2l/airfoil", *overrides), reference, "val/loss")


def lenet_row(name: str, reference: float) -> Row:
    return Row(name, (f"experiment=d2l/lenet_{name}",), reference, "test/acc")


EXPERIMENTS: dict[str, list[Row]] = {
    "airfoil": [
        airfoil_row(
            "gd, batch 1500, lr 1, 10 epochs",
            0.251,
            "optimizer=sgd",
            "optimizer.lr=1",
            "datamodule.batch_size=1500",
            "trainer.max_epochs=10",
        ),
        airfoil_row(
            "sgd, batch 1, lr 0.005",
            0.248,
            "optimizer=sgd",
            "optimizer.lr=0.005",
            "datamodule.batch_size=1",
        ),
        airfoil_row(
            "sgd, batch 100, lr 0.4",
            0.246,
            "optimizer=sgd",
            "optimizer.lr=0.4",
            "datamodule.batch_size=100",
        ),
        airfoil_row("sgd, batch 10, lr 0.05", 0.244, "optimizer=sgd", "optimizer.lr=0.05"),
        airfoil_row(
            "momentum lr 0.02, beta 0.5",
            0.242,
            "optimizer=momentum",
            "optimizer.lr=0.02",
            "optimizer.momentum=0.5",
        ),
        airfoil_row(
            "momentum lr 0.01, beta 0.9",
            0.247,
            "optimizer=momentum",
            "optimizer.lr=0.01",
            "optimizer.momentum=0.9",
        ),
        airfoil_row(
            "momentum lr 0.005, beta 0.9",
            0.244,
            "optimizer=momentum",
            "optimizer.lr=0.005",
            "optimizer.momentum=0.9",
        ),
        airfoil_row(
            "adagrad lr 0.1",
            0.244,
            "optimizer=adagrad",
            "optimizer.lr=0.1",
            "optimizer.eps=0",
            "optimizer.initial_accumulator_value=1e-6",
        ),
        airfoil_row(
            "rmsprop lr 0.01, gamma 0.9",
            0.242,
            "optimizer=rmsprop_eps_in_root",
            "optimizer.lr=0.01",
        ),
        airfoil_row("adadelta rho 0.9", 0.247, "optimizer=adadelta"),
        airfoil_row(
            "adam lr 0.01", 0.243, "optimizer=adam", "optimizer.lr=0.01", "optimizer.eps=1e-6"
        ),
        airfoil_row("yogi lr 0.01", 0.246, "optimizer=yogi", "optimizer.lr=0.01"),
    ],
    "lenet": [
        lenet_row("constant", 0.882),
        lenet_row("multistep", 0.884),
        lenet_row("cosine", 0.899),
        lenet_row("cosine_warmup", 0.905),
    ],
}


def run_once(row: Row, seed: int, log_dir: Path) -> tuple[float, float]:
    """(metric, wall seconds) of one train.py run."""
    command = [
        sys.executable, str(ROOT / "train.py"), *row.overrides, f"seed={seed}",
        f"paths.log_dir={log_dir}", "callbacks.progress_bar=null",
    ]  # fmt: skip
    start = time.perf_counter()
    output = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if output.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{output.stderr[-2000:]}")
    run_dir = next(
        line.split(maxsplit=2)[-1]
        for line in output.stdout.splitlines()
        if line.strip().startswith("run directory")
    )
    result = json.loads((Path(run_dir) / "result.json").read_text())
    return float(result["metrics"][row.metric]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=sorted(EXPERIMENTS))
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[1, 2], help="random seeds, one run each"
    )
    parser.add_argument("--log-dir", type=Path, default=ROOT / "outputs" / "reproduce")
    parser.add_argument("--only", nargs="*", help="row names to run (default: all)")
    args = parser.parse_args()
    rows = [r for r in EXPERIMENTS[args.experiment] if not args.only or r.name in args.only]
    print("| run | D2L ch. 11 | optimlab (mean ± std) | runs | wall s/run | command |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        values, walls = zip(*(run_once(row, s, args.log_dir) for s in args.seeds), strict=True)
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        command = "python train.py " + " ".join(row.overrides)
        print(
            f"| {row.name} | {row.reference:.3f} | {statistics.mean(values):.3f} ± {spread:.3f} "
            f"| {', '.join(f'{v:.3f}' for v in values)} | {statistics.mean(walls):.0f} "
            f"| `{command}` |",
            flush=True,
        )


if __name__ == "__main__":
    main()
