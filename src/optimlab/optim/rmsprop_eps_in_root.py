"""RMSprop with eps inside the square root, exactly as D2L ch. 11 writes it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch

from optimlab.errors import ConfigError


class RMSpropEpsInRoot(torch.optim.Optimizer):
    """RMSprop as D2L ch. 11 writes it: s <- a s + (1 - a) g²; w <- w - lr g / sqrt(s + eps).

    torch.optim.RMSprop divides by sqrt(s) + eps, which no eps makes the same update, so the
    rmsprop_2d end point of D2L ch. 11 needs this one. It takes rmsprop.yaml's keys so that
    ``optimizer=rmsprop_eps_in_root`` (or ``optimizer=rmsprop optimizer._target_=...``) composes,
    but only plain RMSprop (no momentum, centering or weight decay). Written by hand because
    no library has this update.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        if momentum or centered or weight_decay:
            raise ConfigError(
                "RMSpropEpsInRoot is plain RMSprop: set momentum=0, centered=false, weight_decay=0"
            )
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p)
                s = state["square_avg"]
                s.mul_(group["alpha"]).addcmul_(p.grad, p.grad, value=1 - group["alpha"])
                p.addcdiv_(p.grad, (s + group["eps"]).sqrt(), value=-group["lr"])
        return loss
