"""Keras-on-JAX throughput: train-step and inference images/s.

Mirrors ``torch_impl/throughput.py``. One mode, ``jit``: the jitted stateless step of Keras'
JAX training-loop guide (and of ``fit()`` on this backend), with the state carried from step to
step as that guide does (the trainer also writes it back into the Keras variables; this loop
does not need them). A step's loss is waited for (``block_until_ready``) before every clock read.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import keras

from keras_impl import optim
from keras_jax_impl import train
from parity.train.plan import TrainPlan


def device_name() -> str:
    return str(jax.devices()[0].device_kind) if train.device() != "cpu" else "cpu"


def modes() -> list[str]:
    return ["jit"]


def threads() -> int:
    import os

    flags = os.environ.get("XLA_FLAGS", "")
    for part in flags.split():
        if part.startswith("intra_op_parallelism_threads="):
            return int(part.split("=", 1)[1])
    return os.cpu_count() or 1


def sync(result=None) -> None:
    """Wait for JAX's asynchronous dispatch: block on the last step's result."""
    if result is not None:
        jax.block_until_ready(result)


def _stepper(model: keras.Model, plan: TrainPlan):
    """A jitted update and its state, carried between calls."""
    variables = list(model.trainable_variables)
    optimizer = optim.make_optimizer(plan, variables, plan.lr)
    optimizer.build(variables)
    update = train.make_update(model, optimizer, variables)
    clipping = train.renorm_clipping(model)
    # every trainable variable trains here, so the trained values are also the model's trainable ones
    state = [[v.value for v in variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables]]

    def train_step(x, y):
        loss, _logits, state[0], state[1], state[2] = update(state[0], state[0], state[1], state[2], x, y, clipping)
        return loss

    return train_step


def steps(plan: TrainPlan, init: dict, mode: str):
    """(to_device, train_step, infer_step) for the jit mode."""
    model = train.build(plan, init)
    train_step = _stepper(model, plan)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    @jax.jit
    def infer(x):
        return model.stateless_call(trainable, non_trainable, x, training=False)[0]

    def to_device(x, y):
        return jnp.asarray(x), jnp.asarray(y)

    return to_device, train_step, lambda x, y: infer(x)


def minimal_round(model: keras.Model, plan: TrainPlan, batches: list):
    """The jitted stateless loop over the batches, nothing else: the harness's baseline."""
    train_step = _stepper(model, plan)

    def one_round():
        loss = None
        for x, y in batches:
            loss = train_step(jnp.asarray(x), jnp.asarray(y))
        jax.block_until_ready(loss)

    return one_round
