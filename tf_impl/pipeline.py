"""Keras/TensorFlow's own input pipeline, as its users write it (the input-pipeline scenario).

Mirrors ``torch_impl/pipeline.py`` function for function. Each step is the op a tf.data / Keras
pipeline calls: ``tf.io.decode_jpeg``, ``tf.image.resize`` on the uint8 image (float32 out, not
rounded), ``tf.pad(mode="REFLECT")``, ``tf.image.crop_to_bounding_box``, ``tf.image.flip_left_right``,
then ``/255`` and the mean/std normalization. Where these defaults differ from torchvision's
(antialias, the IDCT, uint8 rounding after the resize) the two sides' inputs differ, and that is
what the scenario measures.
"""
from __future__ import annotations

import inspect

import numpy as np
import tensorflow as tf


def preprocess(images, size, mean, std, crops=None, flips=None, pad=0, antialias=None) -> np.ndarray:
    """uint8 NHWC images (any size) -> float32 NHWC model input, with TF's own ops.

    ``tf.image.resize`` rather than ``keras.layers.Resizing``: the latter calls it on this backend
    with the same defaults (bilinear, no antialias), and tf.data pipelines call it directly. Its
    output is float32 and not rounded back to uint8 (torchvision's uint8 resize rounds). ``crops``
    are top-left offsets into the padded image (the shared loader's ``EpochPlan.crops``); without
    them the crop is centred (the image as it was). Normalization is plain tf ops:
    ``keras.layers.Normalization`` takes a variance and divides by its square root, one more rounding.
    """
    x = tf.convert_to_tensor(np.asarray(images, np.uint8))
    kwargs = {} if antialias is None else {"antialias": bool(antialias)}
    x = tf.image.resize(x, [size, size], **kwargs)
    if pad:
        x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="REFLECT")
    n = int(x.shape[0])
    if pad or crops is not None or flips is not None:
        offsets = np.full((n, 2), pad, np.int64) if crops is None else np.asarray(crops)
        flipped = np.zeros(n, bool) if flips is None else np.asarray(flips, bool)
        out = []
        for i in range(n):   # per image, as a tf.data map would
            img = tf.image.crop_to_bounding_box(x[i], int(offsets[i, 0]), int(offsets[i, 1]), size, size)
            out.append(tf.image.flip_left_right(img) if flipped[i] else img)
        x = tf.stack(out)
    x = x / 255.0
    x = (x - tf.constant(mean, tf.float32)) / tf.constant(std, tf.float32)
    return x.numpy()


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> uint8 HWC RGB with ``tf.io.decode_jpeg`` and its defaults (dct_method "" = INTEGER_FAST)."""
    return tf.io.decode_jpeg(data, channels=3).numpy()


def resize_defaults() -> dict:
    """``tf.image.resize``'s defaults, read from its signature: {"interpolation", "antialias"}."""
    params = inspect.signature(tf.image.resize).parameters
    method = params["method"].default
    return {"interpolation": str(getattr(method, "value", method)).lower(), "antialias": params["antialias"].default}
