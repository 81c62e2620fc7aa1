"""Fine-tuning in Keras 3 on TensorFlow: a tf.function step with GradientTape.

Mirrors ``torch_impl/train.py`` function for function. Building, freezing (Keras'
``trainable`` and ``training=False``), BN statistics and recalibration are the Keras code
every Keras column shares (``keras_impl/train.py``, where the freezing semantics are
described); what is TensorFlow's own is here: the traced step, the traced prediction,
the device.

Placement is TensorFlow's own (its GPU when the installed build sees one).
Mixed precision is Keras' dtype policy, set before the model is built;
mixed_float16 wraps the optimizer in Keras' LossScaleOptimizer.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_impl import optim
from keras_impl import train as keras_train
from keras_impl.train import (base_weights, bn_layers, configure_phase, recalibrate_bn,  # noqa: F401
                              running_stats, to_tensor, true_bn_stats)
from parity.train.contract import Phase
from parity.train.plan import TrainPlan
from tf_impl import renorm


def device() -> str:
    """Where TensorFlow places the model: its first GPU when the installed build sees one."""
    return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"


def build(plan: TrainPlan, init: dict[str, np.ndarray]) -> keras.Model:
    """The network with the plan's BN settings, loaded from the canonical tensors."""
    return keras_train.build(plan, init, renorm.sync_renorm_state)


def _make_train_step(model: keras.Model, optimizer, variables: list):
    """One SGD/Adam step on a batch, traced once per phase by tf.function."""
    loss_fn = keras_train.loss_function()
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
            scaled_loss = optimizer.scale_loss(loss) if scaled else loss
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables))   # unscales, and skips non-finite steps
        return loss, logits

    return train_step


def make_predict(model: keras.Model, precision: str = "float32"):
    """Loader batch -> float32 logits (numpy) with BN in inference mode, traced once.

    The dtype policy set at build time applies; ``precision`` is part of the shared contract.
    """
    # reduce_retracing: the evaluation's last, smaller batch reuses the trace instead of tracing again
    traced = tf.function(lambda x: tf.cast(model(x, training=False), tf.float32), reduce_retracing=True)
    return lambda x: traced(to_tensor(x)).numpy()


def prepare_phase(model: keras.Model, plan: TrainPlan, phase: str, lr: float) -> Phase:
    """The phase's step and learning-rate setter; a new tf.function traces the phase's variable set."""
    variables, _bn_inference = configure_phase(model, plan, phase)
    optimizer = optim.make_optimizer(plan, variables, lr)
    optimizer.build(variables)   # its slots exist before tracing: the step is traced once, not twice
    train_step = _make_train_step(model, optimizer, variables)

    def step(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, logits = train_step(to_tensor(x), tf.convert_to_tensor(y))
        return float(loss), logits.numpy()

    return Phase(step=step, set_lr=lambda lr: optim.set_lr(optimizer, lr))
