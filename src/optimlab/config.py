"""Turning a composed Hydra config into plain data: the one place it is done."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf


def to_plain(
    cfg: DictConfig | Mapping[str, Any] | None, exclude: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Resolved plain dicts and lists (what checkpoints, hparams and checks hold).

    A value that cannot be resolved yet (``${hydra:runtime.output_dir}`` before the run
    exists) is kept as its ``${...}`` text, so the rest can still be checked before anything
    is written. Top-level keys in ``exclude`` are left out (and not resolved: the preflight
    skips the large ``hydra`` section of every sweep job).
    """
    if cfg is None:
        return {}
    if not isinstance(cfg, DictConfig):
        return {k: v for k, v in cfg.items() if k not in exclude}
    if exclude:
        return {str(key): _value(cfg, key) for key in cfg if key not in exclude}
    return _plain(cfg)


def _plain(node: Any) -> Any:
    if not OmegaConf.is_config(node):
        return node
    try:
        return OmegaConf.to_container(node, resolve=True)
    except Exception:  # resolve what can be, part by part
        pass
    if isinstance(node, ListConfig):
        return [_value(node, index) for index in range(len(node))]
    return {str(key): _value(node, key) for key in node}


def _value(node: DictConfig | ListConfig, key: Any) -> Any:
    try:
        return _plain(node[key])
    except Exception:
        return _plain(node._get_node(key)._value())  # type: ignore[union-attr]
