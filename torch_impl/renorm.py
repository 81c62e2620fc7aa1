"""Batch Renormalization (Ioffe 2017) for PyTorch, which has none built in.

Written to be Keras 3's ``BatchNormalization(renorm=True)`` op for op, because
the suite measures Keras' own renorm and needs the same thing on the torch side
(``tests/twins/test_renorm.py`` proves it: outputs, gradients and moving statistics
within 1e-5). Like Keras it keeps

* ``renorm_mean`` / ``renorm_std``: the averages r and d are computed against
  (``renorm_momentum``),
* ``running_mean`` / ``running_std``: the inference statistics (``momentum``);
  ``running_var`` is derived as ``relu(running_std**2 - eps)``,

and r = std_B / renorm_std, d = (mean_B - renorm_mean) / renorm_std, clipped
to [rmin, rmax] and [-dmax, dmax], are constants in backprop. Momenta here
are in torch's convention (weight of the new batch), like ``nn.BatchNorm2d``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class BatchRenorm2d(nn.Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 renorm_momentum: float = 0.01, rmax: float = 1.0, rmin: float | None = 1.0, dmax: float = 0.0):
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.momentum, self.renorm_momentum = momentum, renorm_momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        # The four BN tensors are the canonical checkpoint's; the rest is renorm state.
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("running_std", torch.ones(num_features), persistent=False)
        self.register_buffer("renorm_mean", torch.zeros(num_features), persistent=False)
        self.register_buffer("renorm_std", torch.ones(num_features), persistent=False)
        # Clipping bounds are buffers so a schedule can move them between steps.
        self.register_buffer("rmax", torch.tensor(float(rmax)), persistent=False)
        self.register_buffer("rmin", torch.tensor(float("nan") if rmin is None else float(rmin)), persistent=False)
        self.register_buffer("dmax", torch.tensor(float(dmax)), persistent=False)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"renorm_momentum={self.renorm_momentum}")

    def sync_from_running(self) -> None:
        """After loading BN statistics: the renorm state starts from them (std = sqrt(var + eps))."""
        with torch.no_grad():
            std = torch.sqrt(self.running_var + self.eps)
            self.running_std.copy_(std)
            self.renorm_std.copy_(std)
            self.renorm_mean.copy_(self.running_mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                training=False, eps=self.eps)
        out_dtype = x.dtype
        x = x.float()   # batch moments in float32 under autocast, as Keras upcasts float16/bfloat16
        dims = (0, 2, 3)
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        std = torch.sqrt(var + self.eps)
        with torch.no_grad():
            renorm_std = torch.clamp_min(self.renorm_std, math.sqrt(self.eps))
            r = std / renorm_std
            d = (mean - self.renorm_mean) / renorm_std
            if not torch.isnan(self.rmin):
                r = torch.maximum(r, self.rmin)
            r = torch.minimum(r, self.rmax)
            d = torch.clamp(d, -self.dmax, self.dmax)
            # Update after r and d are taken, in Keras' order.
            m, rm = self.momentum, self.renorm_momentum
            self.renorm_mean.mul_(1 - rm).add_(mean, alpha=rm)
            self.renorm_std.mul_(1 - rm).add_(std, alpha=rm)
            self.running_mean.mul_(1 - m).add_(mean, alpha=m)
            self.running_std.mul_(1 - m).add_(std, alpha=m)
            self.running_var.copy_(torch.relu(self.running_std * self.running_std - self.eps))
        scale = self.weight * r
        shift = self.bias + self.weight * d
        xhat = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        return (xhat * scale[None, :, None, None] + shift[None, :, None, None]).to(out_dtype)


def renorm_layers(model: nn.Module) -> dict[str, BatchRenorm2d]:
    return {n: m for n, m in model.named_modules() if isinstance(m, BatchRenorm2d)}


def sync_renorm_state(model: nn.Module) -> None:
    """Start every renorm layer's extra state from its loaded BN statistics."""
    for layer in renorm_layers(model).values():
        layer.sync_from_running()


def set_clipping(model: nn.Module, rmax: float, rmin: float | None, dmax: float) -> None:
    """Move every renorm layer's clipping bounds (the schedule calls this before each step)."""
    for layer in renorm_layers(model).values():
        layer.rmax.fill_(rmax)
        layer.rmin.fill_(float("nan") if rmin is None else rmin)
        layer.dmax.fill_(dmax)


def read_clipping(model: nn.Module) -> tuple[float, float | None, float] | None:
    """The bounds the first renorm layer will apply, read back from the layer itself."""
    layers = list(renorm_layers(model).values())
    if not layers:
        return None
    first = layers[0]
    rmin = float(first.rmin)
    return float(first.rmax), (None if math.isnan(rmin) else rmin), float(first.dmax)
