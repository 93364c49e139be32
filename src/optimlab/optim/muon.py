"""Muon for the hidden weight matrices, AdamW for every other parameter: one optimizer.

Muon (Keller Jordan et al., "Muon: An optimizer for hidden layers in neural networks", 2024)
runs SGD with Nesterov momentum and replaces each update by the nearest semi-orthogonal
matrix, found with five quintic Newton-Schulz iterations:

    m <- beta m + (1 - beta) g;  u <- NS5((1 - beta) g + beta m)   (nesterov; else NS5(m))
    w <- (1 - lr wd) w - lr sqrt(max(1, rows / cols)) u

A conv kernel (out, in, kh, kw) is updated as the matrix (out, in*kh*kw). The authors'
README (github.com/KellerJordan/Muon) says Muon is for the hidden weights only: the input
layer (for a ConvNet, "all the convolutional filters except the first one" go to Muon), the
output layer, biases and gains go to AdamW. This factory makes that split from the model's
structure:

- ``muon``: every trainable weight of two or more dimensions except those below;
- ``input``: the weight of the first module (in ``model.modules()`` order) holding one, unless
  ``muon_input_layer``; ``output``: the weight of the last such module (the classifier);
- ``bias``: every bias; ``norm``: the parameters of normalization layers, and any other
  weight of fewer than two dimensions (a gain).

``input``, ``output``, ``bias`` and ``norm`` are AdamW's, each with its own lr
(``adamw.lr.<role>``). ``optimizer.param_groups`` applies as for every optimizer: the kinds
in ``no_decay`` (bias, norm by default) get weight decay 0, ``lr_multipliers`` scale a kind's
lr. Roles with equal settings share a group, named after the rule and roles (``muon``,
``adamw:input+output``, ``adamw:bias+norm``); the Muon group comes first, so ``train/lr``
is Muon's lr and ``train/lr/<name>`` the others'. A schedule scales every group by the same
factor.

The defaults are the authors': Muon lr 0.02, momentum 0.95, Nesterov, 5 Newton-Schulz steps
(README, "Hyperparameter tuning"), weight decay 0.01 and AdamW at lr 3e-4, betas (0.9, 0.95),
weight decay 0.01 (the README's usage example), eps 1e-10 (MuonWithAuxAdam's default).

The update is ``pytorch_optimizer.Muon`` (pytorch-optimizer): it takes groups flagged
``use_muon``, runs AdamW on the others, and reshapes conv kernels to 2-D. Its momentum,
Newton-Schulz coefficients (3.4445, -4.7750, 2.0315, in bfloat16) and shape factor are the
authors' current muon.py (tests/test_muon.py checks the step against them). One difference:
for a conv kernel it takes the shape factor of the (out, in*kh*kw) matrix, where the authors'
code takes the kernel's last two sizes (kh/kw, so 1 for a square kernel). The two agree
unless out > in*kh*kw, which in the models here is only ever the first conv (AdamW's by
default). torch.optim.Muon has the same rule (its step equals this one bit for bit on a
matrix) but takes 2-D parameters only: no conv kernels, and no AdamW for the rest.

Given a plain list of tensors (no model, so no roles), it makes one Muon group, as every
optimizer makes one group of a list. With ``scheduler=one_cycle``, the momentum that cycles
is Muon's: OneCycleLR cycles one key in every group, and AdamW's beta1 stays as configured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from pytorch_optimizer import Muon
from torch import nn

from optimlab.errors import ConfigError
from optimlab.optim.build import group_rules, parameter_kind

ROLES = ("input", "output", "bias", "norm")  # AdamW's, in the order their groups come
ADAMW_KEYS = ("lr", "betas", "eps", "weight_decay")
ADAMW_DEFAULTS: dict[str, Any] = {
    "lr": dict.fromkeys(ROLES, 3e-4),
    "betas": (0.9, 0.95),
    "eps": 1e-10,
    "weight_decay": 0.01,
}


def check_config(cfg: Mapping[str, Any]) -> None:
    """Refuse values of Muon's own keys (``ns_steps``, the nested ``adamw``) in one line."""
    ns_steps = cfg.get("ns_steps")
    if ns_steps is not None and not (isinstance(ns_steps, int) and ns_steps >= 1):
        raise ConfigError(f"optimizer.ns_steps must be an integer >= 1, got {ns_steps}; 5 is usual")
    adamw = cfg.get("adamw")
    if adamw is None:
        return
    if not isinstance(adamw, Mapping):
        raise ConfigError(
            f"optimizer.adamw must be a section (lr, betas, eps, weight_decay), got {adamw!r}"
        )
    unknown = sorted(set(adamw) - set(ADAMW_KEYS))
    if unknown:
        raise ConfigError(f"optimizer.adamw.{unknown[0]} is not a key; the keys are {ADAMW_KEYS}")
    lrs = adamw.get("lr")
    if isinstance(lrs, Mapping):
        roles = sorted(set(lrs) - set(ROLES))
        if roles:
            raise ConfigError(
                f"optimizer.adamw.lr.{roles[0]} is not a role; the roles are {list(ROLES)}"
            )
        named = {f"lr.{role}": value for role, value in lrs.items()}
    else:
        named = {"lr": lrs}
    for key, value in named.items():
        if value is not None and not (_is_number(value) and value > 0):
            raise ConfigError(
                f"optimizer.adamw.{key} must be > 0, got {value}; the authors use 3e-4"
            )
    betas = adamw.get("betas")
    if betas is not None and not (
        isinstance(betas, Sequence)
        and not isinstance(betas, str)
        and len(betas) == 2
        and all(_is_number(b) and 0 <= b < 1 for b in betas)
    ):
        raise ConfigError(
            f"optimizer.adamw.betas must be two numbers in [0, 1), got {betas}; "
            "the authors use [0.9,0.95]"
        )
    for key in ("eps", "weight_decay"):
        value = adamw.get(key)
        if value is not None and not (_is_number(value) and value >= 0):
            raise ConfigError(f"optimizer.adamw.{key} must be a number >= 0, got {value}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def muon(
    model: nn.Module | Iterable[torch.Tensor],
    *,
    lr: float = 0.02,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_steps: int = 5,
    weight_decay: float = 0.01,
    muon_input_layer: bool = False,
    adamw: Mapping[str, Any] | None = None,
    param_group_rules: Mapping[str, Any] | None = None,
) -> Muon:
    """pytorch_optimizer.Muon over ``model``'s parameters, split by role (module docstring).

    ``adamw``: the AdamW groups' ``lr`` (a number, or one per role: input, output, bias,
    norm), ``betas``, ``eps`` and ``weight_decay``. ``param_group_rules`` is
    ``optimizer.param_groups`` (``no_decay``, ``lr_multipliers``).
    """
    settings = {"ns_steps": ns_steps, "adamw": adamw}
    check_config(settings)
    aux = _adamw_settings(adamw)
    muon_group = {
        "name": "muon",
        "use_muon": True,
        "lr": lr,
        "momentum": momentum,
        "nesterov": nesterov,
        "ns_steps": ns_steps,
        "weight_decay": weight_decay,
    }
    if isinstance(model, nn.Module):
        groups = _groups(model, muon_group, aux, param_group_rules or {}, muon_input_layer)
    else:
        groups = [{**muon_group, "params": list(model)}]
    optimizer = Muon(
        groups,
        lr=lr,
        momentum=momentum,
        nesterov=nesterov,
        ns_steps=ns_steps,
        weight_decay=weight_decay,
        adamw_betas=aux["betas"],
        adamw_eps=aux["eps"],
        adamw_wd=aux["weight_decay"],
    )
    # Schedules that cycle momentum (OneCycleLR) look for it in the defaults; pytorch_optimizer
    # keeps it in the groups only. They then cycle the Muon groups' momentum (AdamW's beta1
    # stays as configured).
    optimizer.defaults.setdefault("momentum", momentum)
    return optimizer


