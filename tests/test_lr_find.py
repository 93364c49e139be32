"""The LR range test: its rules on curves with known answers, its callback, and
scripts/lr_find.py end to end on tiny data."""

from __future__ import annotations

import csv
import itertools
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from helpers import fast_overrides
from helpers.cli import run_script
from optimlab.analysis.lr_find import (
    LossSmoother,
    RangeCurve,
    check_settings,
    lr_sequence,
    minimum_index,
    smooth,
    spread,
    steepest_index,
    steps_until_divergence,
    suggest,
    suggestion_window,
    summary_lines,
    valley_index,
)
from optimlab.errors import ConfigError
from optimlab.runner.lr_find import LRRangeTest
from optimlab.viz.lr_find import CSV_COLUMNS

SETTINGS = {
    "start_lr": 1e-7,
    "end_lr": 10.0,
    "num_steps": 100,
    "beta": 0.98,
    "diverge_factor": 4.0,
    "seeds": None,
}


# ------------------------------------------------------------------ the sweep


def test_the_lr_grows_by_a_constant_factor_from_start_to_end() -> None:
    lrs = lr_sequence(1e-4, 1.0, 5)
    assert lrs == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    ratios = {round(b / a, 9) for a, b in itertools.pairwise(lrs)}
    assert ratios == {10.0}


def test_the_smoothed_loss_is_the_bias_corrected_moving_average() -> None:
    assert smooth([2.0, 2.0, 2.0], 0.98) == pytest.approx([2.0, 2.0, 2.0])  # no pull to 0
    # by hand: avg 0.02 * 1 = 0.02 -> 0.02 / 0.02 = 1; avg 0.98 * 0.02 + 0.02 * 3 = 0.0796
    # -> 0.0796 / (1 - 0.98^2) = 2.0101
    assert smooth([1.0, 3.0], 0.98) == pytest.approx([1.0, 0.0796 / 0.0396])
    assert smooth([1.0, 3.0, 5.0], 0.0) == [1.0, 3.0, 5.0]  # beta 0: the raw loss


def test_the_test_stops_at_the_first_step_past_4x_the_lowest_smoothed_loss() -> None:
    losses = [3.0, 2.0, 1.0, 1.5, 3.0, 4.0, 4.5, 100.0]
    # unsmoothed: 4.5 is the first value above 4 * 1.0
    assert steps_until_divergence(losses, beta=0.0, diverge_factor=4.0) == 7
    assert steps_until_divergence(losses, beta=0.0, diverge_factor=5.0) == 8  # 100 > 5
    assert steps_until_divergence([1.0] * 10, beta=0.9, diverge_factor=4.0) == 10  # never
    assert steps_until_divergence([1.0, 1.0, math.nan, 1.0], 0.98, 4.0) == 3  # NaN stops it
    smoother = LossSmoother(0.98, 4.0)
    smoother.add(1.0)
    assert not smoother.diverged
    smoother.add(math.inf)
    assert smoother.diverged


# ------------------------------------------------------------------ the rules


def test_valley_takes_about_the_middle_of_the_longest_fall() -> None:
    # 5 flat steps, then 12 falling ones (2.9 ... 1.8), then a rise
    losses = [3.0] * 5 + [3.0 - 0.1 * k for k in range(1, 13)] + [2.0 + 0.5 * k for k in range(5)]
    # the longest decreasing subsequence: one 3.0 and the 12 falling values, length 13,
    # ending at index 16; fastai's start is 16 - 13 = 3 and its pick 3 + int(13/3) + int(13/6)
    assert valley_index(losses) == 3 + 4 + 2


def test_valley_prefers_a_long_gentle_fall_to_a_short_steep_one() -> None:
    steep = [5.0, 3.0, 1.0]  # 2 steep steps down
    gentle = [6.0 - 0.05 * k for k in range(30)]  # a jump up, then 29 gentle steps down
    losses = steep + gentle
    # the longest decreasing run is the gentle one, 30 long, ending at index 32: start
    # 32 - 30 = 2, pick 2 + int(30/3) + int(30/6) = 17 (the gentle fall's 15th step)
    assert valley_index(losses) == 17
    lrs = lr_sequence(1e-5, 1.0, len(losses))
    assert steepest_index(lrs, losses) == 0  # 5 -> 3: the steepest segment


