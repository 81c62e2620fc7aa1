"""The convolutions' initializer, and the build whose weights are set next and so need no random values.

A job sets every weight of the network it builds (``weights.from_canonical``), so a random draw there is
only time: Keras on JAX compiles one random program per kernel shape, ~40 s of a 47 s EfficientNet-Lite0
build. Inside ``values_set_next`` the initializer makes zeros instead, and still takes its seed as
VarianceScaling does, so Python's random state moves exactly as it would.
"""
from __future__ import annotations

import contextlib

import keras
import numpy as np

_set_next = False


class _SetNext(keras.initializers.VarianceScaling):
    def __call__(self, shape, dtype=None):
        return np.zeros(shape, keras.backend.standardize_dtype(dtype or keras.config.floatx()))


def conv_init() -> keras.initializers.Initializer:
    """torchvision's kaiming_normal_(mode="fan_out", relu); Keras' fan_out for HWIO is k*k*out too (for a
    depthwise kernel k*k, torch's C*k*k: a network from scratch starts from numpy, parity.train.initial)."""
    kind = _SetNext if _set_next else keras.initializers.VarianceScaling
    return kind(scale=2.0, mode="fan_out", distribution="untruncated_normal")


@contextlib.contextmanager
def values_set_next(on: bool = True):
    """Networks built inside have zeros for convolution kernels (``on``): their weights are set next."""
    global _set_next
    previous, _set_next = _set_next, on
    try:
        yield
    finally:
        _set_next = previous
