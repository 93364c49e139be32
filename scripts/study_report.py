"""Write a study's report again, or one report over several studies (a performance profile).

python scripts/study_report.py outputs/studies/fmnist_lenet                 # into that directory
python scripts/study_report.py outputs/studies/fmnist_lenet --out docs/studies/fmnist_lenet
python scripts/study_report.py outputs/studies/fmnist_lenet outputs/studies/airfoil_mlp \
    --name profile --out docs/studies/profile       # each study a workload: the profile

Reads each job's result.json and TensorBoard events (finished, diverged and unfinished jobs
alike) and writes study.md, study.csv, lr_sensitivity.png, the training curves at each
variant's chosen lr and, over two or more workloads, profile.png. The study's settings
(variant key, lr key, profile time) come from the first directory's multirun.yaml.
"""

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # works from a plain clone, installed or not

from optimlab.errors import EXIT_BAD_INPUT, OptimlabError  # noqa: E402
from optimlab.study.report import write_study_report  # noqa: E402
from optimlab.study.settings import saved_settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directories", type=Path, nargs="+", help="study directories")
    parser.add_argument(
        "--out", type=Path, default=None, help="where the files go (default: the first directory)"
    )
    parser.add_argument("--name", default=None, help="the report's title (default: the study's)")
    args = parser.parse_args(argv)
    for directory in args.directories:
        if not directory.is_dir():
            print(f"error: {directory} is not a directory", file=sys.stderr)
            return EXIT_BAD_INPUT
    try:
        settings = saved_settings(args.directories[0])
        if args.name:
            settings = replace(settings, name=args.name)
        command = shlex.join(["python", "scripts/study_report.py", *map(str, argv or sys.argv[1:])])
        report = write_study_report(
            args.directories, args.out or args.directories[0], settings, command=command
        )
    except OptimlabError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(report.read_text())
    print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
