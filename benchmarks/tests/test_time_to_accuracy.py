"""benchmarks/time_to_accuracy.py as a smoke test: tiny fake Fashion-MNIST, a couple of steps
per seed, and the output's format (never the times)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))

from bench.fake_data import write_fake_fashion_mnist  # noqa: E402

NUMBER = r"\d+(?:\.\d+)?"
SEED_ROW = re.compile(rf"^\s*(\d+)\s+({NUMBER})\s+({NUMBER})\s+(\d+)\s+({NUMBER})$")
FINAL = re.compile(rf"^median_wall_s=({NUMBER}) min_test_acc=({NUMBER})$")


def test_two_seeds_each_run_as_a_child_and_the_last_line_is_the_summary(tmp_path: Path) -> None:
    data = write_fake_fashion_mnist(tmp_path / "fashion", train=600, test=100)
    out = tmp_path / "tta"
    overrides = [
        f"datamodule.data_dir={data}",
        "datamodule.system_dir=null",
        "datamodule.download=false",
        "datamodule.val_size=100",
        "datamodule.batch_size=50",
        "trainer.accelerator=cpu",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
    ]
    command = [sys.executable, str(BENCHMARKS / "time_to_accuracy.py"), "--seeds", "1,2"]
    command += [*overrides, "--out", str(out)]  # options before and after the overrides
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    rows = [SEED_ROW.match(line) for line in lines]
    seeds = [row for row in rows if row]
    assert [int(row[1]) for row in seeds] == [1, 2]
    for row in seeds:
        wall, fit, epochs, acc = float(row[2]), float(row[3]), int(row[4]), float(row[5])
        assert wall > fit > 0 and epochs == 1 and 0 <= acc <= 1
    final = FINAL.match(lines[-1])
    assert final, lines[-1]
    assert float(final[2]) == min(float(row[5]) for row in seeds)
    assert sorted(p.name for p in out.iterdir()) == ["seed_1", "seed_1.log", "seed_2", "seed_2.log"]

    again = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0 and (tmp_path / "tta-2").is_dir()  # the first one is kept


def test_a_failing_recipe_is_reported_in_one_line(tmp_path: Path) -> None:
    command = [sys.executable, str(BENCHMARKS / "time_to_accuracy.py"), "optimizer=nonesuch"]
    command += ["--seeds", "1", "--out", str(tmp_path / "tta")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: seed 1 failed (exit 2)") and "nonesuch" in line
