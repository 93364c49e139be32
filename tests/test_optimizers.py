"""Every optimizer file: D2L ch. 11's update rules (or a falling loss), its README row."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable

import pytest
import torch
from omegaconf import OmegaConf

from helpers import CONF_DIR
from optimlab.errors import ConfigError
from optimlab.optim import RunLength, build_lr_scheduler, build_optimizer
from optimlab.optim.schedule_free import is_schedule_free

OPTIMIZERS = sorted(p.stem for p in (CONF_DIR / "optimizer").glob("*.yaml"))
STEPS = 6


def optimizer_cfg(name: str, **overrides: object) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "optimizer" / f"{name}.yaml"))
    return {**cfg, **overrides}


def problem() -> tuple[torch.Tensor, torch.Tensor]:
    """A small linear least-squares problem with gradients of order one."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(32, 4, generator=generator, dtype=torch.float64)
    targets = features @ torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64) + 0.3
    return features, targets


def gradient(w: torch.Tensor) -> torch.Tensor:
    features, targets = problem()
    w = w.detach().requires_grad_(True)
    loss = ((features @ w[:4] + w[4] - targets) ** 2).mean() / 2
    loss.backward()
    return w.grad


def start() -> torch.Tensor:
    return torch.tensor([0.1, 0.2, -0.1, 0.0, 0.05], dtype=torch.float64)


def run_torch(cfg: dict) -> torch.Tensor:
    w = torch.nn.Parameter(start())
    optimizer = build_optimizer(cfg, [w])
    for _ in range(STEPS):
        optimizer.zero_grad()
        w.grad = gradient(w.data)
        optimizer.step()
    return w.detach()


def run_d2l(update: Callable[[torch.Tensor, torch.Tensor, dict, int], None]) -> torch.Tensor:
    """Drive one of D2L ch. 11's from-scratch update functions (written for one tensor)."""
    w, state = start(), {}
    for t in range(1, STEPS + 1):
        update(w, gradient(w), state, t)
    return w


def d2l_momentum(lr: float, beta: float):
    def update(w, g, s, t):
        s["v"] = beta * s.get("v", torch.zeros_like(w)) + g
        w -= lr * s["v"]

    return update


def d2l_adagrad(lr: float, eps: float = 1e-6):
    def update(w, g, s, t):
        s["s"] = s.get("s", torch.zeros_like(w)) + g**2
        w -= lr * g / torch.sqrt(s["s"] + eps)

    return update


def d2l_rmsprop(lr: float, gamma: float, eps: float = 1e-6):
    def update(w, g, s, t):
        s["s"] = gamma * s.get("s", torch.zeros_like(w)) + (1 - gamma) * g**2
        w -= lr * g / torch.sqrt(s["s"] + eps)

    return update


def d2l_adadelta(rho: float, eps: float = 1e-5):
    def update(w, g, s, t):
        s["s"] = rho * s.get("s", torch.zeros_like(w)) + (1 - rho) * g**2
        delta = s.get("delta", torch.zeros_like(w))
        g_prime = torch.sqrt(delta + eps) / torch.sqrt(s["s"] + eps) * g
        w -= g_prime
        s["delta"] = rho * delta + (1 - rho) * g_prime**2

    return update


def d2l_adam(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-6):
    def update(w, g, s, t):
        s["v"] = beta1 * s.get("v", torch.zeros_like(w)) + (1 - beta1) * g
        s["s"] = beta2 * s.get("s", torch.zeros_like(w)) + (1 - beta2) * g**2
        v_hat, s_hat = s["v"] / (1 - beta1**t), s["s"] / (1 - beta2**t)
        w -= lr * v_hat / (torch.sqrt(s_hat) + eps)

    return update


def d2l_yogi(lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-3):
    def update(w, g, s, t):
        s["v"] = beta1 * s.get("v", torch.zeros_like(w)) + (1 - beta1) * g
        sq = s.get("s", torch.zeros_like(w))
        s["s"] = sq + (1 - beta2) * torch.sign(g**2 - sq) * g**2
        v_hat, s_hat = s["v"] / (1 - beta1**t), s["s"] / (1 - beta2**t)
        w -= lr * v_hat / (torch.sqrt(s_hat) + eps)

    return update


