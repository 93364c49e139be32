"""Performance profiles, as MLCommons AlgoPerf scores training algorithms.

For each workload w and variant v, r(w, v) is v's time to target divided by the fastest
variant's time on w (infinite where v never reached the target). A variant's profile is
rho_v(tau) = the fraction of workloads with r(w, v) <= tau: its value at tau = 1 is how often
it was the fastest, its rise says how far behind it is elsewhere, and a curve that stays
below 1 means workloads it never solved.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Times = Mapping[str, Mapping[str, float]]  # workload -> variant -> time to target (inf: never)


def _ratio(time: float, fastest: float) -> float:
    if not math.isfinite(time):
        return math.inf
    if fastest == 0:
        return 1.0 if time == 0 else math.inf
    return time / fastest


def ratios(times: Times) -> dict[str, dict[str, float]]:
    """r(w, v): each time over the workload's fastest (inf where a variant never reached)."""
    result = {}
    for workload, by_variant in times.items():
        fastest = min(by_variant.values(), default=math.inf)
        result[workload] = {v: _ratio(t, fastest) for v, t in by_variant.items()}
    return result


def profile(times: Times, variant: str, taus: Sequence[float]) -> list[float]:
    """rho_v(tau) for each tau: workloads where ``variant`` has no time count as not reached."""
    table = ratios(times)
    workloads = len(table)
    if workloads == 0:
        return [0.0 for _ in taus]
    return [
        sum(by_variant.get(variant, math.inf) <= tau for by_variant in table.values()) / workloads
        for tau in taus
    ]


def tau_grid(max_tau: float, points: int = 400) -> list[float]:
    """Log-spaced taus from 1 to ``max_tau`` (profiles are read on a log axis)."""
    step = math.log(max_tau) / (points - 1)
    return [math.exp(i * step) for i in range(points)]
