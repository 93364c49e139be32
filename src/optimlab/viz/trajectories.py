"""The 2-D optimizer demos of D2L ch. 11 with the real torch optimizers from conf/optimizer/.

A 2-element parameter starts at ``start`` and is stepped ``steps`` times by the optimizer that
``optimlab.optim.build_optimizer`` builds from an optimizer config; the gradient comes from
autograd on the objective. The path is drawn over the objective's contours and saved as CSV.

D2L ch. 11's end points after 20 steps from (-5, -2), each with the overrides that print it
(``python scripts/trajectories.py <overrides>``; ``function=elliptic``, 0.1 x1^2 + 2 x2^2, is
the default):

* gd_2d eta 0.4 -> ``step 20, x1: -0.943467, x2: -0.000073``:
  ``optimizer=sgd optimizer.lr=0.4``
* gd_2d eta 0.6 -> ``x1: -0.387814, x2: -1673.365109`` (x2 diverges):
  ``optimizer=sgd optimizer.lr=0.6``
* momentum_2d eta 0.6 beta 0.5 -> ``x1: 0.007188, x2: 0.002553``:
  ``optimizer=momentum optimizer.lr=0.6 optimizer.momentum=0.5``
* momentum_2d eta 0.6 beta 0.25 -> ``x1: -0.126340, x2: -0.186632``:
  ``optimizer=momentum optimizer.lr=0.6 optimizer.momentum=0.25``
* rmsprop_2d eta 0.4 gamma 0.9 -> ``x1: -0.010599, x2: 0.000000``:
  ``optimizer=rmsprop_eps_in_root optimizer.lr=0.4`` (gamma 0.9 and eps 1e-6 inside the root)
* adagrad_2d eta 0.4 -> ``x1: -2.382563, x2: -0.158591``:
  ``optimizer=adagrad optimizer.lr=0.4 optimizer.eps=0 optimizer.initial_accumulator_value=1e-6``
* adagrad_2d eta 2 -> ``x1: -0.002295, x2: -0.000000``: the same with ``optimizer.lr=2``
* gd_2d eta 0.1 on x1^2 + 2 x2^2 -> ``x1: -0.057646, x2: -0.000073``:
  ``function=elliptic_steep optimizer=sgd optimizer.lr=0.1``

Why the extra overrides (all measured in float64, the default ``dtype``):

* D2L ch. 11 computes in Python floats. In float32 the diverging GD run ends at x2 = -1673.367432
  and momentum beta 0.25 at x2 = -0.186633, so the default dtype is float64.
* momentum: torch's SGD with ``dampening=0`` is D2L ch. 11's v <- beta v + g; w <- w - eta v.
* RMSprop: D2L ch. 11 divides by sqrt(s + 1e-6) (eps inside the root); torch.optim.RMSprop divides
  by sqrt(s) + eps. With eps = 0 torch ends at x1 = -0.010597974, with the config's eps = 1e-6 at
  -0.010598380; both print -0.010598, while D2L ch. 11's x1 is -0.010598672. No eps *outside* the
  root is the same algorithm: eps ~ 2e-6 happens to print -0.010599 (-0.010598786) but that is
  a fit, not D2L ch. 11's rule. ``optimlab.optim.RMSpropEpsInRoot``
  (``optimizer=rmsprop_eps_in_root``) is D2L ch. 11's update (eps inside the root) as a torch
  optimizer; with it the end point is within 1e-17 of D2L ch. 11's.
* Adagrad: D2L ch. 11 also puts eps inside the root, sqrt(s + 1e-6). Because Adagrad's s only
  accumulates, starting s at 1e-6 (``initial_accumulator_value=1e-6``) with ``eps=0`` is exactly
  that update (bit for bit here); adagrad.yaml's eps = 1e-6 outside the root prints -2.382564,
  eps = 0 alone -2.382562.

D2L ch. 11's noisy-gradient SGD (gradient + N(0, 1) per coordinate, eta 0.1, x1^2 + 2 x2^2,
50 steps) is ``function=elliptic_steep optimizer.lr=0.1 steps=50 noise_std=1``: noise is a knob on
any optimizer and objective rather than a separate objective, seeded by ``seed``. Its end points
are random draws, so D2L ch. 11's printed numbers are not reproducible.
"""

from __future__ import annotations

import csv
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import get_class
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from omegaconf import DictConfig

from optimlab.config import to_plain
from optimlab.errors import ConfigError
from optimlab.optim import build_optimizer

DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class Objective:
    """A 2-D test function: ``fn`` maps a tensor of shape (2, ...) to f, elementwise."""

    name: str
    formula: str
    fn: Callable[[torch.Tensor], torch.Tensor]
    minimum: tuple[float, float] = (0.0, 0.0)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


OBJECTIVES: dict[str, Objective] = {
    objective.name: objective
    for objective in (
        # D2L ch. 11's f_2d for momentum, Adagrad and RMSprop: condition number 20
        Objective("elliptic", "0.1 x1² + 2 x2²", lambda x: 0.1 * x[0] ** 2 + 2 * x[1] ** 2),
        # D2L ch. 11's f_2d for plain gradient descent and the noisy-gradient SGD
        Objective("elliptic_steep", "x1² + 2 x2²", lambda x: x[0] ** 2 + 2 * x[1] ** 2),
    )
}


