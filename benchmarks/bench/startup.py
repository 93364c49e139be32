"""Start-up of a real ``python train.py`` run: process start to the first training step.

The benchmark starts train.py in a child process with ``FirstStepProbe`` added as a
callback; the probe writes when each start-up phase ended and exits at once after the
first training step, so nothing after it is paid for.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L

from bench.timing import synchronize

BENCHMARKS = Path(__file__).resolve().parents[1]  # where the ``bench`` package is

T0_ENV = "OPTIMLAB_BENCH_T0"  # wall-clock time just before the child process was started
OUT_ENV = "OPTIMLAB_BENCH_PROBE_FILE"  # where the probe writes its JSON
PHASES = ("objects_built", "data_ready", "training_starts", "first_step_done")


class FirstStepProbe(L.Callback):
    """Record the end of each start-up phase, then leave the process after one step."""

    def __init__(self) -> None:
        self.marks: dict[str, float] = {"objects_built": time.time()}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.marks["data_ready"] = time.time()  # Lightning ran datamodule.setup just before

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.marks["training_starts"] = time.time()  # after the sanity validation

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *_: Any) -> None:
        synchronize(pl_module.device)
        self.marks["first_step_done"] = time.time()
        start = float(os.environ.get(T0_ENV, "nan"))
        Path(os.environ[OUT_ENV]).write_text(
            json.dumps({name: t - start for name, t in self.marks.items()})
        )
        sys.stdout.flush()
        os._exit(0)  # the run's remaining work is not start-up


@dataclass(frozen=True)
class Startup:
    """Seconds from process start to the end of each phase, median over the runs."""

    imports: float  # seconds for a bare interpreter to import what train.py imports
    phases: dict[str, float]
    runs: int

    def line(self) -> str:
        parts = [f"imports {self.imports:.2f}s"] + [
            f"{name} {seconds:.2f}s" for name, seconds in self.phases.items()
        ]
        total = self.phases["first_step_done"]
        return f"startup_s={total:.2f} (median of {self.runs}; at: {', '.join(parts)})"


# a bare interpreter importing what train.py imports, then reporting when it got there
IMPORTS = (
    f"import os, time; t0 = float(os.environ['{T0_ENV}']); "
    "import lightning, torch, hydra, torchmetrics, optimlab.runner.train, optimlab.data, "
    "optimlab.models; print(time.time() - t0, flush=True); os._exit(0)"
)


def _child_env(threads: int, src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)  # train.py does not pin threads: same as here
    # optimlab from the clone, and the probe's package for train.py's callbacks
    paths = [str(src), str(BENCHMARKS), env.get("PYTHONPATH")]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, paths))
    return env


def _imports_seconds(env: dict[str, str], cwd: Path) -> float:
    result = subprocess.run(
        [sys.executable, "-c", IMPORTS],
        env={**env, T0_ENV: repr(time.time())},
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(result.stdout.split()[-1])


def measure_startup(root: Path, overrides: list[str], *, threads: int, runs: int = 1) -> Startup:
    """Run ``train.py`` ``runs`` times until its first step; also time the bare imports."""
    env = _child_env(threads, root / "src")
    imports = [_imports_seconds(env, root) for _ in range(runs)]
    timings: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="optimlab-startup-") as tmp:
        for run in range(runs):
            out = Path(tmp) / f"probe{run}.json"
            command = [
                sys.executable,
                str(root / "train.py"),
                *overrides,
                "+callbacks.bench_probe._target_=bench.startup.FirstStepProbe",
                f"hydra.run.dir={Path(tmp) / f'run{run}'}",
            ]
            result = subprocess.run(
                command,
                env={**env, T0_ENV: repr(time.time()), OUT_ENV: str(out)},
                cwd=root,
                capture_output=True,
                text=True,
            )
            if not out.is_file():
                raise RuntimeError(
                    f"train.py did not reach its first step (exit {result.returncode}):\n"
                    f"{result.stderr[-2000:]}"
                )
            timings.append(json.loads(out.read_text()))
    phases = {name: statistics.median(t[name] for t in timings) for name in PHASES}
    return Startup(imports=statistics.median(imports), phases=phases, runs=runs)
