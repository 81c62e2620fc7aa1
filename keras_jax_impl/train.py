"""Fine-tuning in Keras 3 on JAX: Keras' layers and optimizer, a jitted stateless step.

The loop's hooks, as ``tf_impl/train.py`` has them. Building, freezing, BN statistics and
recalibration are the Keras code every Keras column shares (``keras_impl/train.py``); the
step is the one Keras' guide to custom training loops in JAX writes: ``jax.value_and_grad``
over ``model.stateless_call``, then ``optimizer.stateless_apply``, under ``jax.jit``. The
state stays in the Keras variables between steps (read in, written back), so the shared loop's
learning-rate setter, BN statistics and weights read them as on every other column.

Renorm's clipping bounds, which the schedule moves between steps, are arguments of the jitted
step: Keras reads them from each layer's ``renorm_clipping`` when it traces, so the step puts
its traced arguments there while tracing (a traced step would otherwise keep the first bounds
as constants). mixed_float16 is refused (its loss scale lives in optimizer state a stateless
step would freeze).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras
import numpy as np

from keras_impl import optim, renorm
from keras_impl import train as keras_train
from keras_impl.train import (base_weights, bn_layers, configure_phase, recalibrate_bn,  # noqa: F401
                              running_stats, to_tensor, true_bn_stats)
from parity.train.contract import Phase
from parity.train.plan import TrainPlan


def device() -> str:
    """JAX's default device (its platform: cpu, gpu)."""
    return jax.devices()[0].platform


def build(plan: TrainPlan, init: dict[str, np.ndarray]) -> keras.Model:
    """The network with the plan's BN settings, loaded from the canonical tensors."""
    if plan.precision == "mixed_float16":
        raise ValueError("keras-jax: mixed_float16 is not supported here (its dynamic loss scale is optimizer "
                         "state a stateless jitted step would not update); float32 and mixed_bfloat16 are")
    return keras_train.build(plan, init, renorm.sync_renorm_state)


def make_predict(model: keras.Model, precision: str = "float32"):
    """Loader batch -> float32 logits (numpy) with BN in inference mode, jitted once; reads the current weights."""
    @jax.jit
    def infer(trainable, non_trainable, x):
        logits, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return logits.astype(jnp.float32)

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(infer([v.value for v in model.trainable_variables],
                                [v.value for v in model.non_trainable_variables], to_tensor(x)))

    return predict


def renorm_clipping(model: keras.Model) -> dict:
    """The renorm bounds the layers hold now (the schedule wrote them), as the jitted step's argument."""
    layers = list(renorm.renorm_layers(model).values())
    if not layers:
        return {}
    return {k: jnp.float32(v) for k, v in layers[0].renorm_clipping.items() if v is not None}


def make_update(model: keras.Model, optimizer, variables: list, jit: bool = True):
    """(values in) -> (loss, logits, values out): the phase's trained variables are differentiated, the
    model's other trainable ones held, BN statistics and optimizer state carried through."""
    loss_fn = keras_train.loss_function()
    position = {id(v): i for i, v in enumerate(model.trainable_variables)}
    trained_at = [position[id(v)] for v in variables]
    renorm_layers = list(renorm.renorm_layers(model).values())

    def loss_of(trained, all_trainable, non_trainable, x, y):
        values = list(all_trainable)
        for i, value in zip(trained_at, trained):
            values[i] = value
        logits, non_trainable = model.stateless_call(values, non_trainable, x, training=True)
        return loss_fn(y, logits), (logits, non_trainable)

    grad_of = jax.value_and_grad(loss_of, has_aux=True)

    def update(trained, all_trainable, non_trainable, optimizer_state, x, y, clipping):
        held = [dict(layer.renorm_clipping) for layer in renorm_layers]
        for layer in renorm_layers:   # while tracing, the layers read the bounds from the arguments
            layer.renorm_clipping.update(clipping)
        try:
            (loss, (logits, non_trainable)), grads = grad_of(trained, all_trainable, non_trainable, x, y)
        finally:
            for layer, numbers in zip(renorm_layers, held):
                layer.renorm_clipping.update(numbers)
        trained, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trained)
        return loss, logits, trained, non_trainable, optimizer_state

    return jax.jit(update) if jit else update


def prepare_phase(model: keras.Model, plan: TrainPlan, phase: str, lr: float) -> Phase:
    """The phase's step and learning-rate setter; the step is traced once per phase."""
    variables, _bn_inference = configure_phase(model, plan, phase)
    optimizer = optim.make_optimizer(plan, variables, lr)
    optimizer.build(variables)
    update = make_update(model, optimizer, variables)
    trainable, non_trainable = list(model.trainable_variables), list(model.non_trainable_variables)

    def step(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, logits, trained, new_non_trainable, optimizer_state = update(
            [v.value for v in variables], [v.value for v in trainable], [v.value for v in non_trainable],
            [v.value for v in optimizer.variables], to_tensor(x), jnp.asarray(y), renorm_clipping(model))
        for group, values in ((variables, trained), (non_trainable, new_non_trainable),
                              (optimizer.variables, optimizer_state)):
            for v, value in zip(group, values):
                v.assign(value)
        return float(loss), np.asarray(logits, dtype=np.float32)

    return Phase(step=step, set_lr=lambda lr: optim.set_lr(optimizer, lr))
