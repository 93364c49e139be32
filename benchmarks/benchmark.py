"""Images per second of (a) the bare model step, (b) optimlab's real training path and
(c) the classic torchvision + DataLoader-workers recipe, interleaved in one process.

python benchmarks/benchmark.py                       # LeNet / Fashion-MNIST, batch 256
python benchmarks/benchmark.py --model cnn --datamodule cifar10 --fake-images 50000
python benchmarks/benchmark.py --variant log1 trainer.log_every_n_steps=1 -- seed=1

Positional arguments are Hydra overrides applied to every optimlab run (as on train.py's
command line). The last line is `ratio_vs_limit=<b/a> ratio_vs_classic=<b/c>`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OPTIMLAB_ROOT", str(ROOT))
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not

from bench import BenchOptions, run_benchmark  # noqa: E402
from bench.options import default_workers  # noqa: E402


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def parse(argv: list[str] | None = None) -> BenchOptions:
    defaults = BenchOptions()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every optimlab run")
    p.add_argument("--model", default=defaults.model, help="conf/model name")
    p.add_argument("--datamodule", default=defaults.datamodule, help="conf/datamodule name")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--steps", type=int, default=defaults.steps, help="timed steps per round")
    p.add_argument("--warmup", type=int, default=defaults.warmup, help="untimed steps first")
    p.add_argument("--repeats", type=int, default=defaults.repeats, help="interleaved rounds")
    p.add_argument("--device", default=defaults.device, help="cpu or cuda")
    p.add_argument("--threads", type=int, default=defaults.threads, help="torch threads")
    p.add_argument(
        "--workers", type=int, default=default_workers(), help="classic DataLoader workers"
    )
    p.add_argument(
        "--variant",
        nargs="+",
        action="append",
        default=[],
        metavar=("NAME", "OVERRIDE"),
        help="another optimlab run, timed in the same rounds: NAME then its overrides",
    )
    p.add_argument(
        "--eval-batch-sizes", type=_sizes, default=[], help="e.g. 256,1024: validation speed"
    )
    p.add_argument(
        "--startup-runs", type=int, default=defaults.startup_runs, help="0 skips start-up"
    )
    p.add_argument("--data-dir", default=None, help="where the data set is")
    p.add_argument(
        "--fake-images",
        type=int,
        default=0,
        help="write this many random training images in the data set's official format",
    )
    p.add_argument("--no-classic", action="store_true", help="skip the classic recipe (c)")
    p.add_argument(
        "--interleave",
        choices=["step", "round"],
        default="",
        help="step: (a) steps in lockstep with (b) (default on CPU); round: whole stretches",
    )
    args = p.parse_args(argv)
    return BenchOptions(
        model=args.model,
        datamodule=args.datamodule,
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        repeats=args.repeats,
        device=args.device,
        threads=args.threads,
        workers=args.workers,
        overrides=list(args.overrides),
        variants={name: list(extra) for name, *extra in args.variant},
        eval_batch_sizes=args.eval_batch_sizes,
        startup_runs=args.startup_runs,
        data_dir=args.data_dir,
        fake_images=args.fake_images,
        classic=not args.no_classic,
        interleave=args.interleave,
    )


def main(argv: list[str] | None = None) -> None:
    result = run_benchmark(parse(argv))
    print("\n".join(result.lines()), flush=True)


if __name__ == "__main__":
    main()