def test_a_curve_that_never_falls_gives_the_first_lr() -> None:
    assert valley_index([1.0, 2.0, 3.0, 4.0]) == 0


def test_steepest_slope_is_measured_against_log_lr() -> None:
    lrs = [1e-3, 1e-2, 2e-2, 1e-1]
    losses = [3.0, 2.0, 1.5, 1.0]
    # per unit of log lr: -1/2.30, -0.5/0.69 (the steepest), -0.5/1.61; against lr itself
    # the first segment would be the steepest
    assert steepest_index(lrs, losses) == 1


def test_minimum_over_10_ignores_the_first_tenth_and_the_last_5_steps() -> None:
    n = 40
    lrs = lr_sequence(1e-6, 1.0, n)
    # falls to its lowest at step 25, then rises; a lower value at step 1 (in the first tenth)
    # and at step 37 (in the last 5) must not count
    smoothed = [2.0 - 0.05 * k for k in range(26)] + [0.75 + 0.2 * k for k in range(1, 15)]
    smoothed[1], smoothed[37] = 0.1, 0.1
    curve = RangeCurve(seed=1, lrs=lrs, losses=smoothed, smoothed=smoothed, num_steps=n)
    assert suggestion_window(smoothed, n) == (4, 35)
    assert minimum_index(smoothed[4:35]) == 21
    picked = suggest(curve)
    assert picked.minimum == pytest.approx(lrs[25] / 10)
    assert picked.window == (4, 35)
    assert picked.steepest == lrs[4 + steepest_index(lrs[4:35], smoothed[4:35])]


def test_the_rules_read_nothing_from_the_first_non_finite_loss_on() -> None:
    smoothed = [2.0 - 0.1 * k for k in range(15)] + [math.nan] * 25
    assert suggestion_window(smoothed, 40) == (4, 15)


def test_a_test_that_diverged_at_once_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="lower start_lr"):
        suggestion_window([2.0, 9.0], 100)


def test_the_spread_of_several_seeds_is_taken_on_the_log_scale() -> None:
    three = spread([1e-3, 1e-1, 1e-2])
    assert three.median == pytest.approx(1e-2)  # the middle one
    assert three.geometric_mean == pytest.approx(1e-2)
    assert (three.low, three.high, three.ratio) == (1e-3, 1e-1, pytest.approx(100.0))
    assert spread([1e-3, 1e-1]).median == pytest.approx(1e-2)  # not (1e-3 + 1e-1) / 2


def test_the_summary_ends_with_the_valley_and_suggests_the_median_valley() -> None:
    def picked(valley: float) -> SimpleNamespace:
        values = {"valley": valley, "steepest": 2 * valley, "minimum": valley / 2}
        return SimpleNamespace(of=values.__getitem__)

    lines, chosen = summary_lines({1: picked(0.01), 2: picked(0.04), 3: picked(0.02)})
    assert chosen == pytest.approx(0.02)
    assert [line.split()[0] for line in lines] == ["steepest", "minimum/10", "valley"]
    assert "median 0.02 " in lines[-1] and "min 0.01 " in lines[-1] and "3 seeds" in lines[-1]
    lines, chosen = summary_lines({None: picked(0.05)})
    assert chosen == 0.05 and lines[-1].split() == ["valley", "0.05"]


