"""The 2-D trajectory demos reproduce D2L ch. 11's printed end points with torch's optimizers."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from helpers import CONF_DIR
from helpers.cli import run_script
from optimlab.viz import (
    describe_optimizer,
    divergence,
    format_end,
    run_from_config,
    run_trajectory,
    view_limits,
    write_csv,
)


def optimizer_cfg(name: str, **overrides: Any) -> dict[str, Any]:
    """conf/optimizer/<name>.yaml with overrides, as ``optimizer=<name> optimizer.k=v`` gives."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "optimizer" / f"{name}.yaml"))
    return {**cfg, **overrides}


EPS_IN_ROOT = "optimlab.optim.RMSpropEpsInRoot"

# (D2L ch. 11 demo, optimizer config, function, its printed "epoch 20" line)
D2L_END_POINTS = [
    ("gd eta 0.4", optimizer_cfg("sgd", lr=0.4), "elliptic", (-0.943467, -0.000073)),
    ("gd eta 0.6", optimizer_cfg("sgd", lr=0.6), "elliptic", (-0.387814, -1673.365109)),
    (
        "momentum 0.6/0.5",
        optimizer_cfg("momentum", lr=0.6, momentum=0.5),
        "elliptic",
        (0.007188, 0.002553),
    ),
    (
        "momentum 0.6/0.25",
        optimizer_cfg("momentum", lr=0.6, momentum=0.25),
        "elliptic",
        (-0.126340, -0.186632),
    ),
    (
        "rmsprop 0.4/0.9",
        optimizer_cfg("rmsprop", lr=0.4, alpha=0.9, _target_=EPS_IN_ROOT),
        "elliptic",
        (-0.010599, 0.000000),
    ),
    (
        "adagrad 0.4",
        optimizer_cfg("adagrad", lr=0.4, eps=0.0, initial_accumulator_value=1e-6),
        "elliptic",
        (-2.382563, -0.158591),
    ),
    (
        "adagrad 2",
        optimizer_cfg("adagrad", lr=2.0, eps=0.0, initial_accumulator_value=1e-6),
        "elliptic",
        (-0.002295, -0.000000),
    ),
    ("gd eta 0.1 steep", optimizer_cfg("sgd", lr=0.1), "elliptic_steep", (-0.057646, -0.000073)),
]


@pytest.mark.parametrize(
    ("cfg", "function", "expected"),
    [case[1:] for case in D2L_END_POINTS],
    ids=[case[0] for case in D2L_END_POINTS],
)
def test_d2l_end_points_to_six_decimals(
    cfg: dict[str, Any], function: str, expected: tuple[float, float]
) -> None:
    path = run_trajectory(cfg, function, start=(-5, -2), steps=20)
    assert path.shape == (21, 2)
    assert path[0].tolist() == [-5.0, -2.0]
    x1, x2 = path[-1].tolist()
    assert (round(x1, 6), round(x2, 6)) == expected
    assert format_end(path) == f"step 20, x1: {expected[0]:f}, x2: {expected[1]:f}"


@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_torch_rmsprop_misses_d2l_in_the_sixth_decimal(eps: float) -> None:
    """torch adds eps outside the root: the documented reason for RMSpropEpsInRoot."""
    cfg = optimizer_cfg("rmsprop", lr=0.4, alpha=0.9, eps=eps)
    x1, x2 = run_trajectory(cfg, "elliptic")[-1].tolist()
    assert round(x1, 6) == -0.010598 != -0.010599
    assert abs(x1 - -0.0105986721) < 1e-6 and abs(x2) < 1e-12


def test_float32_drifts_from_d2l_python_floats() -> None:
    path = run_trajectory(optimizer_cfg("sgd", lr=0.6), "elliptic", dtype=torch.float32)
    assert round(float(path[-1, 1]), 6) != -1673.365109
    assert float(path[-1, 1]) == pytest.approx(-1673.365109, rel=1e-5)


def test_eps_in_root_rejects_what_it_does_not_implement() -> None:
    with pytest.raises(ValueError, match="plain RMSprop"):
        run_trajectory(optimizer_cfg("rmsprop", momentum=0.9, _target_=EPS_IN_ROOT), "elliptic")


def test_divergence_names_the_growing_coordinate() -> None:
    diverged = run_trajectory(optimizer_cfg("sgd", lr=0.6), "elliptic")
    message = divergence(diverged, "elliptic")
    assert message is not None and message.startswith("diverged:")
    assert "|x2| grew from 2 to 1673.37" in message and "|x1|" not in message
    assert divergence(run_trajectory(optimizer_cfg("sgd", lr=0.4), "elliptic"), "elliptic") is None


