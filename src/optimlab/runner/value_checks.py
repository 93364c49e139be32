"""Refuse a value of the wrong kind (text for a number, 2.5 for an integer, 0 for a size) in
one line, before it fails deep inside torch or trains a broken model.

The rule: a key takes the type its section's ``_target_`` annotates for that parameter
(DECLARED_TYPES first, for keys no signature types or types too loosely), else the type of its
defaults in conf/ (a float takes any number, an int only integers, a list of numbers only such
lists; null is allowed), and only keys whose type involves numbers or booleans are checked.
Keys in POSITIVE must also be >= 1 (each entry, for a list), keys in NON_EMPTY need an entry,
and a key that no signature or config file declares passes unchecked.
"""

from __future__ import annotations

import collections.abc as abc
import enum
import importlib
import inspect
import os
import types
import typing
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, NoReturn, Optional, Union

from omegaconf import OmegaConf

from optimlab.errors import ConfigError

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
# recipes and launcher settings that set keys declared elsewhere: not declarations
NOT_DECLARATIONS = ("hydra", "experiment", "hparams_search", "debug")
# sizes and every-n counts: 0 would build an empty layer or batch, or never act
POSITIVE = frozenset(
    {
        "batch_size", "eval_batch_size", "d2l_rows",  # data
        "image_size", "channels",
        "widths", "hidden", "convs_per_block", "kernel_size",  # model
        "num_nodes", "log_every_n_steps", "accumulate_grad_batches",  # trainer
        "check_val_every_n_epoch",
        "frequency", "step_size", "T_0", "T_mult",  # scheduler
        "every_n_steps", "check_every_n_steps", "max_queue",  # callbacks, logger
    }
)  # fmt: skip
NON_EMPTY = frozenset({"widths"})  # a CNN needs at least one block (model.hidden=[] is linear)
# keys whose type no signature gives (the schedule builder reads them itself) or gives too
# loosely (Lightning annotates devices as any text; only "auto" runs)
DECLARED_TYPES: dict[str, Any] = {
    "trainer.devices": Union[int, list[int], Literal["auto"]],  # noqa: UP007
    "scheduler.warmup_steps": Optional[int],  # noqa: UP045
    "scheduler.warmup_epochs": Optional[float],  # noqa: UP045
    "scheduler.max_steps": Optional[int],  # noqa: UP045
}
SEQUENCES = (list, tuple, abc.Sequence, abc.MutableSequence, abc.Iterable, abc.Collection)
MAPPINGS = (dict, abc.Mapping, abc.MutableMapping)
NUMBERS = (int, float, bool)


@dataclass(frozen=True)
class Declared:
    """The defaults conf/ gives each dotted key, with the _target_ of the section they are in."""

    defaults: dict[str, list[tuple[str | None, Any]]]
    targets: dict[str, set[str]]  # section path -> the _target_s the files give it


