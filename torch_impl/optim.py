"""torch's side of the optimizers: torch's own, or Keras' update rule where a run matches one.

A run's ``match_rules`` (``parity.spec.knobs.UPDATE_RULES``) name the rules both sides apply in
Keras' form. With none matched, torch trains with its own ``SGD`` / ``Adam`` / ``AdamW`` as its users
get them. With any matched, it trains with :class:`KerasRules`: Keras' rule for each matched one,
torch's for the others. No setting of torch's optimizers gives Keras' epsilon placement or Keras'
SGD momentum under a changing learning rate, so this is the small optimizer the suite writes;
tests/twins/test_optim_parity.py proves it equal to Keras' real optimizers (every rule in Keras'
form) and to torch's (every rule in torch's form) over 100 steps of random gradients.
Mirrors ``keras_impl/optim.py``.
"""
from __future__ import annotations

import math

import torch

from parity.train.plan import TrainPlan


class KerasRules(torch.optim.Optimizer):
    """SGD (``kind`` "sgd"), Adam or AdamW, each rule in Keras' or in torch's form.

    * ``keras_momentum`` -- Keras: ``m = mu*m - lr*g; w += m``; torch: ``b = mu*b + g; w -= lr*b``
      (equal at a constant rate; under a schedule torch rescales the whole buffer by the new rate).
    * ``keras_epsilon`` -- Keras: ``w -= lr*sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + eps)``;
      torch: ``w -= lr * m_hat / (sqrt(v_hat) + eps)`` (the same only when eps = 0).
    * ``decoupled_decay`` -- Keras (and torch's AdamW): ``w -= lr*wd*w`` before the step;
      torch's SGD/Adam: ``g += wd*w`` (the decay then also passes through momentum and the moments).
    """

    def __init__(self, params, kind: str, lr: float, momentum: float = 0.0, betas=(0.9, 0.999),
                 eps: float | None = None, weight_decay: float = 0.0, keras_momentum: bool = True,
                 keras_epsilon: bool = True, decoupled_decay: bool = True):
        if kind not in ("sgd", "adam", "adamw"):
            raise ValueError(f"KerasRules: kind {kind!r} is not sgd, adam or adamw")
        if kind != "sgd" and eps is None:   # never a silent default: Keras' and torch's differ
            raise ValueError("KerasRules: Adam/AdamW need eps (the plan's resolved adam_epsilon)")
        super().__init__(params, dict(lr=lr, momentum=momentum, betas=betas, eps=eps, weight_decay=weight_decay))
        self.kind, self.keras_momentum, self.keras_epsilon = kind, keras_momentum, keras_epsilon
        self.decoupled_decay = decoupled_decay

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if wd and self.decoupled_decay:
                    p.sub_(p * wd * lr)
                elif wd:
                    g = g.add(p, alpha=wd)
                state = self.state[p]
                if self.kind == "sgd":
                    self._sgd(p, g, state, lr, group["momentum"])
                else:
                    self._adam(p, g, state, lr, group["betas"], group["eps"])
        return loss

    def _sgd(self, p, g, state, lr, mu):
        if not mu:
            p.sub_(g * lr)
            return
        if "buf" not in state:
            state["buf"] = torch.zeros_like(p)
        buf = state["buf"]
        if self.keras_momentum:
            buf.mul_(mu).sub_(g * lr)
            p.add_(buf)
        else:
            buf.mul_(mu).add_(g)
            p.sub_(buf * lr)

    def _adam(self, p, g, state, lr, betas, eps):
        b1, b2 = betas
        if "m" not in state:
            state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p))
        state["t"] += 1
        t, m, v = state["t"], state["m"], state["v"]
        m.add_((g - m) * (1 - b1))
        v.add_((g * g - v) * (1 - b2))
        if self.keras_epsilon:
            alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            p.sub_(m * alpha / (v.sqrt() + eps))
        else:
            p.sub_(lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps))


def make_optimizer(plan: TrainPlan, params: list, lr: float) -> torch.optim.Optimizer:
    """torch's own optimizer, or :class:`KerasRules` when the plan matches a rule."""
    eps = {} if plan.adam_epsilon is None else {"eps": plan.adam_epsilon}
    matched = set(plan.match_rules)
    if not matched:
        if plan.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=plan.sgd_momentum, weight_decay=plan.weight_decay)
        native = torch.optim.AdamW if plan.optimizer == "adamw" else torch.optim.Adam
        return native(params, lr=lr, weight_decay=plan.weight_decay, **eps)
    return KerasRules(params, plan.optimizer, lr, momentum=plan.sgd_momentum, weight_decay=plan.weight_decay,
                      keras_momentum="sgd_momentum_form" in matched, keras_epsilon="adam_epsilon" in matched,
                      decoupled_decay=plan.optimizer == "adamw" or "weight_decay_form" in matched, **eps)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """The shared loop's per-step learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = lr
