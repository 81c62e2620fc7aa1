"""Keras model <-> canonical tensors (see `parity.assets.canonical`).

Canonical tensors use torch's names and layouts; `keras_impl.models.canonical_layers`
names each Keras layer by its torch module, so this file only converts layouts:
conv HWIO -> OIHW is transpose (3, 2, 0, 1) (back: (2, 3, 1, 0)), a depthwise kernel (kh, kw, C, 1) ->
torch's grouped (C, 1, kh, kw) is transpose (2, 3, 0, 1), Dense (in, out)
-> Linear (out, in), BN gamma/beta/moving_mean/moving_variance ->
weight/bias/running_mean/running_var.
"""
from __future__ import annotations

import numpy as np
from keras import layers

from parity.assets.canonical import check_compatible, split_skipped
from keras_impl.models import canonical_layers

_CONV_TO_TORCH = (3, 2, 0, 1)   # HWIO -> OIHW
_DEPTHWISE_TO_TORCH = (2, 3, 0, 1)   # (kh, kw, C, 1) -> (C, 1, kh, kw)
_DENSE_TO_TORCH = (1, 0)        # (in, out) -> (out, in)
_BN = (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
       ("running_var", "moving_variance"))


def _slots(model) -> dict[str, tuple]:
    """canonical key -> (Keras variable, axis permutation from Keras to torch layout or None)."""
    slots = {}
    for name, layer in canonical_layers(model).items():
        if isinstance(layer, layers.Conv2D):
            slots[f"{name}.weight"] = (layer.kernel, _CONV_TO_TORCH)
        elif isinstance(layer, layers.DepthwiseConv2D):
            slots[f"{name}.weight"] = (layer.kernel, _DEPTHWISE_TO_TORCH)
        elif isinstance(layer, layers.BatchNormalization):
            for key, attr in _BN:
                if getattr(layer, attr, None) is not None:
                    slots[f"{name}.{key}"] = (getattr(layer, attr), None)
            continue
        elif isinstance(layer, layers.GroupNormalization):
            slots[f"{name}.weight"] = (layer.gamma, None)
            slots[f"{name}.bias"] = (layer.beta, None)
            continue
        elif isinstance(layer, layers.Dense):
            slots[f"{name}.weight"] = (layer.kernel, _DENSE_TO_TORCH)
        if layer.use_bias:
            slots[f"{name}.bias"] = (layer.bias, None)
    return slots


def to_canonical(model) -> dict[str, np.ndarray]:
    """float32 numpy tensors, torchvision names and torch layouts."""
    out = {}
    for key, (var, perm) in _slots(model).items():
        arr = np.asarray(var.numpy(), dtype=np.float32)
        out[key] = np.ascontiguousarray(arr.transpose(perm) if perm else arr)
    return out


def from_canonical(model, tensors: dict[str, np.ndarray], skip: tuple[str, ...] = ()) -> None:
    """Assign canonical tensors in place; keys starting with a `skip` prefix keep the model's own values."""
    slots = _slots(model)
    kept, _ = split_skipped(slots, skip)
    given, _ = split_skipped(tensors, skip)
    # Compare in torch layout, so an error names the shapes the checkpoint speaks in.
    expected = {}
    for k in kept:
        var, perm = slots[k]
        shape = tuple(var.shape)
        expected[k] = tuple(shape[i] for i in perm) if perm else shape
    check_compatible(expected, {k: tensors[k] for k in given})
    for k in kept:
        var, perm = slots[k]
        arr = np.asarray(tensors[k])
        if perm:
            arr = arr.transpose(np.argsort(perm))
        var.assign(np.ascontiguousarray(arr).astype(var.dtype, copy=False))