def check_values(cfg: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the first key whose value is of the wrong kind, and a fix."""
    declared = _declared(CONF_DIR)
    for path, key, value, owner in _leaves(cfg, "", (None, "")):
        expected = _expected(path, key, owner, declared)
        if expected is not None and _numeric(expected) and not _fits(expected, value):
            _refuse(path, _describe(expected, key), value, owner, expected, declared)
        if not _positive(key, value):
            positive = expected if expected is not None else int
            _refuse(path, _describe(positive, key), value, owner, positive, declared)


Owner = tuple[str | None, str]  # (_target_, dotted path) of the section a key belongs to


def _leaves(
    node: Mapping[str, Any], prefix: str, owner: Owner
) -> Iterator[tuple[str, str, Any, Owner]]:
    """(dotted path, key, value, owner) of every key the user can set, outside hydra."""
    target = node.get("_target_")
    if isinstance(target, str):
        owner = (target, prefix)
    for key, value in node.items():
        if not isinstance(key, str) or key.startswith("_") or (not prefix and key == "hydra"):
            continue
        path = f"{prefix}.{key}" if prefix else key
        if _unresolved(value):
            continue
        yield path, key, value, owner
        if isinstance(value, Mapping):
            yield from _leaves(value, path, owner)


def _unresolved(value: Any) -> bool:
    """An interpolation preflight cannot resolve yet (${hydra:...}), or a missing value."""
    return isinstance(value, str) and ("${" in value or value == "???")


def _expected(path: str, key: str, owner: Owner, declared: Declared) -> Any:
    """The type ``path`` must have, or None when nothing declares it."""
    if path in DECLARED_TYPES:
        return DECLARED_TYPES[path]
    target, section = owner
    relative = path[len(section) + 1 :] if section else path
    direct = "." not in relative  # a constructor argument, not a key inside one
    if target and direct:
        hints = _hints(target)
        if key in hints:
            return hints[key]
    found: list[Any] = []
    if direct:  # the same key of the section's other options (e.g. warm-up keys)
        found += [
            _hints(t)[key] for t in sorted(declared.targets.get(section, ())) if key in _hints(t)
        ]
    defaults = [v for _, v in declared.defaults.get(path, ()) if v is not None]
    if defaults:
        found += [*(_type_of(v) for v in defaults), _Null]
    return Union[tuple(found)] if found else None  # noqa: UP007


class _Null:
    """null, which a key typed by its defaults in conf/ always takes (the code decides)."""


def _type_of(value: Any) -> Any:
    """The type a default value stands for: [5, 8] -> list[int], 0.9 -> float."""
    if isinstance(value, list):
        entries = tuple({_type_of(v) for v in value})
        return list[Union[entries]] if entries else list  # noqa: UP007
    if isinstance(value, Mapping):
        return abc.Mapping
    return type(value)


def _numeric(tp: Any) -> bool:
    """Whether a type involves numbers or booleans (only those are checked)."""
    if tp in NUMBERS:
        return True
    args = typing.get_args(tp)
    if typing.get_origin(tp) is Literal:
        return any(isinstance(a, NUMBERS) for a in args)
    return any(_numeric(a) for a in args if a is not Ellipsis)


def _fits(tp: Any, value: Any) -> bool:
    """Whether a config value can stand for ``tp`` (a list for a tuple or a sequence)."""
    if tp is Any or isinstance(tp, typing.TypeVar):
        return True
    if tp is None or tp is type(None) or tp is _Null:
        return value is None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        return any(_fits(a, value) for a in args)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is tuple or tp in SEQUENCES or origin in SEQUENCES:
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(args) == len(value) and all(map(_fits, args, value))
        return not args or all(_fits(args[0], v) for v in value)
    if tp in MAPPINGS or origin in MAPPINGS:
        return isinstance(value, Mapping)
    if inspect.isclass(tp):  # a nested config with its own _target_, a path, an enum's name
        textual = issubclass(tp, os.PathLike | enum.Enum) and isinstance(value, str)
        return isinstance(value, tp | Mapping) or textual
    return True  # Callable, Protocol, ...: nothing a config value can be checked against


def _positive(key: str, value: Any) -> bool:
    if key in NON_EMPTY and isinstance(value, list) and not value:
        return False
    if key not in POSITIVE:
        return True
    values = value if isinstance(value, list) else [value]
    return not any(isinstance(v, int | float) and not isinstance(v, bool) and v < 1 for v in values)


def _describe(tp: Any, key: str) -> str:
    """'a number', 'an integer or null', 'a list of 2 numbers', 'one of 16, 32', ..."""
    positive = key in POSITIVE
    words: list[str] = []
    choices: list[str] = []
    for member in _members(tp):
        origin, args = typing.get_origin(member), typing.get_args(member)
        if origin is Literal:
            choices += [_show(a) for a in args]
        elif member is int:
            words.append("a positive integer" if positive else "an integer")
        elif member is float:
            words.append("a number")
        elif member is bool:
            words.append("true or false")
        elif member is str:
            words.append("text")
        elif origin is tuple or member in SEQUENCES or origin in SEQUENCES:
            entries = args[:-1] if args and args[-1] is Ellipsis else args
            plural = _plural(entries[0], positive) if entries else "values"
            fixed = origin is tuple and entries == args and len(set(args)) <= 1
            size = f"{len(args)} " if fixed else ""
            kind = "a non-empty list" if key in NON_EMPTY else "a list"
            words.append(f"{kind} of {size}{plural}")
    if "a number" in words:
        words = [w for w in words if not w.endswith("integer")]
    if choices:
        unique = list(dict.fromkeys(choices))
        words.append(unique[0] if len(unique) == 1 else f"one of {', '.join(unique)}")
    if type(None) in _alternatives(tp):
        words.append("null")
    words = list(dict.fromkeys(words)) or ["a value of another kind"]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _alternatives(tp: Any) -> list[Any]:
    """The members of a union, flattened (a type that is no union is its only member)."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [m for a in typing.get_args(tp) for m in _alternatives(a)]
    return [tp]


def _members(tp: Any) -> list[Any]:
    """The alternatives a config value can be: no None, no class a config never holds."""
    return [
        m for m in _alternatives(tp) if not inspect.isclass(m) or m in (*NUMBERS, str, *SEQUENCES)
    ]


def _plural(entry: Any, positive: bool) -> str:
    members = _members(entry)
    if float in members:
        return "numbers"
    if int in members:
        return "positive integers" if positive else "integers"
    if bool in members:
        return "true/false values"
    return "values"


def _refuse(
    path: str, expected: str, value: Any, owner: Owner, tp: Any, declared: Declared
) -> NoReturn:
    example = _example(path, owner, tp, declared)
    fix = f"; e.g. {path}={_show(example, quote=False)}" if example is not None else ""
    raise ConfigError(f"{path} must be {expected}, got {_show(value)}{fix}")


def _example(path: str, owner: Owner, tp: Any, declared: Declared) -> Any:
    """A value that passes: this option's default in conf/, else the signature's, else any."""
    key = path.rsplit(".", 1)[-1]
    target, section = owner
    defaults = declared.defaults.get(path, [])
    candidates = [v for t, v in defaults if t == target]
    if target and path == (f"{section}.{key}" if section else key):
        candidates.append(_signature_default(target, key))
    candidates += [v for _, v in defaults]
    for candidate in candidates:
        if candidate is not None and _fits(tp, candidate) and _positive(key, candidate):
            return candidate
    return None


def _signature_default(target: str, key: str) -> Any:
    try:
        default = inspect.signature(_locate(target)).parameters[key].default
    except (KeyError, TypeError, ValueError):
        return None
    return list(default) if isinstance(default, tuple) else default


def _show(value: Any, quote: bool = True) -> str:
    """A value as it is written on the command line (lists without spaces, true, null)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return f"[{','.join(_show(v, quote) for v in value)}]"
    if isinstance(value, str):
        return repr(value) if quote else value
    return str(value)


@cache
def _hints(target: str) -> dict[str, Any]:
    """The annotations of ``target``'s parameters (those that resolve; none if not importable)."""
    obj = _locate(target)
    if obj is None:
        return {}
    function = obj.__init__ if inspect.isclass(obj) else obj
    try:
        return typing.get_type_hints(function)
    except Exception:  # one annotation names a type imported only for type checkers
        pass
    try:
        parameters = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return {}
    namespace = getattr(inspect.unwrap(function), "__globals__", {})
    hints: dict[str, Any] = {}
    for name, parameter in parameters.items():
        annotation = parameter.annotation
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # what get_type_hints does, per name
            except Exception:
                continue
        if annotation is not inspect.Parameter.empty:
            hints[name] = annotation
    return hints


def _locate(target: str) -> Any:
    """The object a ``_target_`` names, or None (without Hydra's error log for a bad one)."""
    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except Exception:
            continue
        try:
            for name in parts[split:]:
                obj = getattr(obj, name)
        except AttributeError:
            return None
        return obj
    return None


@cache
def _declared(conf_dir: Path) -> Declared:
    """Every default conf/ declares, by dotted key, from the groups' files and the main ones."""
    defaults: dict[str, list[tuple[str | None, Any]]] = defaultdict(list)
    targets: dict[str, set[str]] = defaultdict(set)
    for file in sorted(conf_dir.rglob("*.yaml")):
        relative = file.relative_to(conf_dir)
        if relative.parts[0] in NOT_DECLARATIONS:
            continue
        try:
            node = OmegaConf.to_container(OmegaConf.load(file), resolve=False)
        except Exception:
            continue
        if not isinstance(node, dict):
            continue
        node.pop("defaults", None)
        _record(node, _package(file, relative), None, defaults, targets)
    return Declared(dict(defaults), dict(targets))


def _package(file: Path, relative: Path) -> str:
    """Where a file's keys land: its group's path, or the top level (@package _global_)."""
    header = file.read_text().splitlines()[:3]
    if any(line.startswith("# @package _global_") for line in header):
        return ""
    return ".".join(relative.parent.parts)


def _record(
    node: Mapping[str, Any],
    prefix: str,
    target: str | None,
    defaults: dict[str, list[tuple[str | None, Any]]],
    targets: dict[str, set[str]],
) -> None:
    own = node.get("_target_")
    if isinstance(own, str):
        target = own
        targets[prefix].add(own)
    for key, value in node.items():
        if not isinstance(key, str) or key.startswith("_") or (not prefix and key == "hydra"):
            continue
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            _record(value, path, target, defaults, targets)
        elif not _unresolved(value):
            defaults[path].append((target, value))
