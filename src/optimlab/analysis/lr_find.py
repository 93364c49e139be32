"""The LR range test's arithmetic: the lr sequence, the smoothed loss, when to stop, and the
three rules that read a learning rate off the curve.

The test (Smith, "Cyclical Learning Rates for Training Neural Networks") trains for
``num_steps`` optimizer steps while the lr grows exponentially from ``start_lr`` to
``end_lr``, and records the training loss of every step. This module holds everything about
it that needs no model: scripts/lr_find.py runs the steps (optimlab.runner.lr_find) and hands
the curves here. The rules follow fastai's ``lr_find`` (fastai/callback/schedule.py):

- the loss is smoothed by an exponential moving average with bias correction (beta 0.98);
- the test stops once the smoothed loss exceeds ``diverge_factor`` (4) times its lowest
  value, or the loss is not a finite number;
- the rules read the smoothed curve without its first ``num_steps // 10`` steps (the loss of
  an untrained model barely moves there) and its last 5 (where it shoots up), cut at the
  first non-finite value:
  - **valley**: the longest run of falling losses (the longest decreasing subsequence, as
    fastai's ``valley`` finds it), and the lr at about the middle of it, in steps, so in log lr
    (index start + int(L/3) + int(L/6) for a valley of L steps);
  - **steepest slope**: the lr where the smoothed loss falls fastest against log lr (the left
    end of the steepest segment);
  - **minimum/10**: a tenth of the lr of the lowest smoothed loss.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from optimlab.errors import ConfigError

SKIP_END = 5  # steps at the end of a curve the rules do not read (fastai's)
MIN_STEPS = 10  # a shorter sweep has too few points for the rules
RULES = ("steepest", "minimum", "valley")  # printed in this order, the valley (the answer) last
RULE_NAMES = {"steepest": "steepest slope", "minimum": "minimum/10", "valley": "valley"}


# ------------------------------------------------------------------ settings


@dataclass(frozen=True)
class RangeTestSettings:
    """The range test's own keys of conf/lr_find.yaml."""

    start_lr: float
    end_lr: float
    num_steps: int
    beta: float
    diverge_factor: float
    seeds: tuple[int, ...] | None  # None: one test with the run's ``seed``

    def lrs(self) -> list[float]:
        return lr_sequence(self.start_lr, self.end_lr, self.num_steps)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_settings(cfg: Mapping[str, Any]) -> RangeTestSettings:
    """The range test's keys from a config, or a ConfigError naming the first bad one."""
    start, end = cfg.get("start_lr"), cfg.get("end_lr")
    for key, value in (("start_lr", start), ("end_lr", end)):
        if not _is_number(value) or not value > 0 or not math.isfinite(value):
            raise ConfigError(f"{key} must be a number > 0, got {value!r}; e.g. {key}=1e-7")
    if not start < end:
        raise ConfigError(
            f"start_lr ({start}) must be below end_lr ({end}): the lr grows from one to the "
            "other; e.g. start_lr=1e-7 end_lr=10"
        )
    steps = cfg.get("num_steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < MIN_STEPS:
        raise ConfigError(
            f"num_steps must be an integer >= {MIN_STEPS}, got {steps!r}; 100 is usual"
        )
    beta = cfg.get("beta")
    if not _is_number(beta) or not 0 <= beta < 1:
        raise ConfigError(f"beta must be in [0, 1), got {beta!r}; 0.98 is usual (0: no smoothing)")
    factor = cfg.get("diverge_factor")
    if not _is_number(factor) or not factor > 1:
        raise ConfigError(f"diverge_factor must be a number > 1, got {factor!r}; 4 is usual")
    seeds = cfg.get("seeds")
    if seeds is not None:
        if isinstance(seeds, int | str) or not hasattr(seeds, "__iter__"):
            raise ConfigError(f"seeds must be a list of seeds, got {seeds!r}; e.g. seeds=[1,2,3]")
        seeds = tuple(seeds)
        if not seeds:
            raise ConfigError(
                "seeds=[] has no seed to run; give at least one (seeds=[1,2,3]), or "
                "seeds=null for one test with seed"
            )
        if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds):
            raise ConfigError(f"seeds must be non-negative integers, got {list(seeds)}")
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"seeds has a seed twice: {list(seeds)}; each seed runs once")
    return RangeTestSettings(float(start), float(end), steps, float(beta), float(factor), seeds)


# ------------------------------------------------------------------ the sweep


def lr_at(step: int, start_lr: float, end_lr: float, num_steps: int) -> float:
    """The lr of ``step`` (0-based): start_lr at the first step, end_lr at the last, a constant
    factor between neighbours."""
    return start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))


def lr_sequence(start_lr: float, end_lr: float, num_steps: int) -> list[float]:
    return [lr_at(step, start_lr, end_lr, num_steps) for step in range(num_steps)]


class LossSmoother:
    """The smoothed loss, one step at a time, and whether it has diverged.

    avg <- beta avg + (1 - beta) loss; smoothed = avg / (1 - beta^n) after n losses (the
    bias correction makes the first value the first loss, not (1 - beta) times it).
    """

    def __init__(self, beta: float, diverge_factor: float) -> None:
        self.beta, self.diverge_factor = beta, diverge_factor
        self.average, self.count = 0.0, 0
        self.best = math.inf
        self.diverged = False

    def add(self, loss: float) -> float:
        """Add a step's loss; returns the smoothed loss and sets ``diverged``."""
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smoothed = self.average / (1 - self.beta**self.count)
        if not math.isfinite(smoothed):
            self.diverged = True
            return smoothed
        self.best = min(self.best, smoothed)
        if smoothed > self.diverge_factor * self.best:
            self.diverged = True
        return smoothed


