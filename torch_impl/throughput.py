"""PyTorch throughput: train-step and inference images/s, per execution mode.

Mirrors ``tf_impl/throughput.py``. Modes: ``eager`` (the plain default),
``eager-channels-last`` (NHWC memory format), ``compile`` (torch.compile, the
best case); on a GPU also ``eager-amp`` (autocast float16). Batches come from
the shared loader already in memory, so the figure is the framework's; with
``loader`` every timed batch is pulled through the loader (augmentation,
normalization, layout) instead, to show whether the loader ever limits. The
device is synchronised before every clock read.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from parity.bench.inputs import overhead_row, round_batches, summarize
from parity.train.plan import TrainPlan
from torch_impl import train


def device_name() -> str:
    return torch.cuda.get_device_name(0) if train.device().type == "cuda" else "cpu"


def modes() -> list[str]:
    out = ["eager", "eager-channels-last", "compile"]
    if train.device().type == "cuda":
        out.append("eager-amp")
    return out


def _sync() -> None:
    if train.device().type == "cuda":
        torch.cuda.synchronize()


def _steps(plan: TrainPlan, init: dict, mode: str):
    """(to_device, train_step, infer_step) for one execution mode."""
    fmt = torch.channels_last if "channels-last" in mode else torch.contiguous_format
    model = train.build(plan, init).to(memory_format=fmt)   # build places it on train.device()
    optimizer = train.make_optimizer(plan, list(model.parameters()), plan.lr)
    forward = torch.compile(model) if mode == "compile" else model

    # float16 with the trainer's autocast and loss scaling (as Keras' function-amp)
    precision = "mixed_float16" if mode.endswith("amp") else "float32"
    scaler = train._make_scaler(precision)

    def autocast():
        return train._autocast(precision)

    def to_device(x, y):
        return train.to_tensor(x).contiguous(memory_format=fmt), train._to_labels(y)

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


def make_round(plan: TrainPlan, init: dict, batches: list, mode: str, kind: str = "train", *, steps: int = 10,
               loader=None):
    """A callable running ``steps`` train or inference steps and returning the seconds they took."""
    to_device, train_step, infer_step = _steps(plan, init, mode)
    step = train_step if kind == "train" else infer_step
    next_batch = round_batches(batches, loader, to_device)

    def one_round() -> float:
        _sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step(*next_batch())
        _sync()
        return time.perf_counter() - t0

    return one_round


def row(plan: TrainPlan, batches: list, times: list[float], mode: str, kind: str, steps: int, loader: bool) -> dict:
    """The throughput row for a list of round times."""
    return summarize("torch", times, steps * len(batches[0][1]), mode=mode, kind=kind, loader=loader,
                     device=device_name(), threads=torch.get_num_threads(), batch_size=len(batches[0][1]),
                     image_size=plan.image_size, arch=plan.arch, steps_per_round=steps)


def harness_overhead(plan: TrainPlan, init: dict, batches: list, *, rounds: int = 24) -> dict:
    """The suite's train loop (train_one_epoch + make_train_step) vs a minimal loop, same model and batches.

    Rounds alternate between the two so drift in the machine's speed hits both. Both
    loops move each batch to the device as they go, and each round ends synchronised.
    """
    device = train.device()
    model = train.build(plan, init)   # on train.device()
    optimizer = train.make_optimizer(plan, list(model.parameters()), plan.lr)
    suite_step = train.make_train_step(model, optimizer, bn_inference=False)

    def suite_round():
        train.train_one_epoch(suite_step, optimizer, iter(batches), base_lr=plan.lr, schedule="constant",
                              step0=0, total_steps=len(batches))

    def minimal_round():
        model.train()
        for x, y in batches:
            x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(device, non_blocking=True)
            loss = F.cross_entropy(model(x), torch.from_numpy(y).to(device, non_blocking=True))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    suite_times, minimal_times = [], []
    for r in range(rounds + 1):
        pair = [(suite_round, suite_times), (minimal_round, minimal_times)]
        for fn, times in (pair if r % 2 else pair[::-1]):
            _sync()
            t0 = time.perf_counter()
            fn()
            _sync()
            if r:   # the first round of each is warm-up
                times.append(time.perf_counter() - t0)
    return overhead_row("torch", suite_times, minimal_times, batch_size=len(batches[0][1]), steps=len(batches),
                        threads=torch.get_num_threads(), arch=plan.arch, image_size=plan.image_size,
                        device=device_name())
