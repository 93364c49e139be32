"""The search space: ``hydra.sweeper.params`` (and sweep overrides on the command line) in
Hydra's override syntax, as Optuna distributions, and a trial's choices as overrides again.

    interval(0, 0.99)              uniform float (int when both ends are ints)
    tag(log, interval(1e-4, 1e-1)) log-uniform
    choice(none, cosine)           categorical (config groups too)
    range(16, 129, 16)             integers 16, 32, ..., 128 (Hydra's range: the end is excluded)
    0.01                           a fixed value: not searched
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from optimlab.errors import ConfigError


@dataclass(frozen=True)
class SearchSpace:
    """What each trial picks (``distributions``) and what every trial shares (``fixed``)."""

    distributions: dict[str, BaseDistribution]
    fixed: dict[str, str]

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """A trial's overrides: the fixed ones, then its picks (which win on a shared key)."""
        values = {**self.fixed, **{key: _as_override_value(v) for key, v in params.items()}}
        return [f"{key}={value}" for key, value in values.items()]

    def grid(self) -> dict[str, list[Any]]:
        """Every value of every parameter, for the grid sampler (intervals have none)."""
        grid: dict[str, list[Any]] = {}
        for key, distribution in self.distributions.items():
            if isinstance(distribution, CategoricalDistribution):
                grid[key] = list(distribution.choices)
            elif isinstance(distribution, IntDistribution) and not distribution.log:
                low, high, step = distribution.low, distribution.high, distribution.step
                grid[key] = list(range(low, high + 1, step))
            else:
                raise ConfigError(
                    f"hydra/sweeper/sampler=grid needs choice() or range() for every parameter; "
                    f"{key} is an interval: give it as choice(...) or use another sampler"
                )
        return grid

    def corners(self) -> list[list[str]]:
        """Trials that together pick every choice and both ends of every interval: checking
        these before the first trial catches a bad key or value in any part of the space."""

        def ends(d: BaseDistribution) -> list[Any]:
            if isinstance(d, CategoricalDistribution):
                return list(d.choices)
            return [d.low, d.high]  # type: ignore[attr-defined]

        picks = {key: ends(d) for key, d in self.distributions.items()}
        count = max([len(values) for values in picks.values()] + [1])
        return [
            self.overrides({key: values[i % len(values)] for key, values in picks.items()})
            for i in range(count)
        ]


def parse_space(params: dict[str, Any], overrides: list[str]) -> SearchSpace:
    """The space from a config's params and the command line's overrides; a key given on the
    command line replaces the config's (a plain value there fixes it for the invocation)."""
    given = [f"{key}={value}" for key, value in params.items()] + list(overrides)
    parsed: dict[str, Override] = {}
    for override in OverridesParser.create().parse_overrides(given):
        parsed[override.get_key_element()] = override
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for key, override in parsed.items():
        if override.is_sweep_override():
            distributions[key] = distribution(override)
        else:
            fixed[key] = override.get_value_element_as_str()
    return SearchSpace(distributions, fixed)


def distribution(override: Override) -> BaseDistribution:
    key, value = override.get_key_element(), override.value()
    if isinstance(value, ChoiceSweep) or (isinstance(value, RangeSweep) and value.shuffle):
        choices = override.sweep_iterator(transformer=Transformer.encode)
        return CategoricalDistribution(list(choices))
    if isinstance(value, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise ConfigError(f"{key}: {override.get_value_element_as_str()} is empty")
        if all(isinstance(v, int) for v in values):
            step = int(value.step or 1)
            return IntDistribution(min(values), max(values), step=abs(step))
        return CategoricalDistribution(values)
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)  # type: ignore[arg-type]
    raise ConfigError(
        f"{key}: {override.get_value_element_as_str()} is not a search space the Optuna sweeper "
        "knows; use interval(), tag(log, interval()), choice() or range()"
    )


def _as_override_value(value: Any) -> str:
    """A picked value as Hydra reads it back: None as null, strings as given."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
