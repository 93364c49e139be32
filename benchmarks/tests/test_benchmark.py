"""benchmarks/benchmark.py and benchmark_floor.py as smoke tests (tiny fake data, a few
steps: the output's format, never timings), and the promise that the project does not
need this folder. Run by `.ci/run`: `python -m pytest -n auto benchmarks`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
ROOT = BENCHMARKS.parent
NUMBER = r"\d+(?:\.\d+)?"
ROW = re.compile(rf"^(?P<name>.+?)\s+(?P<min>{NUMBER})\s+(?P<med>{NUMBER})\s+(?P<max>{NUMBER})\s")
FINAL = re.compile(rf"^ratio_vs_limit=({NUMBER})(?: ratio_vs_classic=({NUMBER}))?$")
TINY = ["--steps", "3", "--warmup", "2", "--repeats", "1", "--threads", "1", "--workers", "1"]


def run_script(name: str, *args: str) -> list[str]:
    """A script as a user runs it from a clone: its own process, stdout lines."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


def rows(lines: list[str]) -> dict[str, tuple[float, float, float]]:
    """{path: (min, median, max)} from the results table."""
    start = next(i for i, line in enumerate(lines) if line.startswith("path "))
    table: dict[str, tuple[float, float, float]] = {}
    for line in lines[start + 1 :]:
        match = ROW.match(line)
        if not match:
            break
        low, mid, high = (float(match[k]) for k in ("min", "med", "max"))
        table[match["name"].strip()] = (low, mid, high)
    return table


def test_fashion_mnist_smoke_run_prints_the_three_paths_and_the_ratio_line() -> None:
    lines = run_script(
        "benchmark.py",
        *TINY,
        "--batch-size", "50",
        "--fake-images", "600",
        "--eval-batch-sizes", "50,100",
        "--variant", "log1", "trainer.log_every_n_steps=1",
        "--",  # the rest: overrides of every optimlab run
        "datamodule.val_size=100",
        "datamodule.eval_batch_size=100",
    )  # fmt: skip
    assert lines[-1] == lines[-1].strip() and FINAL.match(lines[-1]), lines[-1]
    assert FINAL.match(lines[-1]).group(2) is not None  # the classic ratio is there
    table = rows(lines)
    for name in (
        "limit (a)", "optimlab (b)", "classic (c)", "limit (a) alone", "variant log1",
        "eval bs=50", "eval bs=100",
    ):  # fmt: skip
        assert name in table, f"{name} missing from {list(table)}"
        low, mid, high = table[name]
        assert 0 < low <= mid <= high
    header = next(line for line in lines if line.startswith("# optimlab benchmark:"))
    assert "threads=1" in header and "classic_workers=1" in header and "batch_size=50" in header
    assert any(re.match(rf"^startup_s={NUMBER} \(", line) for line in lines)
    assert any(line.startswith("variant log1: ") for line in lines)


def test_cifar_sized_smoke_run_writes_its_own_fake_data() -> None:
    lines = run_script(
        "benchmark.py",
        *TINY,
        "--model", "cnn",
        "--datamodule", "cifar10",
        "--batch-size", "32",
        "--fake-images", "400",
        "--startup-runs", "0",
        "datamodule.val_size=50",
    )  # fmt: skip
    assert FINAL.match(lines[-1]), lines[-1]
    assert {"limit (a)", "optimlab (b)", "classic (c)"} <= set(rows(lines))
    assert not any(line.startswith("startup_s=") for line in lines)


def test_the_floor_script_prints_every_rung_the_micro_costs_and_its_ratio_line() -> None:
    lines = run_script(
        "benchmark_floor.py",
        "--steps", "3", "--warmup", "2", "--repeats", "2", "--batch-size", "16",
        "--threads", "1", "--images", "600",
    )  # fmt: skip
    rungs = (
        "plain, fresh batches",
        "lightning, ready",
        "lightning, fresh",
        "task, ready",
        "task, fresh",
    )
    assert sum(line.startswith("round ") for line in lines) == 2 * len(rungs)
    for rung in rungs:  # each rung's median ratio to the limit
        assert any(re.match(rf"{rung}\s+{NUMBER} of the limit", line) for line in lines), rung
    assert any(line.startswith("gather images.index_select") for line in lines)
    assert any(re.match(rf"loader batch .*\s{NUMBER} ms$", line) for line in lines)
    assert any(re.match(rf"limit step {NUMBER} ms", line) for line in lines)
    for cost in (
        "_current_fx_name via FastSteps",
        "gradient norm total_norm in the step",
        "bulk write of 50",
    ):
        assert any(re.match(rf"{cost}.*\s-?{NUMBER} us$", line) for line in lines), cost
    assert re.fullmatch(rf"floor_vs_limit={NUMBER}", lines[-1]), lines[-1]
    assert float(lines[-1].split("=")[1]) > 0


def test_nothing_outside_this_folder_uses_it() -> None:
    """Deleting benchmarks/ (and its line in .ci/run) must leave a working project: no
    module outside imports it, no config or script loads a class from it."""
    uses = re.compile(
        r"^\s*(from|import)\s+(bench|benchmarks)\b"  # a Python import
        r"|_target_\W+(bench|benchmarks)\.",  # a Hydra target, in a config or an override
        re.MULTILINE,
    )
    outside = [
        path
        for folder in ("src", "tests", "scripts", "conf")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".yaml")
    ] + [ROOT / "train.py", ROOT / "eval.py"]
    users = [str(p.relative_to(ROOT)) for p in outside if uses.search(p.read_text())]
    assert users == [], users
    assert uses.search("from bench.timing import StepTimer")  # the pattern does find uses
