"""Compare runs: one table and one figure for every run under a directory.

python scripts/compare_runs.py outputs/train/multiruns/<timestamp>   # one sweep
python scripts/compare_runs.py outputs                               # every run there is
python scripts/compare_runs.py outputs/train/runs --out /tmp/cmp --name adam_vs_sgd

Reads the TensorBoard event files (with TensorBoard's own EventAccumulator), prints the
table (run, overrides, best val metric, test metric, final train loss, epochs, wall time,
status) and writes <name>.csv, <name>.md and <name>.png (train loss on a log scale,
val loss, val accuracy or R², learning rate; one line per run).
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not

from optimlab.analysis.compare import compare  # noqa: E402
from optimlab.errors import EXIT_BAD_INPUT, OptimlabError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a run, a sweep, or a whole outputs/ tree")
    parser.add_argument(
        "--out", type=Path, default=None, help="where the files go (default: the directory)"
    )
    parser.add_argument(
        "--name", default="comparison", help="file name stem (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(f"error: {args.directory} is not a directory", file=sys.stderr)
        return 2
    try:
        result = compare(args.directory, args.out or args.directory, name=args.name)
    except OptimlabError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(result.markdown)
    print(f"table:  {result.csv} (and .md)\nfigure: {result.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
