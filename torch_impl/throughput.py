"""PyTorch throughput: train-step and inference images/s, per execution mode.

Mirrors ``tf_impl/throughput.py``. Modes: ``eager`` (the plain default),
``eager-channels-last`` (NHWC memory format), ``compile`` (torch.compile, the
best case); on a GPU also ``eager-amp`` (autocast float16). Batches come from
the shared loader already in memory, so the figure is the framework's; with
``loader`` every timed batch is pulled through the loader (augmentation,
normalization, layout) instead, to show whether the loader ever limits. The
device is synchronised before every clock read (``sync``); the timing loop itself is
``parity.bench.timing``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from parity.train.plan import TrainPlan
from torch_impl import optim, train


def device_name() -> str:
    return torch.cuda.get_device_name(0) if train.device().type == "cuda" else "cpu"


def modes() -> list[str]:
    out = ["eager", "eager-channels-last", "compile"]
    if train.device().type == "cuda":
        out.append("eager-amp")
    return out


def threads() -> int:
    return torch.get_num_threads()


def sync(result=None) -> None:
    """Wait for the device: CUDA runs asynchronously; the CPU is done when the step returns."""
    if train.device().type == "cuda":
        torch.cuda.synchronize()


def steps(plan: TrainPlan, init: dict, mode: str):
    """(to_device, train_step, infer_step) for one execution mode."""
    fmt = torch.channels_last if "channels-last" in mode else torch.contiguous_format
    model = train.build(plan, init).to(memory_format=fmt)   # build places it on train.device()
    optimizer = optim.make_optimizer(plan, list(model.parameters()), plan.lr)
    forward = torch.compile(model) if mode == "compile" else model

    # float16 with the trainer's autocast and loss scaling (as Keras' function-amp)
    precision = "mixed_float16" if mode.endswith("amp") else "float32"
    scaler = train.make_scaler(precision)

    def autocast():
        return train.autocast(precision)

    def to_device(x, y):
        return train.to_tensor(x).contiguous(memory_format=fmt), train.to_labels(y)

    def train_step(x, y):
        model.train()
        with autocast():
            loss = F.cross_entropy(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    @torch.inference_mode()
    def infer_step(x, y):
        model.eval()
        with autocast():
            forward(x)

    return to_device, train_step, infer_step


def minimal_round(model: nn.Module, plan: TrainPlan, batches: list):
    """A minimal hand-written loop over the batches (each moved to the device as it goes): the baseline."""
    device = train.device()
    optimizer = optim.make_optimizer(plan, list(model.parameters()), plan.lr)

    def one_round():
        model.train()
        for x, y in batches:
            x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), torch.from_numpy(y).to(device, non_blocking=True))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return one_round
