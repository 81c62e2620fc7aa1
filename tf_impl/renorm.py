"""Batch Renormalization on TensorFlow: Keras' own ``BatchNormalization(renorm=True)`` (``keras_impl/renorm.py``).

What is TensorFlow's own: Keras reads ``renorm_clipping`` values as constants when a step is
traced by tf.function, so the bounds are swapped for tf.Variables the schedule assigns.
Keras' renorm was removed in Keras 3.0 and came back in 3.14; ``keras_impl.models`` refuses
clearly where the installed Keras has none. Mirrors ``torch_impl/renorm.py``.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from keras_impl import renorm as keras_renorm
from keras_impl.renorm import read_clipping, renorm_layers  # noqa: F401


def sync_renorm_state(model) -> None:
    """Start every renorm layer's extra state from its loaded BN statistics; the bounds become variables."""
    keras_renorm.sync_renorm_state(model)
    _install_clipping_variables(model)


def _install_clipping_variables(model) -> None:
    """Replace each layer's renorm_clipping floats by shared tf.Variables (once per model)."""
    if getattr(model, "_parity_clipping", None) is not None:
        return
    layers = renorm_layers(model)
    if not layers:
        return
    first = next(iter(layers.values())).renorm_clipping
    rmin = first.get("rmin")
    variables = {
        "rmax": tf.Variable(float(first.get("rmax", np.inf)), trainable=False, dtype=tf.float32),
        "dmax": tf.Variable(float(first.get("dmax", np.inf)), trainable=False, dtype=tf.float32),
    }
    if rmin is not None:
        variables["rmin"] = tf.Variable(float(rmin), trainable=False, dtype=tf.float32)
    for layer in layers.values():
        layer.renorm_clipping = dict(variables)
    object.__setattr__(model, "_parity_clipping", variables)


def set_clipping(model, rmax: float, rmin: float | None, dmax: float) -> None:
    """Move every renorm layer's clipping bounds (the schedule calls this before each step)."""
    variables = getattr(model, "_parity_clipping", None)
    if variables is None:
        return
    variables["rmax"].assign(rmax)
    variables["dmax"].assign(dmax)
    if "rmin" in variables:
        variables["rmin"].assign(0.0 if rmin is None else rmin)