muon.check_config = check_config  # type: ignore[attr-defined]  # build.check_optimizer calls it


def _adamw_settings(adamw: Mapping[str, Any] | None) -> dict[str, Any]:
    given = dict(adamw or {})
    lrs = given.get("lr")
    if lrs is None or isinstance(lrs, Mapping):
        lrs = {**ADAMW_DEFAULTS["lr"], **{k: v for k, v in (lrs or {}).items() if v is not None}}
    else:
        lrs = dict.fromkeys(ROLES, lrs)
    settings = {**ADAMW_DEFAULTS, **{k: v for k, v in given.items() if v is not None}}
    settings["lr"] = {role: float(value) for role, value in lrs.items()}
    settings["betas"] = tuple(float(b) for b in settings["betas"])
    return settings


def parameter_roles(
    model: nn.Module, *, muon_input_layer: bool = False
) -> list[tuple[str, str, torch.nn.Parameter]]:
    """(role, kind, parameter) for every trainable parameter of ``model``: role is muon,
    input, output, bias or norm; kind is optimizer.param_groups's (weight, bias, norm)."""
    entries: list[tuple[nn.Module, str, torch.nn.Parameter, str]] = []
    layers: list[nn.Module] = []  # modules holding a weight Muon could take, in order
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad:
                continue
            kind = parameter_kind(module, name)
            if kind == "weight" and parameter.ndim < 2:
                kind = "norm"  # a gain: a vector of scales, as a normalization layer's weight
            entries.append((module, name, parameter, kind))
            if kind == "weight" and (not layers or layers[-1] is not module):
                layers.append(module)
    first, last = (layers[0], layers[-1]) if layers else (None, None)
    roles = []
    for module, _name, parameter, kind in entries:
        if kind != "weight":
            role = kind
        elif module is last:
            role = "output"
        elif module is first and not muon_input_layer:
            role = "input"
        else:
            role = "muon"
        roles.append((role, kind, parameter))
    return roles


