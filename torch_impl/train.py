"""Fine-tuning in PyTorch: a plain loop a reader can follow top to bottom.

The loop's hooks (``parity.train.contract.Trainer``), as the Keras columns' train modules have them. Freezing uses torch's own
mechanisms: ``requires_grad_(False)`` stops gradients but NOT batch statistics;
only ``module.eval()`` puts BN in inference mode, and ``model.train()`` undoes
it, so the train step re-applies it after every ``.train()``.

Placement: the GPU when torch sees one (``PARITY_DEVICE=cpu`` forces the CPU).
Mixed precision is torch's own autocast; float16 adds a GradScaler started at
2**15 like Keras' LossScaleOptimizer, so both sides scale the loss alike.
"""
from __future__ import annotations

import contextlib
import functools
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from parity.train.contract import Phase
from parity.train.plan import TrainPlan
from torch_impl import models, optim, renorm, weights, zoo


@functools.cache
def device() -> torch.device:
    """Where models and batches live: the GPU when there is one, unless PARITY_DEVICE=cpu."""
    wanted = os.environ.get("PARITY_DEVICE", "auto")
    return torch.device("cuda" if wanted != "cpu" and torch.cuda.is_available() else "cpu")


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """Shared-loader batch (NHWC float32) -> NCHW tensor on the device; the only conversion torch needs.

    The layout copy happens after the transfer, so on a GPU it is the GPU's work, not the step's thread's.
    """
    return torch.from_numpy(x).to(device(), non_blocking=True).permute(0, 3, 1, 2).contiguous()


def to_labels(y: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(y).to(device(), non_blocking=True)


_AUTOCAST_DTYPES = {"mixed_float16": torch.float16, "mixed_bfloat16": torch.bfloat16}


def autocast(precision: str):
    """torch's autocast for a Keras policy name; float32 runs without one."""
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device().type, dtype=_AUTOCAST_DTYPES[precision])


def make_scaler(precision: str):
    """Dynamic loss scaling for float16, as Keras' LossScaleOptimizer (start 2**15, x2 every 2000 good steps)."""
    return torch.amp.GradScaler(device().type, init_scale=2.0 ** 15, growth_interval=2000,
                                enabled=precision == "mixed_float16")


def bn_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Every layer with running statistics: BatchNorm2d and our BatchRenorm2d."""
    kinds = (nn.modules.batchnorm._BatchNorm, renorm.BatchRenorm2d)
    return {n: m for n, m in model.named_modules() if isinstance(m, kinds)}


def base_weights(model: nn.Module) -> list[nn.Parameter]:
    """Everything but the head."""
    return [p for n, p in model.named_parameters() if not n.startswith("fc.")]


def _reinject_bn(model: nn.Module, momentum_keras: float) -> nn.Module:
    """The article's fix: replace every BN layer by a new one with another momentum, keeping its state."""
    for name, bn in list(bn_layers(model).items()):
        new = nn.BatchNorm2d(bn.num_features, eps=bn.eps, momentum=models.torch_momentum(momentum_keras))
        new.load_state_dict(bn.state_dict())
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, name.rsplit(".", 1)[-1], new)
    return model


def build(plan: TrainPlan, init: dict[str, np.ndarray]) -> nn.Module:
    """The network with the plan's BN settings, loaded from the canonical tensors, on the device."""
    model = zoo.build(plan, init) if plan.zoo else _build_mirrored(plan, init)
    # true_bn_stats runs in the training precision, as Keras' layers (built under the policy) do
    model.parity_precision = plan.precision
    return model.to(device())


def _build_mirrored(plan: TrainPlan, init: dict[str, np.ndarray]) -> nn.Module:
    model = models.build_model(plan.arch, plan.num_classes, plan.image_size, plan.bn, plan.initial_clipping())
    weights.from_canonical(model, init)
    renorm.sync_renorm_state(model)
    if plan.bn.reinject_momentum is not None:
        _reinject_bn(model, plan.bn.reinject_momentum)
    return model


def _set_train_mode(model: nn.Module, bn_inference: bool) -> None:
    """model.train(), then BN back to eval() when the freeze mode asks for inference-mode BN."""
    model.train()
    if bn_inference:
        for bn in bn_layers(model).values():
            bn.eval()


