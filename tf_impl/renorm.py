"""Batch Renormalization in Keras: Keras' own ``BatchNormalization(renorm=True)``.

The suite measures Keras' implementation, so nothing is re-implemented here;
this module only (1) refuses clearly where the installed Keras has no renorm
(it was removed in Keras 3.0 and came back in 3.14), (2) starts the renorm
state from loaded BN statistics, and (3) lets a schedule move the clipping
bounds between steps: Keras reads ``renorm_clipping`` values as constants when
a step is traced, so they are swapped for variables the schedule assigns.
Mirrors ``torch_impl/renorm.py``.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tf_impl.models import canonical_layers


def renorm_layers(model) -> dict[str, keras.layers.BatchNormalization]:
    return {n: l for n, l in canonical_layers(model).items()
            if isinstance(l, keras.layers.BatchNormalization) and getattr(l, "renorm", False)}


def sync_renorm_state(model) -> None:
    """Start every renorm layer's extra state from its loaded BN statistics (std = sqrt(var + eps))."""
    for layer in renorm_layers(model).values():
        std = np.sqrt(layer.moving_variance.numpy() + layer.epsilon)
        layer.moving_stddev.assign(std)
        layer.renorm_stddev.assign(std)
        layer.renorm_mean.assign(layer.moving_mean.numpy())
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


def read_clipping(model) -> tuple[float, float | None, float] | None:
    """The bounds the first renorm layer will apply, read back from the layer itself."""
    layers = list(renorm_layers(model).values())
    if not layers:
        return None
    clip = layers[0].renorm_clipping
    value = lambda v: float(v.numpy()) if hasattr(v, "numpy") else float(v)  # noqa: E731
    rmin = clip.get("rmin")
    return value(clip["rmax"]), (None if rmin is None else value(rmin)), value(clip["dmax"])

