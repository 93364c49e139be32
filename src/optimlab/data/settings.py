"""Checks of ``datamodule.<key>`` values: a bad one is a ConfigError naming the key and a fix.

A datamodule is built from the config before any data is read (the preflight builds it
too), so its constructor is where a bad setting is caught, in one line.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from numbers import Real
from typing import Any

from optimlab.errors import ConfigError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _fail(key: str, value: Any, must: str, fix: str) -> ConfigError:
    return ConfigError(f"datamodule.{key} must be {must}, got {value!r}; {fix}")


def positive_int(key: str, value: Any, *, fix: str) -> int:
    if not _is_int(value) or value <= 0:
        raise _fail(key, value, "a positive integer", fix)
    return value


def non_negative_int(key: str, value: Any, *, fix: str) -> int:
    if not _is_int(value) or value < 0:
        raise _fail(key, value, "an integer >= 0", fix)
    return value


def integer(key: str, value: Any, *, fix: str) -> int:
    if not _is_int(value):
        raise _fail(key, value, "an integer", fix)
    return value


def optional_int(key: str, value: Any, *, fix: str) -> int | None:
    return None if value is None else integer(key, value, fix=fix)


def flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(key, value, "true or false", f"set datamodule.{key}=true or false")
    return value


def fraction(key: str, value: Any, *, fix: str) -> float:
    """A share in [0, 1)."""
    if not _is_number(value) or not 0 <= value < 1:
        raise _fail(key, value, "a number in [0, 1)", fix)
    return float(value)


def one_of(key: str, value: Any, choices: Collection[str]) -> str:
    if value not in choices:
        raise _fail(key, value, f"one of {list(choices)}", f"pick one of {list(choices)}")
    return value


def channel_values(key: str, value: Any, *, positive: bool = False) -> tuple[float, ...] | None:
    """Per-channel numbers (``mean``/``std``), or None (= measure them on the data)."""
    if value is None:
        return None
    numbers = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else ()
    bound = 0 if positive else float("-inf")
    if not numbers or not all(_is_number(v) and v > bound for v in numbers):
        must = "a list of positive numbers" if positive else "a list of numbers"
        raise _fail(key, value, f"{must} (one per channel) or null", "null measures them")
    return tuple(float(v) for v in numbers)