def get_objective(function: str | Objective) -> Objective:
    """The registered objective called ``function`` (a clear error names the choices)."""
    if isinstance(function, Objective):
        return function
    if function not in OBJECTIVES:
        raise ConfigError(f"unknown function {function!r}; choose one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[function]


def run_trajectory(
    optimizer_cfg: Mapping[str, Any],
    function: str | Objective = "elliptic",
    start: Sequence[float] = (-5.0, -2.0),
    steps: int = 20,
    noise_std: float = 0.0,
    seed: int | None = 0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The optimizer's path from ``start``: shape (steps + 1, 2), row 0 is ``start``.

    Each step takes the autograd gradient of ``function``, adds N(0, noise_std²) per coordinate
    when ``noise_std > 0`` (drawn from a generator seeded with ``seed``, so a path is
    repeatable), then calls the optimizer's ``step``. Non-finite values are kept, not raised.
    """
    objective = get_objective(function)
    if len(start) != 2:
        raise ConfigError(f"start must be two numbers (x1, x2), got {list(start)}")
    if steps < 0:
        raise ConfigError(f"steps must be >= 0, got {steps}")
    if noise_std < 0:
        raise ConfigError(f"noise_std must be >= 0, got {noise_std}")
    x = torch.nn.Parameter(torch.tensor([float(v) for v in start], dtype=dtype))
    optimizer = build_optimizer(to_plain(optimizer_cfg), [x])
    generator = torch.Generator()
    if seed is None:
        generator.seed()
    else:
        generator.manual_seed(int(seed))
    path = [x.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        objective(x).backward()
        if noise_std > 0:
            noise = torch.randn(2, generator=generator, dtype=dtype)
            x.grad.add_(noise, alpha=noise_std)
        optimizer.step()
        path.append(x.detach().clone())
    return torch.stack(path)


def divergence(path: torch.Tensor, function: str | Objective) -> str | None:
    """Why the path counts as diverged (non-finite, or f ended above its start), else None."""
    objective = get_objective(function)
    finite = torch.isfinite(path).all(dim=1)
    if not finite.all():
        first = int((~finite).nonzero()[0])
        return f"diverged: non-finite x from step {first} on"
    f_start, f_end = float(objective(path[0])), float(objective(path[-1]))
    if f_end <= f_start:
        return None
    minimum = torch.tensor(objective.minimum, dtype=path.dtype)
    before, after = (path[0] - minimum).abs(), (path[-1] - minimum).abs()
    grew = [
        f"|x{i + 1}| grew from {float(before[i]):g} to {float(after[i]):g}"
        for i in range(2)
        if after[i] > before[i]
    ]
    detail = f" ({', '.join(grew)})" if grew else ""
    return f"diverged: f rose from {f_start:g} to {f_end:g}{detail}"


def describe_optimizer(optimizer_cfg: Mapping[str, Any]) -> str:
    """``SGD(lr=0.6, momentum=0.5)``: the class and the settings that differ from its defaults.

    Listing every key of the config would bury the ones the run is about; ``lr`` is always
    shown.
    """
    cfg = to_plain(optimizer_cfg)
    target = str(cfg.get("_target_", "?"))
    try:
        defaults = {
            name: p.default
            for name, p in inspect.signature(get_class(target)).parameters.items()
            if p.default is not inspect.Parameter.empty
        }
    except Exception:  # an unimportable target still gets a title
        defaults = {}
    shown = [
        f"{key}={_short(value)}"
        for key, value in cfg.items()
        if not key.startswith("_")
        and (key == "lr" or key not in defaults or _same(value) != _same(defaults[key]))
    ]
    return f"{target.rsplit('.', 1)[-1]}({', '.join(shown)})"


def _same(value: Any) -> Any:
    """Lists as tuples, so a config's ``betas: [0.9, 0.999]`` equals the default (0.9, 0.999)."""
    return tuple(value) if isinstance(value, list) else value


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    return str(value)


def format_end(path: torch.Tensor) -> str:
    """D2L ch. 11's printout for the last point: ``step 20, x1: -0.943467, x2: -0.000073``."""
    x1, x2 = (_fixed(float(v)) for v in path[-1])
    return f"step {len(path) - 1}, x1: {x1}, x2: {x2}"


def _fixed(x: float) -> str:
    """6 decimals like D2L ch. 11; exponent form once a diverged value would print 100 digits."""
    return f"{x:f}" if not math.isfinite(x) or abs(x) < 1e9 else f"{x:.6e}"


def write_csv(path: torch.Tensor, out: str | Path) -> Path:
    """``step,x1,x2`` rows; floats written with repr so they read back bit for bit."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["step", "x1", "x2"])
        for step, (x1, x2) in enumerate(path.tolist()):
            writer.writerow([step, repr(float(x1)), repr(float(x2))])
    return out


def view_limits(
    path: torch.Tensor, function: str | Objective, margin: float = 0.1
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis limits that show the start, the minimum and the path near them.

    Points farther from the minimum than twice the start (per axis) are left out of view, so a
    diverging path leaves the picture instead of shrinking the contours to a dot.
    """
    objective = get_objective(function)
    points = path.detach().double().numpy()
    start = points[0] if np.isfinite(points[0]).all() else np.zeros(2)
    minimum = np.asarray(objective.minimum, dtype=float)
    offset = np.abs(start - minimum)
    scale = offset.max() if offset.max() > 0 else 1.0
    reach = 2 * np.maximum(offset, 0.25 * scale)
    inside = np.isfinite(points).all(axis=1) & (np.abs(points - minimum) <= reach).all(axis=1)
    shown = np.vstack([points[inside], start, minimum])
    lo, hi = shown.min(axis=0), shown.max(axis=0)
    pad = np.maximum(margin * (hi - lo), 0.05 * reach)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


def plot_trajectory(
    path: torch.Tensor,
    function: str | Objective,
    title: str,
    out: str | Path,
    note: str | None = None,
) -> Path:
    """A PNG of f's contours with the path, its start and its end; ``note`` goes in a corner."""
    objective = get_objective(function)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    (x_lo, x_hi), (y_lo, y_hi) = view_limits(path, objective)
    grid_x, grid_y = np.meshgrid(np.linspace(x_lo, x_hi, 300), np.linspace(y_lo, y_hi, 300))
    values = objective(torch.from_numpy(np.stack([grid_x, grid_y]))).numpy()
    # quadratic-like bowls: levels evenly spaced in sqrt(f) are evenly spaced in distance
    top = float(values.max())
    levels = np.linspace(0.0, math.sqrt(top), 16)[1:] ** 2 if values.min() >= 0 else 15

    fig = Figure(figsize=(7.5, 5.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.contourf(grid_x, grid_y, values, levels=levels, cmap="Blues", alpha=0.35, extend="both")
    ax.contour(grid_x, grid_y, values, levels=levels, colors="#1f77b4", linewidths=0.7)
    points = path.detach().double().numpy().copy()
    points[~np.isfinite(points).all(axis=1)] = np.nan  # matplotlib skips NaN, not inf
    ax.plot(points[:, 0], points[:, 1], "-o", color="#ff7f0e", lw=1.3, ms=3.5, label="path")
    ax.plot(*objective.minimum, "k+", ms=12, mew=1.5, label="minimum")
    start, end = points[0], points[-1]
    ax.plot(*start, "s", color="#2ca02c", ms=9, label=f"start ({start[0]:g}, {start[1]:g})")
    ax.plot(*end, "*", color="#d62728", ms=15, label=f"end ({end[0]:.4g}, {end[1]:.4g})")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    # below the axes: inside, it would sit on the minimum the paths end at
    fig.legend(loc="outside lower center", ncols=4, fontsize="small", frameon=False)
    if not (x_lo <= end[0] <= x_hi and y_lo <= end[1] <= y_hi):
        note = f"{note}; " if note else ""
        note += "the end point is outside this view"
    if note:
        ax.text(
            0.01,
            0.02,
            note,
            transform=ax.transAxes,
            color="#d62728",
            fontsize="small",
            bbox={"facecolor": "white", "edgecolor": "#d62728", "alpha": 0.9},
        )
    fig.savefig(out, dpi=120)
    return out


@dataclass(frozen=True)
class TrajectoryRun:
    """What one run produced: the path, the diverged note (or None) and the two files."""

    path: torch.Tensor
    diverged: str | None
    png: Path
    csv: Path


def run_from_config(cfg: DictConfig) -> TrajectoryRun:
    """The script's job: run the configured optimizer, write PNG + CSV, print where they are."""
    objective = get_objective(cfg.function)
    if cfg.dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {cfg.dtype!r}")
    start = [float(v) for v in cfg.start]
    path = run_trajectory(
        cfg.optimizer,
        objective,
        start=start,
        steps=int(cfg.steps),
        noise_std=float(cfg.noise_std),
        seed=cfg.seed,
        dtype=DTYPES[cfg.dtype],
    )
    diverged = divergence(path, objective)
    noise = f", gradient noise N(0, {float(cfg.noise_std):g}²) seed {cfg.seed}"
    setting = (
        f"{describe_optimizer(cfg.optimizer)} on f = {objective.formula}\n"
        f"{cfg.steps} steps from ({start[0]:g}, {start[1]:g})"
        + (noise if cfg.noise_std > 0 else "")
    )
    output_dir = Path(cfg.output_dir)
    png = plot_trajectory(path, objective, setting, output_dir / "trajectory.png", note=diverged)
    csv_path = write_csv(path, output_dir / "trajectory.csv")
    lines = [setting.replace("\n", ", "), format_end(path)]
    if diverged:
        lines.append(diverged)
    lines += [f"png: {png}", f"csv: {csv_path}"]
    print("\n".join(lines), flush=True)
    return TrajectoryRun(path, diverged, png, csv_path)
