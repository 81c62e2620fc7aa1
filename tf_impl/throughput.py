"""Keras/TensorFlow throughput: train-step and inference images/s, per execution mode.

Mirrors ``torch_impl/throughput.py``. Modes: ``eager`` (no tf.function: the
plain default of a hand-written GradientTape loop), ``function`` (tf.function,
what ``model.fit`` compiles to by default), ``xla`` (tf.function with
``jit_compile=True``, the best case); on a GPU also ``function-amp``
(mixed_float16). A step's result is read back (``.numpy()``) before every
clock read, which synchronises the device (``sync``); the timing loop itself is
``parity.bench.timing``.
"""
from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from parity.train.plan import TrainPlan
from keras_impl import optim
from tf_impl import train


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu") if gpus else "cpu"


def modes() -> list[str]:
    out = ["eager", "function", "xla"]
    if tf.config.list_physical_devices("GPU"):
        out.append("function-amp")
    return out


def threads() -> int:
    return tf.config.threading.get_intra_op_parallelism_threads()


def steps(plan: TrainPlan, init: dict, mode: str):
    """(to_device, train_step, infer_step) for one execution mode; a step returns what ``sync`` waits on."""
    precision = "mixed_float16" if mode.endswith("amp") else "float32"
    plan = dataclasses.replace(plan, precision=precision)   # train.build builds under this policy
    model = train.build(plan, init)
    optimizer = optim.make_optimizer(plan, list(model.trainable_variables), plan.lr)
    variables = list(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)   # it unscales what it is given

    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
            scaled_loss = optimizer.scale_loss(loss) if scaled else loss
        optimizer.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))
        return loss

    def infer_step(x, y):
        return model(x, training=False)

    if mode != "eager":
        jit = mode == "xla"
        train_step = tf.function(train_step, jit_compile=jit)
        infer_step = tf.function(infer_step, jit_compile=jit)

    def to_device(x, y):
        return tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    return to_device, train_step, infer_step


def sync(result=None) -> None:
    """Wait for the device: read the last step's result back (nothing to wait for before a round)."""
    if result is not None:
        result.numpy()


def minimal_round(model: keras.Model, plan: TrainPlan, batches: list):
    """A minimal hand-written tf.function loop over the batches, the baseline of the harness overhead."""
    optimizer = optim.make_optimizer(plan, list(model.trainable_variables), plan.lr)
    variables = list(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def minimal_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def one_round():
        loss = None
        for x, y in batches:
            loss = minimal_step(tf.convert_to_tensor(x), tf.convert_to_tensor(y))
        loss.numpy()

    return one_round
