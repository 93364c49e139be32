"""Studies: the grid read back from its runs, the best lr chosen on validation, the report's
numbers, the performance profile, and `python train.py -m study=...` run and continued."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from helpers import sweep_job_overrides
from helpers.cli import run_script
from optimlab.analysis.groups import welch_difference
from optimlab.errors import ConfigError
from optimlab.runner.result_file import read_result, write_result
from optimlab.study.grid import best_cells, cells, read_runs
from optimlab.study.profile import profile, ratios
from optimlab.study.report import write_study_report
from optimlab.study.settings import StudySettings, saved_settings

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SETTINGS = StudySettings(name="toy")

# ------------------------------------------------------------------ the statistics


def test_welch_interval_matches_the_hand_computed_one() -> None:
    # means 2 and 5, variances 1 and 1, n 3 and 3: se² = 2/3, Welch df = 4, t(0.975, 4) = 2.7764
    difference = welch_difference([1, 2, 3], [4, 5, 6])
    assert difference is not None
    half = 2.776445 * math.sqrt(2 / 3)
    assert difference.mean == pytest.approx(-3)
    assert difference.ci_low == pytest.approx(-3 - half, abs=1e-5)
    assert difference.ci_high == pytest.approx(-3 + half, abs=1e-5)
    assert difference.resolved


def test_welch_interval_with_unequal_variances_and_too_few_values() -> None:
    # var 1 (n 3) and var 4 (n 2): se² = 1/3 + 2 = 7/3; df = (7/3)² / ((1/3)²/2 + 2²/1) = 1.3457
    difference = welch_difference([1, 2, 3], [0, 2.828427])
    assert difference is not None
    from scipy.stats import t

    half = t.ppf(0.975, (7 / 3) ** 2 / ((1 / 3) ** 2 / 2 + 4)) * math.sqrt(7 / 3)
    assert difference.ci_high - difference.mean == pytest.approx(half, rel=1e-5)
    assert not difference.resolved  # 0.586 ± 19: the two seeds say nothing
    assert welch_difference([1, 2], [3]) is None
    same = welch_difference([1, 1], [1, 1])
    assert same is not None and (same.ci_low, same.ci_high) == (0, 0)


def test_performance_profile_counts_workloads_within_tau_of_the_fastest() -> None:
    times = {
        "w1": {"a": 10.0, "b": 20.0, "c": math.inf},
        "w2": {"a": math.inf, "b": 30.0, "c": 60.0},
        "w3": {"a": math.inf, "b": math.inf, "c": math.inf},  # nobody reached: counts for none
    }
    assert ratios(times)["w1"] == {"a": 1.0, "b": 2.0, "c": math.inf}
    assert ratios(times)["w2"] == {"a": math.inf, "b": 1.0, "c": 2.0}
    taus = [1.0, 1.99, 2.0, 100.0]
    assert profile(times, "a", taus) == [1 / 3, 1 / 3, 1 / 3, 1 / 3]
    assert profile(times, "b", taus) == [1 / 3, 1 / 3, 2 / 3, 2 / 3]
    assert profile(times, "c", taus) == [0, 0, 1 / 3, 1 / 3]
    assert profile(times, "missing", taus) == [0, 0, 0, 0]


# ------------------------------------------------------------------ a study made by hand


def _job(
    study: Path,
    number: int,
    variant: str,
    scale: float,
    seed: int,
    *,
    best_val: float,
    test: float,
    lr: float = 0.1,
    status: str = "finished",
    reached_epoch: int | None = None,
    workload: str | None = None,
    metric: str = "val/acc",
) -> None:
    overrides = [f"seed={seed}", f"optimizer={variant}", f"optimizer.lr_scale={scale:g}"]
    if workload:
        overrides.append(f"experiment={workload}")
    run_dir = study / f"{number}_{variant}-{scale:g}-{seed}-{workload}".replace("/", "-")
    (run_dir / ".hydra").mkdir(parents=True)
    config = {"optimizer": {"lr": lr, "lr_scale": scale}, "optimized_metric": metric}
    (run_dir / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(config))
    (run_dir / ".hydra" / "overrides.yaml").write_text(OmegaConf.to_yaml(overrides))
    test_metric = metric.replace("val/", "test/")
    metrics = {} if status != "finished" else {metric: best_val - 0.01, test_metric: test}
    time = (
        None
        if reached_epoch is None
        else {"step": reached_epoch * 10, "epoch": reached_epoch, "wall_s": reached_epoch * 2.0}
    )
    write_result(
        run_dir,
        status,
        metrics,
        optimized_metric=metric,
        best_value=best_val if status == "finished" else None,
        epochs=3,
        overrides=overrides,
        target=0.8,
        time_to_target=time,
        commit="abc1234",
        machine="toy machine",
    )


def _toy_study(study: Path) -> None:
    """sgd: x1 best on validation (not x3, which tests better); x10 best-looking but a seed
    diverged. adam: x1 only, behind sgd by far more than its spread."""
    n = 0
    for seed in (1, 2):
        for scale, vals, tests in ((1, (0.85, 0.87), (0.70, 0.72)), (3, (0.80, 0.82), (0.9, 0.9))):
            _job(
                study,
                n,
                "sgd",
                scale,
                seed,
                best_val=vals[seed - 1],
                test=tests[seed - 1],
                reached_epoch=seed + 1,
            )
            n += 1
        _job(
            study,
            n,
            "sgd",
            10,
            seed,
            best_val=0.95,
            test=0.95,
            status="finished" if seed == 1 else "diverged",
        )
        n += 1
        _job(study, n, "adam", 1, seed, best_val=0.6, test=0.5 + 0.01 * seed, lr=0.001)
        n += 1
    (study / "multirun.yaml").write_text(OmegaConf.to_yaml({"study": {"name": "toy"}}))


def test_the_best_lr_is_chosen_on_validation_among_lrs_where_no_seed_diverged(
    tmp_path: Path,
) -> None:
    _toy_study(tmp_path)
    grid = cells(read_runs([tmp_path], SETTINGS))
    assert [(c.variant, c.lr_scale, len(c.runs)) for c in grid] == [
        ("sgd", 1, 2),
        ("sgd", 3, 2),
        ("sgd", 10, 2),
        ("adam", 1, 2),
    ]
    chosen = {c.variant: c for c in best_cells(grid, "val/acc")}
    assert chosen["sgd"].lr_scale == 1  # 0.86 validation beats 0.81, whatever the test says
    assert chosen["sgd"].lr == pytest.approx(0.1)
    assert chosen["sgd"].test.mean == pytest.approx(0.71)
    assert chosen["sgd"].time_to_target == {"step": 25.0, "epoch": 2.5, "wall_s": 5.0}
    assert chosen["adam"].lr == pytest.approx(0.001)


def test_report_from_a_small_grid(tmp_path: Path) -> None:
    study = tmp_path / "toy"
    _toy_study(study)
    report = write_study_report([study], tmp_path / "out", SETTINGS)
    text = report.read_text()
    with (tmp_path / "out" / "study.csv").open(newline="") as f:
        rows = {(r["variant"], r["lr_scale"]): r for r in csv.DictReader(f)}
    sgd = rows[("sgd", "1")]
    assert sgd["chosen"] == "yes" and rows[("sgd", "3")]["chosen"] == ""
    assert float(sgd["test_mean"]) == pytest.approx(0.71)
    assert float(sgd["test_std"]) == pytest.approx(math.sqrt(2) * 0.01, rel=1e-4)
    half = 12.706205 * 0.01  # t(0.975, 1) · s / √2 with s = 0.01·√2
    assert float(sgd["test_ci95_low"]) == pytest.approx(0.71 - half, abs=1e-5)
    assert float(sgd["time_to_target_epoch_median"]) == 2.5 and sgd["reached"] == "2/2"
    assert rows[("sgd", "10")]["diverged"] == "1"
    assert "**Best test mean: sgd** (0.7100 ± 0.0141, n = 2, at lr 0.1)" in text
    assert "**Resolved: lower than sgd**: adam" in text
    assert "| sgd | 0.1 (×1) (grid's lowest) |" in text
    assert "diverged (1/2)" in text and "| ×10 |" in text  # the sensitivity table
    assert "commit `abc1234`" in text and "toy machine" in text
    for figure in ("lr_sensitivity.png", "curves.png"):
        assert (tmp_path / "out" / figure).read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "out" / "profile.png").exists()  # one workload: no profile


def test_two_studies_are_two_workloads_of_one_profile(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _toy_study(first)
    _toy_study(second)
    for job in second.iterdir():  # on the second workload adam never reaches the target
        if job.is_dir():
            result = read_result(job) or {}
            if "adam" in job.name:
                continue
            result["time_to_target"] = {"step": 40, "epoch": 4, "wall_s": 8.0}
            (job / "result.json").write_text(json.dumps(result))
    settings = StudySettings(name="both", profile_time="epoch")
    text = write_study_report([first, second], tmp_path / "out", settings).read_text()
    assert "## first: each variant" in text and "## second: each variant" in text
    assert "## Performance profile" in text
    assert "| sgd | 2.5 (r = 1.00) | 4 (r = 1.00) |" in text
    assert "| adam | not reached | not reached |" in text
    assert (tmp_path / "out" / "profile.png").read_bytes()[:8] == PNG_MAGIC
    assert (tmp_path / "out" / "curves_first.png").exists()


def test_one_study_over_several_workloads_names_them_by_workload_key(tmp_path: Path) -> None:
    for number, (workload, variant, epoch) in enumerate(
        [("w/one", "sgd", 2), ("w/one", "adam", 4), ("w/two", "sgd", 6), ("w/two", "adam", 3)]
    ):
        for seed in (1, 2):
            _job(
                tmp_path,
                10 * number + seed,
                variant,
                1,
                seed,
                best_val=0.9,
                test=0.9,
                reached_epoch=epoch,
                workload=workload,
            )
    settings = StudySettings(name="grid", workload_key="experiment", profile_time="epoch")
    runs = read_runs([tmp_path], settings)
    assert sorted({r.workload for r in runs}) == ["w/one", "w/two"]
    text = write_study_report([tmp_path], tmp_path / "out", settings).read_text()
    assert "| sgd | 2 (r = 1.00) | 6 (r = 2.00) |" in text
    assert "| adam | 4 (r = 2.00) | 3 (r = 1.00) |" in text
    assert (tmp_path / "out" / "curves_w_one.png").is_file()
    assert "sensitivity" not in text  # one lr per variant: nothing to be sensitive to
    assert not (tmp_path / "out" / "lr_sensitivity.png").exists()


def test_each_workload_chooses_its_lr_by_its_own_metric(tmp_path: Path) -> None:
    accuracy, loss = tmp_path / "accuracy", tmp_path / "loss"
    for seed in (1, 2):  # accuracy: x3 is better (higher); loss: x3 is better (lower)
        _job(accuracy, seed, "sgd", 1, seed, best_val=0.7, test=0.7)
        _job(accuracy, 10 + seed, "sgd", 3, seed, best_val=0.9, test=0.9)
        _job(loss, seed, "sgd", 1, seed, best_val=0.5, test=0.5, metric="val/loss")
        _job(loss, 10 + seed, "sgd", 3, seed, best_val=0.2, test=0.2, metric="val/loss")
    text = write_study_report([accuracy, loss], tmp_path / "out", SETTINGS).read_text()
    assert "accuracy: `val/acc` (higher is better), loss: `val/loss` (lower is better)" in text
    with (tmp_path / "out" / "study.csv").open(newline="") as f:
        chosen = [(r["workload"], r["lr_scale"]) for r in csv.DictReader(f) if r["chosen"]]
    assert chosen == [("accuracy", "3"), ("loss", "3")]


def test_bad_settings_and_directories_are_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown keys"):
        StudySettings.from_config({"name": "x", "variants": "optimizer"})
    with pytest.raises(ConfigError, match="profile_time"):
        StudySettings.from_config({"name": "x", "profile_time": "hours"})
    with pytest.raises(ConfigError, match=r"no multirun\.yaml"):
        saved_settings(tmp_path)
    done = run_script("scripts/study_report.py", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "give the directory of a study" in done.stderr


# ------------------------------------------------------------------ the real command


def test_a_study_runs_writes_its_report_and_a_rerun_continues_it(
    tmp_path: Path, tiny_fashion_dir: Path
) -> None:
    common = ["-m", "study=fmnist_lenet", "optimizer=sgd,adam", "optimizer.lr_scale=1"]
    common += ["target=0.05", *sweep_job_overrides(tiny_fashion_dir, tmp_path)]
    first = run_script("train.py", *common, "seed=1,2", timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    study = tmp_path / "studies" / "fmnist_lenet"
    report = study / "study.md"
    assert "study report:" in first.stdout and report.is_file()
    assert "2 variants × 1 lr scales (1) × 2 seeds (1, 2); 4 runs: 4 finished" in report.read_text()
    jobs = sorted(p for p in study.iterdir() if p.is_dir())
    assert len(jobs) == 4 and all(p.name.startswith("run_") for p in jobs)
    # a job killed mid-run: its result is gone, its last checkpoint is there
    interrupted = jobs[0]
    (interrupted / "result.json").unlink()
    report.unlink()
    # a larger grid (a third seed): the jobs it shares with the first are found, not rerun
    again = run_script("train.py", *common, "seed=1,2,3", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("already finished: skipped") == 3
    assert f"{interrupted} was interrupted: continuing from" in again.stdout
    assert (read_result(interrupted) or {}).get("status") == "finished"
    assert "× 3 seeds (1, 2, 3); 6 runs: 6 finished" in report.read_text()
    assert len([p for p in study.iterdir() if p.is_dir()]) == 6


def test_the_preflight_checks_a_studys_grid_once_per_setting() -> None:
    from optimlab.runner.preflight import _sweep_job_overrides

    config = OmegaConf.create(
        {
            "hydra": {
                "sweeper": {
                    "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                    "params": {"seed": "1,2,3", "optimizer": "sgd,adam"},
                },
                "overrides": {"task": ["study=toy", "optimizer=adam,muon"]},  # replaces the grid's
            }
        }
    )
    jobs = _sweep_job_overrides(config)
    assert jobs is not None
    assert [[o for o in job if not o.startswith("seed=")] for job in jobs] == [
        ["optimizer=adam", "study=toy"],
        ["optimizer=muon", "study=toy"],
    ]


def test_a_bad_value_in_a_study_grid_is_refused_before_the_first_job(tmp_path: Path) -> None:
    done = run_script(
        "train.py",
        "-m",
        "study=airfoil_mlp",
        "optimizer.lr_scale=1,-1",
        f"paths.log_dir={tmp_path}",
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: optimizer.lr_scale must be")
    assert "(in a sweep job: seed=1 optimizer=sgd optimizer.lr_scale=-1)" in done.stderr
    assert not any(tmp_path.iterdir())