# (config file, overrides matching D2L ch. 11's hyperparameters, its rule, tolerance)
# torch's Adagrad/RMSprop add eps outside the square root, D2L ch. 11 inside it. The rules
# are otherwise the same, which eps=0 on both sides shows exactly; with eps > 0 they differ
# where s is tiny (the first steps of a coordinate with a small gradient).
D2L_RULES = [
    ("momentum", {"lr": 0.02, "momentum": 0.5}, d2l_momentum(0.02, 0.5), 1e-12),
    ("momentum", {"lr": 0.01, "momentum": 0.9}, d2l_momentum(0.01, 0.9), 1e-12),
    ("adagrad", {"lr": 0.1, "eps": 0.0}, d2l_adagrad(0.1, eps=0.0), 1e-12),
    ("rmsprop", {"lr": 0.01, "alpha": 0.9, "eps": 0.0}, d2l_rmsprop(0.01, 0.9, eps=0.0), 1e-12),
    ("adadelta", {"rho": 0.9, "eps": 1e-5, "lr": 1.0}, d2l_adadelta(0.9), 1e-12),
    ("adam", {"lr": 0.01, "eps": 1e-6}, d2l_adam(0.01), 1e-12),
    ("yogi", {"lr": 0.01}, d2l_yogi(0.01), 1e-12),
]


@pytest.mark.parametrize(
    ("name", "overrides", "rule", "tolerance"),
    D2L_RULES,
    ids=[f"{name}-{i}" for i, (name, *_rest) in enumerate(D2L_RULES)],
)
def test_matches_the_d2l_update_rule(name: str, overrides: dict, rule, tolerance: float) -> None:
    ours = run_torch(optimizer_cfg(name, **overrides))
    theirs = run_d2l(rule)
    assert not torch.equal(ours, start())
    torch.testing.assert_close(ours, theirs, rtol=tolerance, atol=tolerance)


def loss_of(w: torch.Tensor) -> float:
    features, targets = problem()
    return float(((features @ w[:4] + w[4] - targets) ** 2).mean() / 2)


def train_mode(optimizer: torch.optim.Optimizer) -> None:
    """Schedule-free optimizers step only in train mode (a run's callback switches it)."""
    if is_schedule_free(optimizer):
        optimizer.train()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_decreases_a_convex_loss_and_round_trips_its_state(name: str) -> None:
    cfg = optimizer_cfg(name)
    w = torch.nn.Parameter(start().float())
    optimizer = build_optimizer(cfg, [w])
    train_mode(optimizer)
    losses = [loss_of(w.detach().double())]
    for _ in range(50):
        optimizer.zero_grad()
        w.grad = gradient(w.detach().double()).float()
        optimizer.step()
        losses.append(loss_of(w.detach().double()))
    assert all(math.isfinite(loss) for loss in losses)
    assert losses[-1] < losses[0], f"{name}: {losses[0]:.4f} -> {losses[-1]:.4f}"

    # a restored optimizer continues exactly like the original
    twin_w = torch.nn.Parameter(w.detach().clone())
    twin = build_optimizer(cfg, [twin_w])
    train_mode(twin)
    twin.load_state_dict(copy.deepcopy(optimizer.state_dict()))  # as if saved to disk
    for opt, param in ((optimizer, w), (twin, twin_w)):
        opt.zero_grad()
        param.grad = gradient(param.detach().double()).float()
        opt.step()
    torch.testing.assert_close(w.detach(), twin_w.detach(), rtol=0, atol=0)


# ---------------------------------------------------------------- the README's table

README = CONF_DIR.parent / "README.md"
SYMBOLS = {"lr": "lr", "ε": "eps", "γ": "alpha", "ρ": "rho", "λ": "weight_decay"}
SYMBOLS |= {"η": "trust_coefficient"}  # LARS's trust coefficient
LIBRARIES = {"torch": "torch.optim", "pytorch-optimizer": "pytorch_optimizer"}
LIBRARIES |= {"optimlab": "optimlab", "schedulefree": "schedulefree"}