def _groups(
    model: nn.Module,
    muon_group: dict[str, Any],
    aux: dict[str, Any],
    rules: Mapping[str, Any],
    muon_input_layer: bool,
) -> list[dict[str, Any]]:
    no_decay, multipliers = group_rules(rules)
    # (rule, lr, weight decay) -> group; Muon's first, then AdamW's in role order
    groups: dict[tuple[str, float, float], dict[str, Any]] = {}
    order = {role: index for index, role in enumerate(("muon", *ROLES))}
    roles = parameter_roles(model, muon_input_layer=muon_input_layer)
    for role, kind, parameter in sorted(roles, key=lambda entry: order[entry[0]]):
        rule, settings = ("muon", muon_group) if role == "muon" else ("adamw", aux)
        lr = (muon_group["lr"] if role == "muon" else aux["lr"][role]) * float(
            multipliers.get(kind, 1.0)
        )
        decay = 0.0 if kind in no_decay else float(settings["weight_decay"])
        group = groups.setdefault((rule, lr, decay), {"params": [], "roles": []})
        group["params"].append(parameter)
        if role not in group["roles"]:
            group["roles"].append(role)
    result = []
    for (rule, lr, decay), group in groups.items():
        if rule == "muon":  # one group: every Muon parameter is a weight
            entry = {**muon_group, "lr": lr, "weight_decay": decay}
        else:  # one group per (lr, decay); a role has one kind, so it is in one group
            entry = {
                "name": "adamw:" + "+".join(group["roles"]),
                "use_muon": False,
                "lr": lr,
                "betas": aux["betas"],
                "eps": aux["eps"],
                "weight_decay": decay,
            }
        result.append({**entry, "params": group["params"]})
    return result
