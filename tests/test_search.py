"""Optuna searches (hparams_search=..., optimlab.search): studies that persist and go on, two
processes on one study, pruning, trials side by side, a killed search, bad input refused."""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from helpers import sweep_job_overrides
from helpers.cli import run_script, start_script
from optimlab.errors import ConfigError
from optimlab.search.space import parse_space
from optimlab.search.storage import open_storage, open_study

COMPLETE, FAIL, PRUNED = (optuna.trial.TrialState[s] for s in ("COMPLETE", "FAIL", "PRUNED"))
OPTUNA_2_STUDY = Path(__file__).parent / "data" / "optuna_2_10_study.sql"


def run_cli(*args: str):
    return run_script("train.py", *args, timeout=600)


def load(log_dir: Path, name: str = "sgd_tpe-fashion_mnist-lenet") -> optuna.Study:
    storage = f"sqlite:///{log_dir / 'optuna' / name}.db"
    return optuna.load_study(study_name=name, storage=storage)


def summary(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "summary.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def sweeps(log_dir: Path) -> list[Path]:
    return sorted((log_dir / "debug" / "multiruns").iterdir())


def test_a_study_persists_goes_on_when_rerun_and_fails_diverged_trials(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    search = ["-m", "hparams_search=sgd_tpe", *sweep_job_overrides(tiny_fashion_dir, tmp_path)]
    first = run_cli(*search, "hydra.sweeper.n_trials=3")
    assert first.returncode == 0, first.stderr[-3000:]
    trials = load(tmp_path).trials
    assert [t.state for t in trials] == [COMPLETE] * 3
    assert all(0 <= t.value <= 1 for t in trials)  # val/acc of best.ckpt, maximized
    assert set(trials[0].params) == {
        "optimizer.lr",
        "optimizer.momentum",
        "optimizer.weight_decay",
        "scheduler",
    }
    assert all(list(t.intermediate_values) == [1] for t in trials)  # epoch 1 was reported
    (first_sweep,) = sweeps(tmp_path)
    assert [r["status"] for r in summary(first_sweep)] == ["finished"] * 3
    runs = sorted(p for p in first_sweep.iterdir() if p.is_dir())
    assert [p.name.split("_", 1)[0] for p in runs] == ["0", "1", "2"]  # named by trial number
    best = [json.loads((run / "result.json").read_text()) for run in runs]
    assert [t.value for t in trials] == pytest.approx([r["best_value"] for r in best])
    assert [t.user_attrs["run_dir"] for t in trials] == [str(p) for p in runs]
    results = (first_sweep / "optimization_results.yaml").read_text()
    assert "best_params:" in results and "complete: 3" in results

    # the same command again, with a learning rate that makes every trial diverge (fixed
    # values on the command line leave the search space)
    second = run_cli(*search, "hydra.sweeper.n_trials=2", "optimizer.lr=1e12", "scheduler=none")
    assert second.returncode == 0, second.stderr[-3000:]
    study = load(tmp_path)
    assert [t.state for t in study.trials] == [COMPLETE] * 3 + [FAIL, FAIL]  # went on after one
    assert study.best_value == max(t.value for t in trials)  # the failures did not count
    assert len(sweeps(tmp_path)) == 2  # a new sweep directory, the same study
    assert [r["status"] for r in summary(sweeps(tmp_path)[1])] == ["diverged"] * 2
    assert "continuing after 3 trials" in second.stderr + second.stdout


@pytest.mark.parametrize("sampler", ["gp", "cmaes", "grid"])
def test_each_sampler_runs_a_search_and_the_grid_stops_when_it_is_done(
    tiny_fashion_dir: Path, tmp_path: Path, sampler: str
) -> None:
    grid = ["optimizer.lr=choice(0.01,0.1)", "optimizer.momentum=choice(0.0,0.9)"]
    # a range where no trial diverges, and no pruner: every trial must complete
    ranges = ["optimizer.lr=interval(0.001,0.05)", "optimizer.momentum=interval(0.0,0.9)"]
    result = run_cli(
        "-m",
        "hparams_search=sgd_tpe",
        f"hydra/sweeper/sampler={sampler}",
        "hydra/sweeper/pruner=none",
        *sweep_job_overrides(tiny_fashion_dir, tmp_path),
        *(grid if sampler == "grid" else ranges),
        "optimizer.weight_decay=0",
        "scheduler=none",
        "hydra.sweeper.n_trials=6",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trials = load(tmp_path).trials
    assert all(t.state == COMPLETE for t in trials)
    if sampler == "grid":  # 4 points: done after 4 of the 6 trials asked for
        assert sorted(
            (t.params["optimizer.lr"], t.params["optimizer.momentum"]) for t in trials
        ) == [(0.01, 0.0), (0.01, 0.9), (0.1, 0.0), (0.1, 0.9)]
    else:
        assert len(trials) == 6


def test_a_study_in_memory_runs_its_trials_in_this_process_and_they_report(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    search = ["-m", "hparams_search=sgd_tpe", *sweep_job_overrides(tiny_fashion_dir, tmp_path)]
    result = run_cli(*search, "hydra.sweeper.storage=null", "hydra.sweeper.n_trials=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(tmp_path.rglob("*.db"))
    (sweep,) = sweeps(tmp_path)
    assert [r["status"] for r in summary(sweep)] == ["finished"] * 2
    results = (sweep / "optimization_results.yaml").read_text()
    assert "complete: 2" in results and "epochs_run: 2" in results


def test_two_processes_running_the_same_search_share_one_study(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    search = ["-m", "hparams_search=sgd_tpe", *sweep_job_overrides(tiny_fashion_dir, tmp_path)]
    started = [start_script("train.py", *search, "hydra.sweeper.n_trials=3") for _ in range(2)]
    done = [process.wait(600) for process in started]  # both from a new database at once
    for process in done:
        assert process.returncode == 0, process.stderr[-3000:]
        assert "locked" not in process.stderr
    trials = load(tmp_path).trials
    assert sorted(t.number for t in trials) == list(range(6))  # none lost, none twice
    assert [t.state for t in trials] == [COMPLETE] * 6
    assert len({t.user_attrs["pid"] for t in trials}) == 2
    assert len(sweeps(tmp_path)) == 2  # each process has its own sweep directory


def test_the_pruner_stops_a_trial_whose_curve_is_clearly_worse(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    search = [
        "-m",
        "hparams_search=optuna",
        "optimizer=adam",
        "optimized_metric=val/loss",
        *sweep_job_overrides(tiny_fashion_dir, tmp_path),
        "trainer.max_epochs=3",
        "hydra/sweeper/sampler=random",
        "hydra.sweeper.pruner.n_startup_trials=1",  # the median is of this first trial
        "hydra.sweeper.pruner.n_warmup_steps=0",
        "hydra.sweeper.n_trials=1",
    ]
    good = run_cli(*search, "optimizer.lr=interval(0.01,0.01)")
    assert good.returncode == 0, good.stderr[-3000:]
    bad = run_cli(*search, "optimizer.lr=interval(1e-9,1e-9)")  # the loss cannot move
    assert bad.returncode == 0, bad.stderr[-3000:]

    first, second = load(tmp_path, "optuna-fashion_mnist-lenet").trials
    assert first.state == COMPLETE and list(first.intermediate_values) == [1, 2, 3]
    assert second.state == PRUNED
    assert list(second.intermediate_values) == [1]  # stopped at once, after epoch 1
    assert second.intermediate_values[1] > first.intermediate_values[1]
    assert second.user_attrs["epochs"] == 1 and second.user_attrs["status"] == "pruned"
    assert "epochs_run: 1" in (sweeps(tmp_path)[1] / "optimization_results.yaml").read_text()
    (row,) = summary(sweeps(tmp_path)[1])
    assert row["status"] == "pruned" and row["epochs"] == "1"
    result = json.loads((Path(second.user_attrs["run_dir"]) / "result.json").read_text())
    assert result["status"] == "pruned" and "pruned after epoch 1" in result["reason"]


def test_trials_run_side_by_side_with_the_parallel_launcher_and_report_from_there(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    """Trials of different lengths on 2 workers: the third starts as soon as one of the
    first two ends, while the other still runs (a batch of 2 would wait for both)."""
    search = [
        "-m",
        "hparams_search=sgd_tpe",
        "hydra/launcher=parallel",  # 2 workers: 2 trials at once
        "hydra/sweeper/sampler=grid",
        *sweep_job_overrides(tiny_fashion_dir, tmp_path),
        "trainer.max_epochs=choice(1,4,8,12)",  # every trial a different length
        "optimizer.lr=0.01",
        "optimizer.momentum=0.9",
        "optimizer.weight_decay=0",
        "scheduler=none",
        "hydra.sweeper.n_trials=4",
    ]
    result = run_cli(*search)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = sorted(load(tmp_path).trials, key=lambda t: t.datetime_start)
    assert [t.state for t in trials] == [COMPLETE] * 4
    first, second, third = trials[:3]
    assert second.datetime_start < first.datetime_complete  # side by side
    assert third.datetime_start < max(first.datetime_complete, second.datetime_complete)
    # the runs, in the worker processes, reported each epoch to the study's storage
    for trial in trials:
        epochs = trial.params["trainer.max_epochs"]
        assert list(trial.intermediate_values) == list(range(1, epochs + 1))
    assert len(summary(sweeps(tmp_path)[0])) == 4


def test_a_search_killed_mid_trial_continues_and_marks_that_trial_failed(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    search = ["-m", "hparams_search=sgd_tpe", *sweep_job_overrides(tiny_fashion_dir, tmp_path)]
    endless = start_script("train.py", *search, "trainer.max_epochs=100000")
    database = tmp_path / "optuna" / "sgd_tpe-fashion_mnist-lenet.db"
    deadline = time.monotonic() + 120
    while not _has_running_trial_with_a_run_dir(database):
        assert time.monotonic() < deadline, "the first trial never started"
        time.sleep(0.2)
    os.kill(endless.pid, signal.SIGKILL)  # no chance to tidy up: as a crash or kill -9
    endless.wait(60)

    again = run_cli(*search, "hydra.sweeper.n_trials=1")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[0] were killed mid-run: marked failed" in again.stderr + again.stdout
    assert [t.state for t in load(tmp_path).trials] == [FAIL, COMPLETE]


def _has_running_trial_with_a_run_dir(database: Path) -> bool:
    if not database.exists():
        return False
    try:
        with sqlite3.connect(database) as db:
            running = db.execute("select count(*) from trials where state = 'RUNNING'")
            return running.fetchone()[0] > 0 and any(database.parent.parent.rglob("0_*"))
    except sqlite3.OperationalError:  # the tables are being created
        return False


# ------------------------------------------------------------------ refused before a trial


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        (["optimized_metric=val/accuracy"], "val/accuracy"),
        (["optimizer.lrr=interval(0.1,1)"], "optimizer.lrr names no config key"),
        (["hydra/sweeper/sampler=grid"], "sampler=grid needs choice() or range()"),
        (["hydra.sweeper.direction=upwards"], "must be minimize or maximize"),
        (["hydra.sweeper.storage=null", "hydra/launcher=parallel"], "storage=null keeps"),
        # lenet_10ep sets TPE's n_startup_trials, which random search does not have
        (["hydra/sweeper/sampler=random"], "n_startup_trials is not a setting of RandomSampler"),
    ],
)
def test_bad_search_input_is_refused_in_one_line_before_the_first_trial(
    tiny_fashion_dir: Path, tmp_path: Path, overrides: list[str], says: str
) -> None:
    search_config = "lenet_10ep" if "sampler=random" in overrides[0] else "sgd_tpe"
    search = [
        "-m",
        f"hparams_search={search_config}",
        *sweep_job_overrides(tiny_fashion_dir, tmp_path),
    ]
    refused = run_cli(*search, *overrides)
    assert refused.returncode == 2, refused.stderr[-3000:]
    (line,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert says in line and "Traceback" not in refused.stderr
    assert not (tmp_path / "debug").exists()  # no sweep directory, no trial
    assert not list(tmp_path.rglob("*.db"))


def test_a_choice_whose_options_changed_is_refused_for_the_same_study(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    search = ["-m", "hparams_search=sgd_tpe", *sweep_job_overrides(tiny_fashion_dir, tmp_path)]
    assert run_cli(*search, "hydra.sweeper.n_trials=1").returncode == 0
    refused = run_cli(*search, "scheduler=choice(none,one_cycle)")
    assert refused.returncode == 2, refused.stderr[-3000:]
    (line,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert "scheduler was searched over choice(none, cosine, cosine_warmup)" in line
    assert "hydra.sweeper.study_name" in line
    assert len(load(tmp_path).trials) == 1 and len(sweeps(tmp_path)) == 1


def test_a_study_written_by_optuna_2_is_refused_with_the_command_that_upgrades_it(
    tiny_fashion_dir: Path, tmp_path: Path
) -> None:
    database = tmp_path / "optuna" / "sgd_tpe-fashion_mnist-lenet.db"
    database.parent.mkdir()
    with sqlite3.connect(database) as db:
        db.executescript(OPTUNA_2_STUDY.read_text())
    before = database.read_bytes()
    search = ["-m", "hparams_search=sgd_tpe", *sweep_job_overrides(tiny_fashion_dir, tmp_path)]
    refused = run_cli(*search, "hydra.sweeper.n_trials=1")
    assert refused.returncode == 2, refused.stderr[-3000:]
    (line,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    url = f"sqlite:///{database}"
    assert f"optuna storage upgrade --storage {url}" in line
    assert database.read_bytes() == before  # not touched

    # the documented command upgrades it; then the search continues the old study
    upgraded = run_script_module("optuna", "storage", "upgrade", "--storage", url)
    assert upgraded.returncode == 0, upgraded.stderr
    again = run_cli(*search, "hydra.sweeper.n_trials=1")
    assert again.returncode == 0, again.stderr[-3000:]
    values = [t.value for t in load(tmp_path).trials]
    assert values[:2] == [0.8, 0.81] and len(values) == 3


def run_script_module(*args: str) -> subprocess.CompletedProcess[str]:
    """A console script of this environment (optuna's CLI), as a user would run it."""
    command = [str(Path(sys.executable).with_name(args[0])), *args[1:]]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


# ------------------------------------------------------------------ the space, in-process


def test_the_space_reads_hydras_sweep_syntax_and_a_command_line_value_fixes_a_key() -> None:
    space = parse_space(
        {
            "optimizer.lr": "tag(log, interval(1e-4, 1e-1))",
            "datamodule.batch_size": "choice(64, 128, 256)",
            "model.width": "range(16, 129, 16)",
            "optimizer.momentum": "interval(0.0, 0.99)",
        },
        ["optimizer.momentum=0.9", "trainer.max_epochs=3"],
    )
    lr = space.distributions["optimizer.lr"]
    assert (lr.low, lr.high, lr.log) == (1e-4, 1e-1, True)
    assert space.distributions["datamodule.batch_size"].choices == (64, 128, 256)
    width = space.distributions["model.width"]
    assert (width.low, width.high, width.step) == (16, 128, 16)  # Hydra's range ends before 129
    assert space.fixed == {"optimizer.momentum": "0.9", "trainer.max_epochs": "3"}
    corners = space.corners()
    assert len(corners) == 3  # the most choices any parameter has
    assert {c[-3] for c in corners} == {"optimizer.lr=0.0001", "optimizer.lr=0.1"}
    assert {c[-2] for c in corners} == {f"datamodule.batch_size={b}" for b in (64, 128, 256)}
    with pytest.raises(ConfigError, match=r"model\.width"):
        parse_space({"model.width": "interval(1, 2)", "x": "choice(1, 2)"}, []).grid()
    assert parse_space({"a": "choice(x, y)", "b": "range(1, 4)"}, []).grid() == {
        "a": ["x", "y"],
        "b": [1, 2, 3],
    }


def test_an_in_memory_storage_needs_no_url_and_a_sqlite_one_waits_for_locks(
    tmp_path: Path,
) -> None:
    assert isinstance(open_storage(None, None, None), optuna.storages.InMemoryStorage)
    storage = open_storage(f"sqlite:///{tmp_path / 's.db'}", 60, 180)
    assert storage.engine_kwargs["connect_args"]["timeout"] >= 30
    assert storage.heartbeat_interval == 60 and storage.grace_period == 180


def _open_at_once(url: str, barrier, results) -> None:
    barrier.wait()  # every process creates the new database at the same moment
    try:
        storage = open_storage(url, 60, 180)
        sampler, pruner = optuna.samplers.RandomSampler(), optuna.pruners.NopPruner()
        open_study("s", storage, sampler, pruner, "maximize")
        results.put("ok")
    except Exception as error:  # the test reports whatever went wrong
        results.put(repr(error))


def test_processes_creating_one_new_database_at_once_all_get_the_study(tmp_path: Path) -> None:
    """SQLite races between processes: tables, alembic's version row, the study itself."""
    context = multiprocessing.get_context("fork")
    outcomes = []
    for attempt in range(5):  # without the retries, about 1 in 3 attempts loses a process
        url = f"sqlite:///{tmp_path / f'{attempt}.db'}"
        barrier, results = context.Barrier(4), context.Queue()
        processes = [
            context.Process(target=_open_at_once, args=(url, barrier, results)) for _ in range(4)
        ]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        outcomes += [results.get(timeout=10) for _ in processes]
    assert outcomes == ["ok"] * 20