def readme_optimizer_rows() -> dict[str, tuple[str, str]]:
    """{name: (defaults, from)}, read from the `optimizer=` table of README.md."""
    section = README.read_text().split("### Optimizers", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)`", line)
        if match:
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]  # \| is text
            rows[match.group(1)] = (cells[2], cells[3])
    return rows


def documented_defaults(defaults: str) -> dict[str, object]:
    """'lr 0.01, β (0.9, 0.999), ε 1e-8' -> {'lr': 0.01, 'betas': [0.9, 0.999], 'eps': 1e-8}."""
    values: dict[str, object] = {}
    for symbol, text in re.findall(r"(lr|β|ε|γ|ρ|λ|η) (\([^)]*\)|[0-9][0-9.e+-]*)", defaults):
        if text.startswith("("):
            values["betas"] = [float(v) for v in text[1:-1].split(",")]
        else:
            values["momentum" if symbol == "β" else SYMBOLS[symbol]] = float(text)
    return values


def test_the_readme_table_has_a_row_for_every_optimizer_file_and_no_other() -> None:
    assert sorted(readme_optimizer_rows()) == OPTIMIZERS


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_each_optimizer_is_the_class_with_the_defaults_its_readme_row_gives(name: str) -> None:
    """What `optimizer=<name>` builds: the library and class the row's "from" names, and the
    row's defaults in its param group (a file or a row edited alone fails here)."""
    defaults, origin = readme_optimizer_rows()[name]
    optimizer = build_optimizer(optimizer_cfg(name), [torch.nn.Parameter(start().float())])
    library, _, rest = origin.partition(" ")
    assert type(optimizer).__module__.startswith(LIBRARIES[library]), (name, origin)
    named = re.fullmatch(r"\((\w+)\)", rest)  # "torch (SGD)": the class, if not the name's
    expected_class = named.group(1) if named else name.replace("_", "")
    assert type(optimizer).__name__.lower() == expected_class.lower(), (name, origin)
    documented = documented_defaults(defaults)
    assert documented, f"{name}: no defaults read from {defaults!r}"
    group = optimizer.param_groups[0]
    for key, value in documented.items():
        actual = list(group[key]) if key == "betas" else group[key]
        assert actual == pytest.approx(value), f"{name}: {key} is {actual}, README says {value}"


# ---------------------------------------------------------------- one-cycle x every optimizer


def test_one_cycle_cycles_momentum_or_beta1_exactly_where_the_optimizer_has_one() -> None:
    """scheduler=one_cycle builds and steps with every optimizer file. It cycles momentum, or
    Adam's beta1, where the optimizer has one (from 0.95 down to 0.85 at the peak), and leaves
    the others alone: OneCycleLR refuses an optimizer without momentum if asked to cycle it."""
    schedule = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "scheduler" / "one_cycle.yaml"))
    cycled = set()
    for name in OPTIMIZERS:
        optimizer = build_optimizer(optimizer_cfg(name), [torch.nn.Parameter(start().float())])
        group = optimizer.param_groups[0]
        has_momentum = bool(group.get("momentum")) or "betas" in group
        if is_schedule_free(optimizer):  # its average replaces a decay: refused
            with pytest.raises(ConfigError, match="schedule-free"):
                build_lr_scheduler(optimizer, schedule, RunLength(20, 5))
            continue
        config = build_lr_scheduler(optimizer, schedule, RunLength(20, 5))
        seen = []
        for _ in range(20):
            seen.append(
                (group["lr"], group["betas"][0] if "betas" in group else group.get("momentum"))
            )
            optimizer.step()
            config["scheduler"].step()
        lrs, momenta = zip(*seen, strict=True)
        assert max(lrs) == pytest.approx(optimizer_cfg(name)["lr"], rel=1e-6), name  # its peak
        if has_momentum:
            assert momenta[0] == pytest.approx(0.95) and min(momenta) == pytest.approx(0.85)
            cycled.add(name)
        else:
            assert len(set(momenta)) == 1, name  # untouched
    assert {"sgd", "adagrad", "rmsprop", "adadelta", "rmsprop_eps_in_root"}.isdisjoint(cycled)
    assert {"momentum", "adam", "lion", "lars"} <= cycled