# ------------------------------------------------------------------ the settings


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_lr": 1.0, "end_lr": 0.1}, "start_lr (1.0) must be below end_lr (0.1)"),
        ({"start_lr": 0.1, "end_lr": 0.1}, "must be below end_lr"),
        ({"start_lr": 0.0}, "start_lr must be a number > 0"),
        ({"num_steps": 9}, "num_steps must be an integer >= 10"),
        ({"seeds": []}, "seeds=[] has no seed"),
        ({"seeds": [1, 1]}, "a seed twice"),
        ({"seeds": 3}, "a list of seeds"),
        ({"beta": 1.0}, "beta must be in [0, 1)"),
        ({"diverge_factor": 1.0}, "diverge_factor must be a number > 1"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(change: dict, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_settings({**SETTINGS, **change})
    assert message in str(refused.value)


def test_good_settings_pass() -> None:
    settings = check_settings({**SETTINGS, "seeds": [1, 2, 3]})
    assert settings.seeds == (1, 2, 3) and len(settings.lrs()) == 100


# ------------------------------------------------------------------ the callback


def _fake_trainer(optimizer: torch.optim.Optimizer) -> SimpleNamespace:
    return SimpleNamespace(optimizers=[optimizer], global_step=0, should_stop=False)


def test_every_parameter_group_keeps_its_ratio_to_optimizer_lr() -> None:
    """lr_multipliers (here 2x for the biases) stay in force: the sweep scales each group."""
    weight, bias = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([{"params": [weight]}, {"params": [bias], "lr": 0.2}], lr=0.1)
    lrs = lr_sequence(1e-3, 1.0, 10)
    callback = LRRangeTest(lrs, beta=0.0, diverge_factor=4.0)
    trainer = _fake_trainer(optimizer)
    callback.on_train_start(trainer, None)
    for step in (0, 4):
        trainer.global_step = step
        callback.on_train_batch_start(trainer, None)
        assert [g["lr"] for g in optimizer.param_groups] == pytest.approx(
            [lrs[step], 2 * lrs[step]]
        )


def test_the_callback_records_each_step_and_stops_when_the_loss_diverges() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1)
    lrs = lr_sequence(1e-3, 1.0, 10)
    callback = LRRangeTest(lrs, beta=0.0, diverge_factor=4.0)
    trainer = _fake_trainer(optimizer)
    callback.on_train_start(trainer, None)
    for step, loss in enumerate([2.0, 1.0, 3.0, 5.0]):
        trainer.global_step = step + 1  # (after the step's optimizer step)
        callback.on_train_batch_end(trainer, None, {"loss": torch.tensor(loss)})
    assert callback.losses == [2.0, 1.0, 3.0, 5.0] and callback.recorded_lrs == lrs[:4]
    assert trainer.should_stop  # 5 > 4 * 1


def test_a_learning_rate_free_optimizer_is_refused() -> None:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=1.0)
    optimizer.param_groups[0]["d"] = 1e-6  # what Prodigy and D-Adaptation keep per group
    with pytest.raises(ConfigError, match="learning-rate-free"):
        LRRangeTest([1.0] * 10, 0.98, 4.0).on_train_start(_fake_trainer(optimizer), None)


# ------------------------------------------------------------------ the script


def _script(tmp_path: Path, data: Path, *overrides: str):
    tiny = [o for o in fast_overrides(data) if not o.startswith("trainer.max_epochs")]
    return run_script(
        "scripts/lr_find.py", *tiny, f"paths.log_dir={tmp_path / 'out'}", *overrides, timeout=300
    )


