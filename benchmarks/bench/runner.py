"""Run every path in interleaved rounds in this process and summarize the rounds."""

from __future__ import annotations

import logging
import os
import platform
import statistics
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch

from bench.config import ROOT, compose_config, instantiate_datamodule, same_data, seed_like_train
from bench.fake_data import write_fake_cifar10, write_fake_fashion_mnist
from bench.options import BenchOptions
from bench.paths import ClassicPath, EvalPath, LimitPath, OptimlabPath, Sample
from bench.startup import Startup, measure_startup

LIMIT, OPTIMLAB, CLASSIC = "limit (a)", "optimlab (b)", "classic (c)"
# the same paths each in a stretch of their own, as (c) has to be timed (its worker
# processes run in the background, so it cannot share the seconds with another path)
LIMIT_ALONE, OPTIMLAB_ALONE = "limit (a) alone", "optimlab (b) alone"


class Timed(Protocol):
    kind: str

    def run(self, warmup: int, steps: int) -> Sample: ...


@dataclass
class PathResult:
    """Every round of one path."""

    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def rates(self) -> list[float]:
        return [s.images_per_s for s in self.samples]

    @property
    def vs_partner(self) -> list[float] | None:
        """Per round: this path / the limit stepped in lockstep with it (None: no partner)."""
        if any(s.partner_images_per_s is None for s in self.samples):
            return None
        return [s.images_per_s / s.partner_images_per_s for s in self.samples]  # type: ignore[operator]


@dataclass
class BenchResult:
    options: BenchOptions
    paths: dict[str, PathResult]
    startup: Startup | None
    settings: dict[str, str]

    def ratio(self, name: str, reference: str) -> float:
        """Median over rounds of (path / reference), each ratio taken within one round.

        Against the limit, a path that was stepped in lockstep with it uses its own
        partner's rate, taken over the very same seconds.
        """
        path = self.paths[name]
        if reference == LIMIT and path.vs_partner is not None:
            return statistics.median(path.vs_partner)
        if reference == LIMIT and LIMIT_ALONE in self.paths:  # alone against alone
            reference = LIMIT_ALONE
        ref = self.paths[reference]
        if path.vs_partner is not None and ref.vs_partner is not None:  # variant vs (b)
            pairs = zip(path.vs_partner, ref.vs_partner, strict=True)
        else:
            pairs = zip(path.rates, ref.rates, strict=True)
        return statistics.median(a / b for a, b in pairs)

    def lines(self) -> list[str]:
        out = [
            "# optimlab benchmark: "
            + " ".join(f"{key}={value}" for key, value in self.settings.items()),
            f"{'path':<22} {'images/s min':>13} {'median':>9} {'max':>9} "
            f"{'vs limit':>9} {'peak MiB':>9}",
        ]
        for name, result in self.paths.items():
            rates = result.rates
            compare = name not in (LIMIT, LIMIT_ALONE) and not name.startswith("eval")
            versus = f"{self.ratio(name, LIMIT):9.3f}" if compare else " " * 9
            peak = max(s.peak_mib for s in result.samples)
            note = result.samples[-1].note
            out.append(
                f"{name:<22} {min(rates):13.0f} {statistics.median(rates):9.0f} "
                f"{max(rates):9.0f} {versus} {peak:9.0f} {note}".rstrip()
            )
        for name in self.paths:
            if name.startswith("variant "):
                out.append(f"{name}: {self.ratio(name, OPTIMLAB):.3f} x optimlab (b)")
        if self.startup is not None:
            out.append(self.startup.line())
        final = f"ratio_vs_limit={self.ratio(OPTIMLAB, LIMIT):.3f}"
        if CLASSIC in self.paths:  # (c) ran alone: against (b) alone where there is one
            optimlab = OPTIMLAB_ALONE if OPTIMLAB_ALONE in self.paths else OPTIMLAB
            final += f" ratio_vs_classic={self.ratio(optimlab, CLASSIC):.3f}"
        out.append(final)
        return out


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda but no CUDA device is available")
    return device


def base_overrides(options: BenchOptions, data_overrides: list[str]) -> list[str]:
    """What every optimlab run of this benchmark is: the CLI's choices, then the user's."""
    accelerator = "gpu" if options.device.startswith("cuda") else "cpu"
    return [
        f"model={options.model}",
        f"datamodule={options.datamodule}",
        f"datamodule.batch_size={options.batch_size}",
        f"trainer.accelerator={accelerator}",
        "trainer.devices=1",
        "test=false",
        *data_overrides,
        *options.overrides,
    ]


def _timed_overrides(options: BenchOptions) -> list[str]:
    return [
        f"++trainer.max_steps={options.warmup + options.steps}",
        "+callbacks.bench_timer._target_=bench.timing.StepTimer",
        f"+callbacks.bench_timer.warmup={options.warmup}",
        f"+callbacks.bench_timer.steps={options.steps}",
    ]


def _eval_overrides() -> list[str]:
    return ["+callbacks.bench_eval._target_=bench.timing.EvalTimer"]


