"""Keras-on-torch throughput: train-step and inference images/s, per execution mode.

Mirrors ``torch_impl/throughput.py``. Modes: ``eager`` (what Keras' ``fit()`` runs on this
backend by default, and the trainer's step), ``jit`` (the step under ``torch.compile``, what
``jit_compile=True`` makes Keras' torch trainer do). The timing loop is ``parity.bench.timing``.
"""
from __future__ import annotations

import keras
import torch

from keras_impl import optim
from keras_torch_impl import train
from parity.train.plan import TrainPlan


def device_name() -> str:
    return torch.cuda.get_device_name(0) if train.device() == "cuda" else "cpu"


def modes() -> list[str]:
    return ["eager", "jit"]


def threads() -> int:
    return torch.get_num_threads()


def sync(result=None) -> None:
    """Wait for the device: CUDA runs asynchronously; the CPU is done when the step returns."""
    if train.device() == "cuda":
        torch.cuda.synchronize()


def steps(plan: TrainPlan, init: dict, mode: str):
    """(to_device, train_step, infer_step) for one execution mode."""
    model = train.build(plan, init)
    variables = list(model.trainable_variables)
    optimizer = optim.make_optimizer(plan, variables, plan.lr)
    optimizer.build(variables)
    train_step = train.make_train_step(model, optimizer, variables)

    def infer_step(x, y):
        with torch.no_grad():
            return model(x, training=False)

    if mode == "jit":
        train_step, infer_step = torch.compile(train_step), torch.compile(infer_step)

    def to_device(x, y):
        return train.to_tensor(x), keras.ops.convert_to_tensor(y)

    return to_device, train_step, infer_step


def minimal_round(model: keras.Model, plan: TrainPlan, batches: list):
    """The loop of Keras' torch training-loop guide over the batches, nothing else: the harness's baseline."""
    variables = list(model.trainable_variables)
    optimizer = optim.make_optimizer(plan, variables, plan.lr)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def one_round():
        for x, y in batches:
            loss = loss_fn(keras.ops.convert_to_tensor(y), model(keras.ops.convert_to_tensor(x), training=True))
            model.zero_grad()
            loss.backward()
            with torch.no_grad():
                optimizer.apply([v.value.grad for v in variables], variables)

    return one_round