def configure_phase(model: nn.Module, plan: TrainPlan, phase: str) -> tuple[list[nn.Parameter], bool]:
    """Which parameters train and whether BN runs in inference mode, per freeze mode and phase."""
    freeze = plan.bn.freeze
    base_frozen = freeze in ("frozen_bn_inference", "frozen_bn_batchstats") or (freeze == "two_phase" and phase == "head")
    for p in base_weights(model):
        p.requires_grad_(not base_frozen)
    if freeze == "bn_frozen":   # Detectron's FrozenBatchNorm2d: BN's statistics and affine fixed, the rest trains
        for bn in bn_layers(model).values():
            bn.requires_grad_(False)
    bn_inference = freeze in ("frozen_bn_inference", "two_phase", "bn_frozen")
    params = [p for p in model.parameters() if p.requires_grad]
    return params, bn_inference


def _make_train_step(model: nn.Module, optimizer: torch.optim.Optimizer, bn_inference: bool,
                    precision: str = "float32"):
    """One SGD/Adam step on a batch; BN goes back to eval() after .train() when frozen."""
    scaler = make_scaler(precision)

    def train_step(x: torch.Tensor, y: torch.Tensor):
        _set_train_mode(model, bn_inference)   # evaluate() left the model in eval()
        with autocast(precision):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)    # a plain optimizer.step() when scaling is off
        scaler.update()
        return loss.detach(), logits.detach()

    return train_step


def make_predict(model: nn.Module, precision: str = "float32"):
    """Loader batch -> float32 logits (numpy) with BN in inference mode: eval(), no autograd bookkeeping."""

    @torch.inference_mode()
    def predict(x: np.ndarray) -> np.ndarray:
        model.eval()
        with autocast(precision):
            return model(to_tensor(x)).float().cpu().numpy()

    return predict


def running_stats(model: nn.Module) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each BN layer's running mean and variance as stored (torch keeps the unbiased variance)."""
    return {n: (m.running_mean.cpu().numpy().copy(), m.running_var.cpu().numpy().copy())
            for n, m in bn_layers(model).items()}


@torch.no_grad()
def true_bn_stats(model: nn.Module, batches: list) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Population mean/variance of every BN layer's input on the target data.

    The network runs with batch statistics (as PreciseBN does) so a layer's
    figure does not depend on the lag of the layers before it; running
    statistics are saved and restored around the pass.
    """
    layers = bn_layers(model)
    saved = {n: ({k: b.clone() for k, b in m.named_buffers()}, m.training) for n, m in layers.items()}
    sums: dict[str, list] = {n: [0.0, 0.0, 0] for n in layers}
    hooks = []
    for name, m in layers.items():
        def hook(mod, inp, _out, name=name):
            x = inp[0].double()
            s = sums[name]
            s[0] = s[0] + x.sum(dim=(0, 2, 3))
            s[1] = s[1] + (x * x).sum(dim=(0, 2, 3))
            s[2] += x.numel() // x.shape[1]
        hooks.append(m.register_forward_hook(hook))
    try:
        for m in layers.values():
            m.train()
        with autocast(getattr(model, "parity_precision", "float32")):
            for x, _ in batches:
                model(to_tensor(x))
    finally:
        for h in hooks:
            h.remove()
        for n, m in layers.items():
            buffers, was_training = saved[n]
            for k, b in m.named_buffers():
                b.copy_(buffers[k])
            m.train(was_training)
    out = {}
    for n, (s1, s2, cnt) in sums.items():
        mean = s1 / cnt
        out[n] = (mean.cpu().numpy(), (s2 / cnt - mean * mean).clamp_min(0).cpu().numpy())
    return out


@torch.no_grad()
def recalibrate_bn(model: nn.Module, batches: list) -> None:
    """AdaBN / PreciseBN: set every BN layer's running statistics to the target data's population ones."""
    stats = true_bn_stats(model, batches)
    for name, layer in bn_layers(model).items():
        mean, var = stats[name]
        layer.running_mean.copy_(torch.from_numpy(mean).to(layer.running_mean))
        layer.running_var.copy_(torch.from_numpy(var).to(layer.running_var))


def prepare_phase(model: nn.Module, plan: TrainPlan, phase: str, lr: float) -> Phase:
    """The phase's step and learning-rate setter."""
    params, bn_inference = configure_phase(model, plan, phase)
    optimizer = optim.make_optimizer(plan, params, lr)
    train_step = _make_train_step(model, optimizer, bn_inference, plan.precision)

    def step(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, logits = train_step(to_tensor(x), to_labels(y))
        return loss.item(), logits.float().cpu().numpy()

    return Phase(step=step, set_lr=lambda lr: optim.set_lr(optimizer, lr))
