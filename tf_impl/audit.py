"""Keras/TensorFlow's side of ``parity audit``: Keras' probes (``keras_impl/audit.py``) run on TensorFlow,
plus what TensorFlow's own input pipeline does (tf.image.resize, tf.io.decode_jpeg).

Mirrors ``torch_impl/audit.py`` key for key, in the config's conventions.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from keras_impl import audit as keras_audit
from parity.audit import JPEG_METHODS, antialias_verdict, checkerboard
from tf_impl import pipeline


def _probe_resize_antialias() -> str:
    """24 x 24 checkerboard -> 8 x 8 with tf.image.resize's defaults (see parity.audit.antialias_verdict)."""
    out = tf.image.resize(checkerboard()[None, :, :, None], [8, 8]).numpy()
    return antialias_verdict(out)


def _probe_jpeg_decoding() -> str:
    """Which selectable IDCT tf.io.decode_jpeg's default (dct_method "") equals, on one fixed JPEG (quality 75)."""
    image = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = tf.io.encode_jpeg(image, quality=75)
    default = tf.io.decode_jpeg(data, channels=3).numpy()
    decoded = {m: tf.io.decode_jpeg(data, channels=3, dct_method=m).numpy() for m in JPEG_METHODS}
    if np.array_equal(decoded["INTEGER_FAST"], decoded["INTEGER_ACCURATE"]):
        return "unresolved: INTEGER_FAST and INTEGER_ACCURATE decode the probe alike"
    for method, name in JPEG_METHODS.items():
        if np.array_equal(default, decoded[method]):
            return name
    worst = int(np.abs(default.astype(int) - decoded["INTEGER_ACCURATE"]).max())
    return f"neither: differs from INTEGER_ACCURATE by max {worst}"


def read_defaults() -> dict[str, dict]:
    """knob -> {"value", "how"}: Keras' probes (``keras_impl/audit.py``) on TensorFlow, and TF's image ops."""
    return keras_audit.read_defaults(pipeline.resize_defaults()["interpolation"], _probe_resize_antialias(),
                                     _probe_jpeg_decoding())


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}
