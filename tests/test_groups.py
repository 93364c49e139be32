"""Seed groups: the statistics against hand-computed values, the sweep summary's group table,
and compare_runs grouped and with --no-group on a real sweep over seeds."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import matplotlib.image
import pytest

from helpers import ROOT
from helpers.cli import run_script
from optimlab.analysis.groups import (
    describe,
    group_indices,
    group_runs,
    median_time,
    t_quantile,
)
from optimlab.analysis.plots import ema_beta
from optimlab.analysis.table import RunRow
from optimlab.runner.hydra_callbacks import summarize_sweep
from optimlab.runner.result_file import write_result


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------ the statistics


def test_mean_sample_std_and_the_student_t_interval_by_hand() -> None:
    stats = describe([0.80, 0.82, 0.84])
    assert stats.n == 3 and stats.mean == pytest.approx(0.82)
    assert stats.std == pytest.approx(0.02)  # sqrt((0.02² + 0 + 0.02²) / (3 - 1))
    assert t_quantile(0.975, 2) == pytest.approx(4.303, abs=5e-4)
    half = 4.303 * 0.02 / math.sqrt(3)  # = 0.0497
    assert stats.ci_low == pytest.approx(0.82 - half, abs=1e-4)
    assert stats.ci_high == pytest.approx(0.82 + half, abs=1e-4)
    assert stats.ci_high - stats.mean == pytest.approx(0.0497, abs=1e-4)

    five = describe([1.0, 2.0, 3.0, 4.0, 5.0])  # s = sqrt(10 / 4), t(0.975, 4) = 2.776
    assert five.std == pytest.approx(math.sqrt(2.5))
    assert five.ci_high - five.mean == pytest.approx(2.776 * math.sqrt(2.5) / math.sqrt(5), 1e-3)

    assert describe([0.7, None, math.nan, math.inf]) == describe([0.7])  # only finite values
    one = describe([0.7])
    assert (one.n, one.mean, one.std, one.ci_low) == (1, 0.7, None, None)  # no spread from one
    assert describe([]).n == 0 and describe([]).mean is None


def test_the_median_time_to_target_counts_a_run_that_never_reached_it_as_infinitely_slow() -> None:
    def time(step: int) -> dict[str, float]:
        return {"step": step, "epoch": step / 100, "wall_s": step / 10}

    assert median_time([time(300), time(100), time(200)]) == time(200)
    assert median_time([time(100), None, time(300)]) == time(300)  # [100, 300, inf]
    assert median_time([time(100), time(300)]) == time(200)  # even n: the middle two's mean
    assert median_time([time(100), None, None]) is None  # most never reached: no median
    assert median_time([]) is None


def _row(run: str, seed: int | None, *, status: str = "finished", **values) -> RunRow:
    overrides = ["optimizer=sgd", "trainer.max_epochs=3"]
    if seed is not None:
        overrides.insert(1, f"seed={seed}")
    return RunRow(run=run, overrides=overrides, metric="val/acc", status=status, **values)


def test_runs_that_differ_only_in_seed_form_a_group_and_only_finished_runs_count() -> None:
    rows = [
        _row("0", 1, best_val=0.81, test=0.80),
        RunRow(run="1", overrides=["optimizer=adam", "seed=1"], status="finished", test=0.9),
        _row("2", 2, best_val=0.83, test=0.82),
        _row("3", 3, best_val=0.85, test=0.84),
        _row("4", 4, status="diverged", best_val=0.2, test=None),
        RunRow(run="5"),  # no result and no .hydra/: a group of its own
        RunRow(run="6"),
    ]
    assert group_indices(rows) == [[0, 2, 3, 4], [1], [5], [6]]
    sgd = group_runs(rows)[0]
    assert sgd.n == 3 and sgd.seeds == ["1", "2", "3", "4"]
    assert sgd.overrides == ["optimizer=sgd", "trainer.max_epochs=3"]
    assert sgd.test.mean == pytest.approx(0.82) and sgd.test.std == pytest.approx(0.02)
    assert sgd.best_val.mean == pytest.approx(0.83)  # the diverged run's 0.2 is left out
    assert sgd.status == "3 of 4 finished, 1 diverged"


def test_the_ema_window_grows_with_the_curve() -> None:
    assert ema_beta(20) == 0.0  # a short curve is drawn as logged
    assert ema_beta(1000) == pytest.approx(1 - 2 / (1000 / 20 + 1))  # about 0.96
    assert ema_beta(10**7) == 0.999


# ------------------------------------------------------------------ the sweep summary


def _job(sweep: Path, name: str, seed: int, status: str, test: float, time: dict | None) -> None:
    write_result(
        sweep / name,
        status,
        {"test/acc": test} if status == "finished" else {},
        overrides=[f"optimizer={name.split('-')[1]}", f"seed={seed}", "target=0.8"],
        optimized_metric="val/acc",
        best_value=test + 0.01 if status == "finished" else None,
        epochs=3,
        wall_time_s=10.0,
        target=0.8,
        time_to_target=time,
    )


def test_the_summary_groups_seeds_and_shows_the_time_to_target(tmp_path: Path, capsys) -> None:
    def at(epoch: int) -> dict[str, float]:
        return {"step": 100 * epoch, "epoch": epoch, "wall_s": 4.0 * epoch}

    _job(tmp_path, "0_optimizer-sgd", 1, "finished", 0.80, at(2))
    _job(tmp_path, "1_optimizer-sgd", 2, "finished", 0.82, at(3))
    _job(tmp_path, "2_optimizer-sgd", 3, "finished", 0.84, None)
    _job(tmp_path, "3_optimizer-adam", 1, "finished", 0.86, at(1))
    _job(tmp_path, "4_optimizer-adam", 2, "diverged", math.nan, None)

    summarize_sweep(tmp_path, "val/acc")

    runs = read_csv(tmp_path / "summary.csv")
    assert [r["time_to_target_step"] for r in runs] == ["200", "300", "", "100", ""]
    assert runs[0]["target"] == "0.8" and runs[0]["time_to_target_wall_s"] == "8.000"
    groups = read_csv(tmp_path / "summary_groups.csv")
    assert [g["overrides"] for g in groups] == ["optimizer=sgd", "optimizer=adam"]
    sgd, adam = groups
    assert (sgd["n"], sgd["seeds"], sgd["status"]) == ("3", "1 2 3", "3 finished")
    assert float(sgd["test_mean"]) == pytest.approx(0.82)
    assert float(sgd["test_std"]) == pytest.approx(0.02)
    assert float(sgd["test_ci95_low"]) == pytest.approx(0.82 - 0.0497, abs=1e-4)
    assert float(sgd["test_ci95_high"]) == pytest.approx(0.82 + 0.0497, abs=1e-4)
    assert float(sgd["best_val_mean"]) == pytest.approx(0.83)
    assert sgd["reached"] == "2/3" and sgd["time_to_target_step_median"] == "300"
    assert adam["n"] == "1" and adam["test_std"] == "" and adam["test_ci95_low"] == ""
    assert adam["status"] == "1 of 2 finished, 1 diverged"

    markdown = (tmp_path / "summary.md").read_text()
    assert "| time to target | status |" in markdown  # the per-run table
    assert "| ep 2, step 200, 8.0 s | finished |" in markdown
    assert "| not reached | finished |" in markdown
    assert "| time to target (median) | status |" in markdown  # the group table
    line = next(x for x in markdown.splitlines() if x.startswith("| optimizer=sgd | val/acc | 3"))
    assert "| 0.8200 | 0.0200 | [0.7703, 0.8697] |" in line
    assert "| ep 3, step 300, 12.0 s (2/3 reached) | 3 finished |" in line
    assert markdown in capsys.readouterr().out


def test_a_summary_without_repeated_settings_or_targets_is_unchanged(tmp_path: Path) -> None:
    for index, optimizer in enumerate(("sgd", "adam")):
        write_result(
            tmp_path / f"{index}_optimizer-{optimizer}",
            "finished",
            {"test/acc": 0.8},
            overrides=[f"optimizer={optimizer}"],
        )
    summarize_sweep(tmp_path, "val/acc")
    assert not (tmp_path / "summary_groups.csv").exists()
    assert list(read_csv(tmp_path / "summary.csv")[0])[-1] == "status"
    assert "time to target" not in (tmp_path / "summary.md").read_text()


# ------------------------------------------------------------------ compare_runs on a sweep


@pytest.fixture(scope="module")
def seed_sweep(tiny_fashion_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep: sgd and adam, seeds 1 and 2, 2 short epochs, a target every run reaches."""
    log_dir = tmp_path_factory.mktemp("seeds")
    result = run_script(
        "train.py",
        "-m",
        "optimizer=sgd,adam",
        "seed=1,2",
        "target=0.0",
        f"datamodule.data_dir={tiny_fashion_dir}",
        "datamodule.system_dir=null",
        "datamodule.download=false",
        "datamodule.val_size=100",
        "trainer.accelerator=cpu",
        f"paths.log_dir={log_dir}",
        "debug=default",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (log_dir / "debug" / "multiruns").iterdir()
    return sweep


def _script():
    spec = importlib.util.spec_from_file_location("compare_runs", ROOT / "scripts/compare_runs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def test_the_sweep_summary_of_real_runs_has_the_groups(seed_sweep: Path) -> None:
    groups = read_csv(seed_sweep / "summary_groups.csv")
    assert [(g["overrides"], g["n"], g["seeds"]) for g in groups] == [
        ("optimizer=sgd", "2", "1 2"),
        ("optimizer=adam", "2", "1 2"),
    ]
    first_job = next(seed_sweep.glob("0_*"))
    steps_per_epoch = json.loads((first_job / "result.json").read_text())["steps"] // 2
    for group in groups:  # 0.0 is reached at the first validation: the end of epoch 1
        assert group["reached"] == "2/2" and group["time_to_target_epoch_median"] == "1"
        assert group["time_to_target_step_median"] == str(steps_per_epoch)
        assert float(group["test_ci95_low"]) <= float(group["test_mean"])


def test_compare_runs_groups_seeds_and_no_group_shows_every_run(
    seed_sweep: Path, tmp_path: Path, capsys
) -> None:
    script = _script()
    capsys.readouterr()
    assert script.main([str(seed_sweep), "--out", str(tmp_path / "g")]) == 0
    grouped = capsys.readouterr().out
    assert grouped.startswith("| overrides | metric | n | seeds | best val mean |")
    assert "| optimizer=sgd | val/acc | 2 | 1 2 |" in grouped
    assert "(2/2 reached) | 2 finished |" in grouped
    assert "0_optimizer-sgd" not in grouped  # one row per group, not per run
    assert f"groups: {tmp_path / 'g' / 'comparison_groups.csv'} (2 groups" in grouped
    both = (tmp_path / "g" / "comparison.md").read_text()
    assert both.index("| run | overrides |") < both.index("| overrides | metric | n |")
    assert len(read_csv(tmp_path / "g" / "comparison.csv")) == 4  # every run, still

    assert script.main([str(seed_sweep), "--out", str(tmp_path / "r"), "--no-group"]) == 0
    ungrouped = capsys.readouterr().out
    assert ungrouped.startswith("| run | overrides | metric | best val | test |")
    assert ungrouped.count("| finished |") == 4
    assert "| optimizer=sgd seed=1 |" in ungrouped and "| ep 1, step " in ungrouped
    assert "groups:" not in ungrouped and not (tmp_path / "r" / "comparison_groups.csv").exists()

    # the figures: both drawn; the grouped one has bands, so it differs from one line per run
    pictures = [matplotlib.image.imread(tmp_path / d / "comparison.png") for d in ("g", "r")]
    assert all(p[..., :3].std() > 0.05 for p in pictures)
    assert (pictures[0] != pictures[1]).any()
