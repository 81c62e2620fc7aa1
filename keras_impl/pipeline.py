"""Keras' own input pipeline on a non-TensorFlow backend (the input-pipeline scenario).

Keras 3 brings image ops of its own that run on every backend: ``keras.ops.image.resize``
(what ``keras.layers.Resizing`` calls; bilinear, antialias off by default), ``keras.ops.pad``,
``keras.ops.flip``. It has no JPEG decoder: ``keras.utils.load_img`` reads files with PIL, so
that is the Keras user's decoder here. Used as it is by keras-torch and keras-jax; the tf
column's pipeline is TensorFlow's own ops (``tf_impl/pipeline.py``), as tf.data users write it.
"""
from __future__ import annotations

import inspect
import io

import keras
import numpy as np


def preprocess(images, size, mean, std, crops=None, flips=None, pad=0, antialias=None) -> np.ndarray:
    """uint8 NHWC images (any size) -> float32 NHWC model input, with Keras' own ops on this backend.

    The resize runs on float32 (``keras.layers.Resizing`` casts to its float compute dtype first);
    ``crops`` are top-left offsets into the padded image (the shared loader's ``EpochPlan.crops``),
    without them the crop is centred (the image as it was).
    """
    ops = keras.ops
    x = ops.cast(ops.convert_to_tensor(np.asarray(images, np.uint8)), "float32")
    kwargs = {} if antialias is None else {"antialias": bool(antialias)}
    x = ops.image.resize(x, (size, size), **kwargs)
    if pad:
        x = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="reflect")
    n = int(x.shape[0])
    if pad or crops is not None or flips is not None:
        offsets = np.full((n, 2), pad, np.int64) if crops is None else np.asarray(crops)
        flipped = np.zeros(n, bool) if flips is None else np.asarray(flips, bool)
        out = []
        for i in range(n):
            top, left = int(offsets[i, 0]), int(offsets[i, 1])
            img = x[i, top:top + size, left:left + size, :]
            out.append(ops.flip(img, axis=1) if flipped[i] else img)
        x = ops.stack(out)
    x = x / 255.0
    x = (x - ops.convert_to_tensor(np.asarray(mean, np.float32))) / ops.convert_to_tensor(np.asarray(std, np.float32))
    return np.asarray(ops.convert_to_numpy(x), np.float32)


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> uint8 HWC RGB as ``keras.utils.load_img`` decodes a file: with PIL, its defaults."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def resize_defaults() -> dict:
    """``keras.ops.image.resize``'s defaults, read from its signature: {"interpolation", "antialias"}."""
    params = inspect.signature(keras.ops.image.resize).parameters
    return {"interpolation": params["interpolation"].default, "antialias": params["antialias"].default}
