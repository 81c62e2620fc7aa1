"""Batch Renormalization in Keras, shared by the Keras columns: Keras' own ``BatchNormalization(renorm=True)``.

The suite measures Keras' implementation, so nothing is re-implemented here: this module
finds the renorm layers, starts their renorm state from loaded BN statistics, and reads
back the clipping bounds they apply. How a schedule moves the bounds between steps is the
column's own (its ``renorm`` module): Keras reads ``renorm_clipping`` values as constants
when a step is traced, so a traced backend swaps them for variables, and an eager one
writes the new numbers into the layers: ``sync_renorm_state`` and ``set_clipping`` here are that
eager way (keras-torch, keras-jax); tf_impl/renorm.py installs variables instead.
"""
from __future__ import annotations

import keras
import numpy as np

from keras_impl.models import canonical_layers


def renorm_layers(model) -> dict[str, keras.layers.BatchNormalization]:
    return {n: l for n, l in canonical_layers(model).items()
            if isinstance(l, keras.layers.BatchNormalization) and getattr(l, "renorm", False)}


def sync_renorm_state(model) -> None:
    """Start every renorm layer's extra state from its loaded BN statistics (std = sqrt(var + eps))."""
    for layer in renorm_layers(model).values():
        std = np.sqrt(keras.ops.convert_to_numpy(layer.moving_variance) + layer.epsilon)
        layer.moving_stddev.assign(std)
        layer.renorm_stddev.assign(std)
        layer.renorm_mean.assign(keras.ops.convert_to_numpy(layer.moving_mean))


def set_clipping(model, rmax: float, rmin: float | None, dmax: float) -> None:
    """Move every renorm layer's clipping bounds by writing them into its ``renorm_clipping`` (where each
    un-traced step reads them afresh); the schedule calls this before each step."""
    for layer in renorm_layers(model).values():
        clip = layer.renorm_clipping
        clip["rmax"], clip["dmax"] = float(rmax), float(dmax)
        if "rmin" in clip:
            clip["rmin"] = 0.0 if rmin is None else float(rmin)


def read_clipping(model) -> tuple[float, float | None, float] | None:
    """The bounds the first renorm layer will apply, read back from the layer itself."""
    layers = list(renorm_layers(model).values())
    if not layers:
        return None
    clip = layers[0].renorm_clipping
    value = lambda v: float(keras.ops.convert_to_numpy(v))  # noqa: E731  (a number or a variable)
    rmin = clip.get("rmin")
    return value(clip["rmax"]), (None if rmin is None else value(rmin)), value(clip["dmax"])
