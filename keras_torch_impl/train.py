"""Fine-tuning in Keras 3 on PyTorch: Keras' layers and optimizer, torch's autograd, eagerly.

The loop's hooks, as ``tf_impl/train.py`` has them. Building, freezing, BN statistics and
recalibration are the Keras code every Keras column shares (``keras_impl/train.py``); the
step is the one Keras' guide to custom training loops in PyTorch writes: the forward pass,
``model.zero_grad()``, ``loss.backward()``, then ``optimizer.apply`` under ``torch.no_grad()``.
It runs eagerly, as Keras' ``fit()`` does on this backend by default (``jit_compile`` is a
throughput mode, ``keras_torch_impl/throughput.py``).
"""
from __future__ import annotations

import keras
import numpy as np
import torch

from keras_impl import optim, renorm
from keras_impl import train as keras_train
from keras_impl.train import (base_weights, bn_layers, configure_phase, running_stats,  # noqa: F401
                              to_tensor)
from parity.train.contract import Phase
from parity.train.plan import TrainPlan


def device() -> str:
    """Where Keras' torch backend puts tensors: the GPU when torch sees one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def build(plan: TrainPlan, init: dict[str, np.ndarray]) -> keras.Model:
    """The network with the plan's BN settings, loaded from the canonical tensors."""
    return keras_train.build(plan, init, renorm.sync_renorm_state)


def _numpy_logits(logits) -> np.ndarray:
    return logits.detach().float().cpu().numpy()


def make_predict(model: keras.Model, precision: str = "float32"):
    """Loader batch -> float32 logits (numpy) with BN in inference mode, without autograd."""
    def predict(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return _numpy_logits(model(to_tensor(x), training=False))

    return predict


def true_bn_stats(model: keras.Model, batches: list) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Population BN-input statistics (``keras_impl.train.true_bn_stats``), without building autograd graphs."""
    with torch.no_grad():
        return keras_train.true_bn_stats(model, batches)


def recalibrate_bn(model: keras.Model, batches: list) -> None:
    """AdaBN / PreciseBN (``keras_impl.train.recalibrate_bn``), without building autograd graphs."""
    with torch.no_grad():
        keras_train.recalibrate_bn(model, batches)


def make_train_step(model: keras.Model, optimizer, variables: list):
    """One step as Keras' torch training-loop guide writes it; a LossScaleOptimizer unscales in ``apply``."""
    loss_fn = keras_train.loss_function()
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def train_step(x, y):
        logits = model(x, training=True)
        loss = loss_fn(y, logits)
        model.zero_grad()
        (optimizer.scale_loss(loss) if scaled else loss).backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            optimizer.apply(grads, variables)   # unscales, and skips non-finite steps
        return loss, logits

    return train_step


def prepare_phase(model: keras.Model, plan: TrainPlan, phase: str, lr: float) -> Phase:
    """The phase's step and learning-rate setter."""
    variables, _bn_inference = configure_phase(model, plan, phase)
    optimizer = optim.make_optimizer(plan, variables, lr)
    optimizer.build(variables)
    train_step = make_train_step(model, optimizer, variables)

    def step(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, logits = train_step(to_tensor(x), keras.ops.convert_to_tensor(y))
        return float(loss.detach()), _numpy_logits(logits)

    return Phase(step=step, set_lr=lambda lr: optim.set_lr(optimizer, lr))