def test_non_finite_paths_are_diverged_and_still_plotted(tmp_path: Path) -> None:
    path = run_trajectory(optimizer_cfg("sgd", lr=1000.0), "elliptic", steps=100)
    assert not torch.isfinite(path[-1]).all()
    message = divergence(path, "elliptic")
    assert message is not None and "non-finite" in message
    (x_lo, x_hi), (y_lo, y_hi) = view_limits(path, "elliptic")
    assert all(math.isfinite(v) for v in (x_lo, x_hi, y_lo, y_hi))
    assert "nan" in format_end(path)
    assert write_csv(path, tmp_path / "p.csv").is_file()


def test_view_of_a_diverging_path_stays_near_start_and_minimum() -> None:
    path = run_trajectory(optimizer_cfg("sgd", lr=0.6), "elliptic")
    (x_lo, x_hi), (y_lo, y_hi) = view_limits(path, "elliptic")
    assert x_lo < -5 and x_hi > 0 and y_lo < -2 and y_hi > 0  # start and minimum in view
    assert y_lo > -5 and y_hi < 5  # not stretched to x2 = -1673


def test_noise_is_seeded() -> None:
    cfg = optimizer_cfg("sgd", lr=0.1)

    def noisy(seed: int) -> torch.Tensor:
        return run_trajectory(cfg, "elliptic_steep", steps=50, noise_std=1.0, seed=seed)

    assert torch.equal(noisy(0), noisy(0))
    assert not torch.equal(noisy(0), noisy(1))
    clean = run_trajectory(cfg, "elliptic_steep", steps=50)
    assert not torch.equal(noisy(0), clean)
    assert torch.equal(clean, run_trajectory(cfg, "elliptic_steep", steps=50, seed=7))


def test_csv_has_a_header_and_one_exact_row_per_point(tmp_path: Path) -> None:
    path = run_trajectory(optimizer_cfg("momentum", lr=0.6, momentum=0.5), "elliptic", steps=5)
    out = write_csv(path, tmp_path / "sub" / "path.csv")
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["step", "x1", "x2"]
    assert [int(row[0]) for row in rows[1:]] == list(range(6))
    read_back = [[float(v) for v in row[1:]] for row in rows[1:]]
    assert torch.equal(torch.tensor(read_back, dtype=torch.float64), path)  # bit for bit


def test_title_lists_the_settings_that_differ_from_the_class_defaults() -> None:
    assert describe_optimizer(optimizer_cfg("momentum", lr=0.6, momentum=0.5)) == (
        "SGD(lr=0.6, momentum=0.5)"
    )
    assert describe_optimizer(optimizer_cfg("adam", lr=0.5)) == "Adam(lr=0.5)"


def test_config_run_writes_png_csv_and_prints_the_d2l_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "trajectories",
            overrides=["optimizer=sgd", "optimizer.lr=0.6", f"output_dir={tmp_path}"],
        )
    GlobalHydra.instance().clear()
    assert (cfg.function, list(cfg.start), cfg.steps, cfg.noise_std) == (
        "elliptic",
        [-5, -2],
        20,
        0,
    )
    result = run_from_config(cfg)
    out = capsys.readouterr().out.splitlines()
    assert "step 20, x1: -0.387814, x2: -1673.365109" in out
    assert any(line.startswith("diverged:") for line in out)
    assert f"png: {tmp_path / 'trajectory.png'}" in out
    assert f"csv: {tmp_path / 'trajectory.csv'}" in out
    assert result.png.read_bytes().startswith(b"\x89PNG")
    assert result.csv.read_text().startswith("step,x1,x2\n")


def test_unknown_function_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="elliptic, elliptic_steep"):
        run_trajectory(optimizer_cfg("sgd"), "rosenbrok")


def test_script_runs_the_d2l_momentum_demo_into_the_hydra_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_script(  # (test_plot_schedules.py starts a script in a fresh interpreter)
        "scripts/trajectories.py",
        "optimizer=momentum",
        "optimizer.lr=0.6",
        "optimizer.momentum=0.5",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "step 20, x1: 0.007188, x2: 0.002553" in lines
    assert f"png: {run_dir / 'trajectory.png'}" in lines
    assert f"csv: {run_dir / 'trajectory.csv'}" in lines
    assert not any(line.startswith("diverged") for line in lines)
    assert (run_dir / "trajectory.png").stat().st_size > 10_000
    assert len((run_dir / "trajectory.csv").read_text().splitlines()) == 22
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # nothing written to the cwd
