"""Compare runs: one table and one figure for every run under a directory.

python scripts/compare_runs.py outputs/train/multiruns/<timestamp>   # one sweep
python scripts/compare_runs.py outputs                               # every run there is
python scripts/compare_runs.py outputs/train/runs --out /tmp/cmp --name adam_vs_sgd

Reads the TensorBoard event files (with TensorBoard's own EventAccumulator) and writes
<name>.csv and <name>.md (one row per run: overrides, best val metric, test metric, final
train loss, epochs, wall time, time to target when the runs had a target, status) and
<name>.png (train loss on a log scale, smoothed; val loss; val accuracy or R²; learning rate).

Runs that differ only in seed form a group: the script prints one row per group (n, mean,
std and 95% Student-t interval of the best val and test metrics, median time to target),
writes it to <name>_groups.csv and below the runs in <name>.md, and draws each group as its
mean with a band from its lowest to its highest seed. --no-group prints the runs and draws one
line per run.
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
    parser.add_argument(
        "--no-group",
        action="store_true",
        help="one row and one line per run: no seed groups",
    )
    args = parser.parse_args(argv)
    if not args.directory.is_dir():
        print(f"error: {args.directory} is not a directory", file=sys.stderr)
        return 2
    try:
        result = compare(
            args.directory, args.out or args.directory, name=args.name, group=not args.no_group
        )
    except OptimlabError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(result.printed)
    if result.groups_csv:
        count = len(result.groups or [])
        print(f"groups: {result.groups_csv} ({count} groups of runs that differ only in seed)")
        print(f"table:  {result.csv} (every run; .md has both tables)")
    else:
        print(f"table:  {result.csv} (and .md)")
    print(f"figure: {result.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
