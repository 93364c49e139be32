"""compare_runs: the table and the figure, from the event files real runs wrote."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import matplotlib.image
import pytest

from helpers import ROOT
from helpers.runs import train
from optimlab.analysis.compare import compare
from optimlab.analysis.events import RunCurves, load_runs
from optimlab.analysis.plots import _points, plot_runs
from optimlab.callbacks.divergence import DivergedError

SHORT = ["trainer.max_epochs=2", "trainer.limit_train_batches=4", "trainer.limit_test_batches=1"]


@pytest.fixture
def runs_dir(compose_train, tmp_path: Path) -> Path:
    """Three real runs: SGD, a diverged SGD (lr 1e12) and a linear regression on airfoil."""
    root = tmp_path / "sweep"
    train(compose_train(*SHORT, output_dir=root / "0_optimizer-sgd"))
    with pytest.raises(DivergedError):
        train(compose_train(*SHORT, "optimizer.lr=1e12", output_dir=root / "1_lr-1e12"))
    airfoil = ["datamodule=airfoil", "model=linear", "optimizer.lr=0.01", "trainer.max_epochs=2"]
    train(compose_train(*airfoil, "trainer.limit_train_batches=10", output_dir=root / "2_airfoil"))
    return root


def test_the_table_and_the_figure_come_from_the_event_files(
    runs_dir: Path, tmp_path: Path, capsys
) -> None:
    runs = load_runs(runs_dir)
    assert [r.name for r in runs] == ["0_optimizer-sgd", "1_lr-1e12", "2_airfoil"]
    sgd = runs[0]
    assert len(sgd.series("train/loss_step")) == 8 and len(sgd.by_epoch("val/acc")) == 2
    assert [epoch for epoch, _ in sgd.by_epoch("val/loss")] == [1, 2]
    assert len(sgd.series("train/lr")) == 8

    result = compare(runs_dir, tmp_path / "out")
    by_run = {row.run: row for row in result.rows}
    ok = by_run["0_optimizer-sgd"]
    assert ok.status == "finished" and ok.metric == "val/acc" and ok.epochs == 2
    assert ok.best_val == pytest.approx(max(v for _, v in sgd.by_epoch("val/acc")))
    assert 0 <= ok.test <= 1 and ok.final_train_loss > 0 and ok.wall_time_s > 0
    bad = by_run["1_lr-1e12"]
    assert bad.status == "diverged" and bad.epochs is None  # no epoch finished
    assert math.isnan(bad.final_train_loss)
    regression = by_run["2_airfoil"]
    assert regression.metric == "val/loss" and regression.test is not None  # test/loss
    assert regression.best_val == pytest.approx(
        min(v for _, v in runs[2].by_epoch("val/loss"))
    )  # a loss: the lowest is best

    header = "| run | overrides | metric | best val | test | final train loss | epochs |"
    assert result.markdown.startswith(header)
    assert (tmp_path / "out" / "comparison.md").read_text() == result.markdown
    lines = (tmp_path / "out" / "comparison.csv").read_text().splitlines()
    assert lines[0].startswith("run,overrides,metric,best_val,test") and len(lines) == 4

    image = matplotlib.image.imread(result.figure)
    height, width = image.shape[:2]
    assert (width, height) == (1320, 880)  # 12 x 8 inches at 110 dpi
    assert image[..., :3].std() > 0.05  # lines were drawn, not a blank canvas

    # the script: prints the table, says where the files are
    spec = importlib.util.spec_from_file_location("compare_runs", ROOT / "scripts/compare_runs.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    capsys.readouterr()  # (what the runs printed)
    assert script.main([str(runs_dir), "--out", str(tmp_path / "figs"), "--name", "cmp"]) == 0
    out = capsys.readouterr().out
    assert "| 0_optimizer-sgd |" in out and "| diverged |" in out
    assert f"figure: {tmp_path / 'figs' / 'cmp.png'}" in out
    assert (tmp_path / "figs" / "cmp.png").stat().st_size > 10_000

    assert script.main([str(tmp_path / "figs")]) == 2  # no event files there
    assert "no TensorBoard event files" in capsys.readouterr().err


def test_nan_and_inf_stay_out_of_the_figure_and_missing_panels_say_so(tmp_path: Path) -> None:
    nan, inf = math.nan, math.inf
    run = RunCurves(
        run_dir=tmp_path,
        name="diverged",
        scalars={
            "train/loss_step": [(0, 2.3), (1, 0.0), (2, inf), (3, nan)],
            "val/loss": [(1, 2.0), (3, nan)],
            "epoch": [(1, 0.0), (3, 1.0)],
        },
    )
    assert _points(run, ("train/loss_step",), "step", log_y=True) == [(0, 2.3)]
    assert _points(run, ("val/loss",), "epoch", log_y=False) == [(1, 2.0)]
    figure = plot_runs([run], ["diverged"], tmp_path / "one.png")
    assert figure.stat().st_size > 10_000  # val accuracy and LR panels read "not logged"