def _read(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _run_dir(tmp_path: Path) -> Path:
    (run_dir,) = (tmp_path / "out" / "lr_find" / "runs").iterdir()
    return run_dir


def _curves(rows: list[dict[str, str]], num_steps: int) -> dict[str, RangeCurve]:
    seeds = dict.fromkeys(row["seed"] for row in rows)
    return {
        seed: RangeCurve(
            seed=int(seed),
            lrs=[float(r["lr"]) for r in rows if r["seed"] == seed],
            losses=[float(r["loss"]) for r in rows if r["seed"] == seed],
            smoothed=[float(r["smoothed_loss"]) for r in rows if r["seed"] == seed],
            num_steps=num_steps,
        )
        for seed in seeds
    }


def test_the_script_writes_png_and_csv_and_ends_with_the_valley_lr(
    tmp_path: Path, tiny_fashion_dir: Path
) -> None:
    result = _script(tmp_path, tiny_fashion_dir, "num_steps=15", "seed=3")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = _run_dir(tmp_path)
    assert (run_dir / "lr_find.png").stat().st_size > 10_000
    rows = _read(run_dir / "lr_find.csv")
    assert list(rows[0]) == CSV_COLUMNS
    assert [int(r["step"]) for r in rows] == list(range(15)) and {r["seed"] for r in rows} == {"3"}
    (curve,) = _curves(rows, 15).values()
    assert curve.lrs == pytest.approx(lr_sequence(1e-7, 10.0, 15), rel=1e-8)
    assert curve.smoothed == pytest.approx(smooth(curve.losses, 0.98), rel=1e-6)

    lines = result.stdout.splitlines()
    assert re.fullmatch(r"suggested_lr=\d[\d.e+-]*", lines[-1]), lines[-1]
    assert float(lines[-1].split("=")[1]) == pytest.approx(suggest(curve).valley, rel=5e-3)
    rules = [line.split()[0] for line in lines[-4:-1]]
    assert rules == ["steepest", "minimum/10", "valley"]
    assert f"picture: {run_dir / 'lr_find.png'}" in lines


def test_the_test_stops_early_when_the_loss_diverges(tmp_path: Path) -> None:
    """Linear regression on the packaged airfoil data blows up once lr passes ~2/L."""
    result = run_script(
        "scripts/lr_find.py",
        "datamodule=airfoil",
        "model=linear",
        "trainer.accelerator=cpu",
        "callbacks.progress_bar=null",
        "start_lr=1e-4",
        "end_lr=1e3",
        "num_steps=40",
        f"paths.log_dir={tmp_path / 'out'}",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = _read(_run_dir(tmp_path) / "lr_find.csv")
    assert 5 < len(rows) < 40
    (curve,) = _curves(rows, 40).values()
    recorded = steps_until_divergence(curve.losses, beta=0.98, diverge_factor=4.0)
    assert recorded == len(rows)  # it stopped at the first diverged step, not later
    assert f"stopped after {len(rows)} steps" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("suggested_lr=")


def test_seeds_repeat_the_test_and_report_the_spread(
    tmp_path: Path, tiny_fashion_dir: Path
) -> None:
    result = _script(tmp_path, tiny_fashion_dir, "num_steps=12", "seeds=[1,2]")
    assert result.returncode == 0, result.stderr[-3000:]
    curves = _curves(_read(_run_dir(tmp_path) / "lr_find.csv"), 12)
    assert list(curves) == ["1", "2"]
    assert curves["1"].losses != curves["2"].losses  # another model and data order
    valleys = [suggest(curve).valley for curve in curves.values()]
    lines = result.stdout.splitlines()
    assert "2 seeds" in lines[-2] and lines[-2].startswith("valley")
    assert float(lines[-1].split("=")[1]) == pytest.approx(spread(valleys).median, rel=5e-3)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["start_lr=1", "end_lr=0.01"], "must be below end_lr (0.01)"),
        (["num_steps=5"], "num_steps must be an integer >= 10"),
        (["seeds=[]"], "seeds=[] has no seed"),
        (["optimizer.lr=-1"], "optimizer.lr must be > 0"),  # train.py's own checks too
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(
    tmp_path: Path, tiny_fashion_dir: Path, overrides: list[str], message: str
) -> None:
    result = _script(tmp_path, tiny_fashion_dir, *overrides)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "lr_find").exists()  # refused before the run directory


def test_a_learning_rate_free_optimizer_is_one_error_line(
    tmp_path: Path, tiny_fashion_dir: Path
) -> None:
    result = _script(tmp_path, tiny_fashion_dir, "optimizer=prodigy", "num_steps=10")
    assert result.returncode == 2
    assert "learning-rate-free" in result.stderr and "Traceback" not in result.stderr