def smooth(losses: Sequence[float], beta: float) -> list[float]:
    """The smoothed curve of a whole sequence of losses (LossSmoother's arithmetic)."""
    smoother = LossSmoother(beta, math.inf)
    return [smoother.add(loss) for loss in losses]


def steps_until_divergence(losses: Sequence[float], beta: float, diverge_factor: float) -> int:
    """How many of ``losses`` a test records: up to and with the first diverged step."""
    smoother = LossSmoother(beta, diverge_factor)
    for step, loss in enumerate(losses):
        smoother.add(loss)
        if smoother.diverged:
            return step + 1
    return len(losses)


@dataclass(frozen=True)
class RangeCurve:
    """One test: the lr, the raw and the smoothed loss of every recorded step."""

    seed: int | None
    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    num_steps: int  # the planned length (the curve is shorter when the test stopped early)

    @property
    def stopped_early(self) -> bool:
        return len(self.lrs) < self.num_steps


# ------------------------------------------------------------------ the rules


def suggestion_window(smoothed: Sequence[float], num_steps: int) -> tuple[int, int]:
    """[begin, end) of the steps the rules read: not the first num_steps // 10, not the last 5,
    nothing from the first non-finite value on. Raises ConfigError when fewer than 3 remain."""
    finite_end = next((i for i, v in enumerate(smoothed) if not math.isfinite(v)), len(smoothed))
    begin, end = num_steps // 10, min(finite_end, len(smoothed) - SKIP_END)
    if end - begin < 3:  # a short curve: read all of it that is finite
        begin, end = 0, finite_end
    if end - begin < 3:
        raise ConfigError(
            f"the loss diverged after {len(smoothed)} steps, too soon to read a learning rate "
            "off the curve; lower start_lr (or raise num_steps)"
        )
    return begin, end


def valley_index(losses: Sequence[float]) -> int:
    """fastai's valley: the longest decreasing subsequence of ``losses`` (its first longest),
    taken as the stretch of L steps that ends where it ends; returns start + int(L/3) +
    int(L/6), about its middle. A curve that never falls gives 0."""
    n = len(losses)
    length = [1] * n  # length[i]: the longest decreasing subsequence that ends at i
    for i in range(1, n):
        length[i] = 1 + max((length[j] for j in range(i) if losses[j] > losses[i]), default=0)
    end = max(range(n), key=lambda i: (length[i], -i))  # the first index of the longest
    start = max(0, end - length[end])
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


def steepest_index(lrs: Sequence[float], losses: Sequence[float]) -> int:
    """The left end of the segment where the loss falls fastest against log lr."""
    slopes = [
        (losses[i + 1] - losses[i]) / (math.log(lrs[i + 1]) - math.log(lrs[i]))
        for i in range(len(losses) - 1)
    ]
    return min(range(len(slopes)), key=slopes.__getitem__)


def minimum_index(losses: Sequence[float]) -> int:
    return min(range(len(losses)), key=losses.__getitem__)


@dataclass(frozen=True)
class Suggestions:
    """What each rule reads off one curve (learning rates)."""

    valley: float
    steepest: float
    minimum: float  # a tenth of the lr at the lowest smoothed loss
    window: tuple[int, int]  # the steps the rules read

    def of(self, rule: str) -> float:
        return float(getattr(self, rule))


def suggest(curve: RangeCurve) -> Suggestions:
    begin, end = suggestion_window(curve.smoothed, curve.num_steps)
    lrs, losses = curve.lrs[begin:end], curve.smoothed[begin:end]
    return Suggestions(
        valley=lrs[valley_index(losses)],
        steepest=lrs[steepest_index(lrs, losses)],
        minimum=lrs[minimum_index(losses)] / 10,
        window=(begin, end),
    )


# ------------------------------------------------------------------ several seeds


@dataclass(frozen=True)
class Spread:
    """A rule's suggestions over seeds, on the log scale learning rates live on."""

    median: float  # the middle one (odd count), the geometric mean of the two middle ones (even)
    geometric_mean: float
    low: float
    high: float
    count: int

    @property
    def ratio(self) -> float:
        """high / low: 1 when every seed suggests the same lr."""
        return self.high / self.low


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no suggestions to summarize")
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = (
        ordered[middle] if len(ordered) % 2 else math.sqrt(ordered[middle - 1] * ordered[middle])
    )
    return Spread(
        median=median,
        geometric_mean=math.exp(statistics.fmean(math.log(v) for v in values)),
        low=min(values),
        high=max(values),
        count=len(values),
    )


def summary_lines(suggestions: Mapping[int | None, Suggestions]) -> tuple[list[str], float]:
    """The lines the script prints (one per rule, the valley last) and the suggested lr: the
    valley rule's, the median over seeds with several."""
    lines = []
    several = len(suggestions) > 1
    for rule in RULES:
        values = [s.of(rule) for s in suggestions.values()]
        name = f"{RULE_NAMES[rule]:<15}"
        if several:
            s = spread(values)
            lines.append(
                f"{name} median {s.median:.3g}  geometric mean {s.geometric_mean:.3g}  "
                f"min {s.low:.3g}  max {s.high:.3g}  (max/min {s.ratio:.2f}, {s.count} seeds)"
            )
        else:
            lines.append(f"{name} {values[0]:.3g}")
    chosen = spread([s.of("valley") for s in suggestions.values()]).median
    return lines, chosen