def _quiet_lightning() -> None:
    """Keep the benchmark's output readable: Lightning's info lines say nothing here."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def _fake_data_overrides(options: BenchOptions, work: Path) -> list[str]:
    """--fake-images: random images in the data set's official files, written here."""
    if options.datamodule == "cifar10":
        fake = write_fake_cifar10(work / "fake_cifar10", train=options.fake_images)
        extra = ["datamodule.checksum=false"]
    elif options.datamodule == "fashion_mnist":
        fake = write_fake_fashion_mnist(work / "fake_fashion_mnist", train=options.fake_images)
        extra = ["datamodule.system_dir=null"]
    else:
        raise ValueError(f"--fake-images knows fashion_mnist and cifar10, not {options.datamodule}")
    return [f"datamodule.data_dir={fake}", "datamodule.download=false", *extra]


def _settings(options: BenchOptions, device: torch.device) -> dict[str, str]:
    return {
        "model": options.model,
        "datamodule": options.datamodule,
        "batch_size": str(options.batch_size),
        "device": f"{device}({platform.processor() or platform.machine()},{os.cpu_count()}cores)",
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "classic_workers": str(options.workers),
        "steps": str(options.steps),
        "warmup": str(options.warmup),
        "repeats": str(options.repeats),
        "interleave": options.interleave,
        "overrides": "[" + ",".join(options.overrides) + "]",
    }


def run_benchmark(options: BenchOptions, log: bool = True) -> BenchResult:
    """Prepare every path (untimed), then time them in ``repeats`` interleaved rounds."""
    torch.set_num_threads(options.threads)
    device = _device(options.device)
    _quiet_lightning()
    say = print if log else (lambda *a, **k: None)
    with tempfile.TemporaryDirectory(prefix="optimlab-bench-") as tmp:
        work = Path(tmp)
        data_overrides: list[str] = []
        if options.data_dir:
            data_overrides.append(f"datamodule.data_dir={options.data_dir}")
        if options.fake_images:
            data_overrides += _fake_data_overrides(options, work)
        common = base_overrides(options, data_overrides)
        cfg = compose_config([*common, *_timed_overrides(options)], work / "b")
        seed_like_train(cfg)
        datamodule = instantiate_datamodule(cfg)

        lockstep = options.interleave == "step"
        limit = LimitPath(cfg, datamodule, device)
        partner = limit if lockstep else None
        paths: dict[str, Timed] = {} if lockstep else {LIMIT: limit}
        paths[OPTIMLAB] = OptimlabPath(cfg, datamodule, device, work / "b", partner)
        if lockstep and options.classic:
            paths[OPTIMLAB_ALONE] = OptimlabPath(cfg, datamodule, device, work / "b_alone")
        if options.classic:
            paths[CLASSIC] = ClassicPath(
                cfg, datamodule, device, recipe=options.datamodule, workers=options.workers
            )
        if lockstep:
            paths[LIMIT_ALONE] = limit
        for name, extra in options.variants.items():
            variant_cfg = compose_config([*common, *extra, *_timed_overrides(options)], work / name)
            variant_data = (
                datamodule if same_data(cfg, variant_cfg) else instantiate_datamodule(variant_cfg)
            )
            paths[f"variant {name}"] = OptimlabPath(
                variant_cfg, variant_data, device, work / name, partner
            )
        for size in options.eval_batch_sizes:
            size_override = f"datamodule.eval_batch_size={size}"
            eval_cfg = compose_config([*common, size_override, *_eval_overrides()], work / "eval")
            paths[f"eval bs={size}"] = EvalPath(eval_cfg, device)
        compose_config([*common, *_timed_overrides(options)], work / "b")  # HydraConfig back

        results = {name: PathResult(name) for name in paths}
        names = list(paths)
        for round_ in range(options.repeats):
            shift = round_ % len(names)  # a different path goes first every round
            for name in names[shift:] + names[:shift]:
                sample = paths[name].run(options.warmup, options.steps)
                results[name].samples.append(sample)
                versus = sample.partner_images_per_s
                say(
                    f"  round {round_ + 1}/{options.repeats} {name:<22} "
                    f"{sample.images_per_s:9.0f} images/s"
                    + (
                        f"  (limit alongside {versus:.0f}: x{sample.images_per_s / versus:.3f})"
                        if versus
                        else ""
                    ),
                    flush=True,
                )
        if lockstep:  # the limit's rates as measured step by step alongside (b)
            partner_samples = [
                Sample(s.partner_images_per_s or 0.0, s.peak_mib, "stepped alongside (b)")
                for s in results[OPTIMLAB].samples
            ]
            results = {LIMIT: PathResult(LIMIT, partner_samples), **results}
        for path in paths.values():
            close = getattr(path, "close", None)
            if close:
                close()

        startup = None
        if options.startup_runs:
            startup = measure_startup(
                ROOT,
                common,
                threads=options.threads,
                runs=options.startup_runs,
            )
    return BenchResult(options, results, startup, _settings(options, device))
