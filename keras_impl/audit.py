"""Keras' side of ``parity audit``, on whichever backend runs it: defaults by introspection, behaviour by probes.

Every probe here is Keras API (layers, optimizers, ``keras.ops``), so the same probe runs in the
tf, keras-torch and keras-jax columns' processes and reads what Keras does on that backend.
The input-pipeline rows are each column's own (``tf_impl/audit.py`` probes TensorFlow's
image ops; the other Keras columns probe ``keras.ops.image.resize``). Mirrors ``torch_impl/audit.py``
key for key, in the config's conventions.
"""
from __future__ import annotations

import inspect

import keras
import numpy as np

from keras_impl import pipeline
from parity.audit import antialias_verdict, checkerboard

# Keras has no JPEG decoder of its own (keras.utils.load_img reads files with PIL).
NO_JPEG_DECODER = "none in Keras: keras.utils.load_img decodes with PIL"


def _np(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def _default(cls, name):
    return inspect.signature(cls).parameters[name].default


def _probe_bn_momentum_applied() -> float:
    """Moving mean after one train step from 0 on a batch of mean 1: 1 - kept fraction."""
    bn = keras.layers.BatchNormalization()
    bn(np.ones((2, 2, 2, 1), np.float32), training=True)
    return round(1.0 - float(_np(bn.moving_mean)[0]), 6)


def _probe_running_variance() -> str:
    """One train step with momentum 0 (keep nothing) stores the batch variance: biased or unbiased?"""
    bn = keras.layers.BatchNormalization(momentum=0.0)
    x = np.array([0.0, 1.0, 2.0, 3.0], np.float32).reshape(1, 2, 2, 1)
    bn(x, training=True)
    stored = float(_np(bn.moving_variance)[0])
    return "unbiased (N-1)" if abs(stored - 5 / 3) < 1e-5 else "biased (N)" if abs(stored - 1.25) < 1e-5 else f"{stored:.6g}"


def _probe_frozen_bn() -> str:
    """Freezing the framework's usual way (trainable=False): does BN still update its statistics?"""
    bn = keras.layers.BatchNormalization()
    bn.build((2, 2, 2, 1))
    bn.trainable = False
    bn(np.full((2, 2, 2, 1), 3.0, np.float32), training=True)
    return "batch statistics, still updating" if float(_np(bn.moving_mean)[0]) != 0 else "inference mode"


def _probe_same_padding_stride2() -> str:
    """Which side 'same' pads for stride 2 on an even input: read from a ones-kernel on a ones-image."""
    conv = keras.layers.Conv2D(1, 3, strides=2, padding="same", use_bias=False, kernel_initializer="ones")
    out = _np(conv(np.ones((1, 4, 4, 1), np.float32)))[0, :, :, 0]
    # Top-left output sees 9 ones when nothing is padded before the image, 4 when one row/col is.
    return {9.0: "pads bottom/right only", 4.0: "pads top/left"}.get(float(out[0, 0]), f"top-left sum {out[0, 0]}")


def _probe_adam_first_step() -> float:
    """First Adam step (lr 1e-3) on a gradient of 1e-7: the epsilon convention shows in its size."""
    w = keras.Variable(np.ones(1, np.float32))
    opt = keras.optimizers.Adam(learning_rate=1e-3)
    opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([1e-7], np.float32)), w)])
    return float(f"{1.0 - float(_np(w)[0]):.4g}")


def _probe_sgd_momentum_two_steps() -> float:
    """w after two SGD steps (momentum 0.9, gradient 1, lr 0.1 then 0.2) from 1.0."""
    w = keras.Variable(np.ones(1, np.float32))
    opt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    for lr in (0.1, 0.2):
        opt.learning_rate.assign(lr)
        opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([1.0], np.float32)), w)])
    return round(float(_np(w)[0]), 6)


def _probe_weight_decay() -> float:
    """w after one Adam step (lr 0.1, weight_decay 0.5) on a zero gradient from 1.0.

    Decoupled decay shrinks w directly (1 - 0.1 * 0.5 = 0.95); decay coupled into the gradient
    becomes a gradient of 0.5 that Adam normalises to a full step of lr (0.9).
    """
    w = keras.Variable(np.ones(1, np.float32))
    opt = keras.optimizers.Adam(learning_rate=0.1, weight_decay=0.5)
    opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([0.0], np.float32)), w)])
    return round(float(_np(w)[0]), 6)


def _probe_dense_init() -> tuple[float, float]:
    """A new 512 -> 512 Dense layer: max |weight| and max |bias|."""
    keras.utils.set_random_seed(0)
    layer = keras.layers.Dense(512)
    layer.build((None, 512))
    return round(float(np.abs(_np(layer.kernel)).max()), 3), round(float(np.abs(_np(layer.bias)).max()), 3)


def _probe_loss_scale_start() -> float:
    """The factor a new LossScaleOptimizer (Keras' dynamic loss scaling) multiplies the first loss by."""
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())
    opt.build([keras.Variable(np.zeros(1, np.float32))])
    return float(_np(opt.scale_loss(1.0)))


def _scan_renorm() -> str:
    params = inspect.signature(keras.layers.BatchNormalization).parameters
    if "renorm" not in params:
        return "none built in"
    return f"built in: BatchNormalization(renorm=...), renorm_momentum {params['renorm_momentum'].default}"


def probe_keras_resize_antialias() -> str:
    """24 x 24 checkerboard -> 8 x 8 with keras.ops.image.resize's defaults (see parity.audit.antialias_verdict)."""
    return antialias_verdict(_np(keras.ops.image.resize(checkerboard()[None, :, :, None], (8, 8))))


def read_keras_defaults() -> dict[str, dict]:
    """Every row on a backend whose pipeline is Keras' own ops (keras-torch, keras-jax)."""
    return read_defaults(pipeline.resize_defaults()["interpolation"], probe_keras_resize_antialias(), NO_JPEG_DECODER)


def read_defaults(resize_interpolation: str, resize_antialias: str, jpeg_decoding: str) -> dict[str, dict]:
    """knob -> {"value", "how"} for every knob the audit knows (see parity.audit.KNOB_ORDER); the three
    input-pipeline rows are the column's own (its pipeline's ops), read by the caller."""
    weight_max, bias_max = _probe_dense_init()
    return {
        "bn_momentum": {"value": _default(keras.layers.BatchNormalization, "momentum"), "how": "signature"},
        "bn_momentum_applied": {"value": _probe_bn_momentum_applied(), "how": "probe"},
        "bn_epsilon": {"value": _default(keras.layers.BatchNormalization, "epsilon"), "how": "signature"},
        "bn_running_variance": {"value": _probe_running_variance(), "how": "probe"},
        "bn_frozen": {"value": _probe_frozen_bn(), "how": "probe"},
        "gn_epsilon": {"value": _default(keras.layers.GroupNormalization, "epsilon"), "how": "signature"},
        "batch_renorm": {"value": _scan_renorm(), "how": "module scan"},
        "conv_same_padding_stride2": {"value": _probe_same_padding_stride2(), "how": "probe"},
        "adam_epsilon": {"value": _default(keras.optimizers.Adam, "epsilon"), "how": "signature"},
        "adam_first_step_tiny_grad": {"value": _probe_adam_first_step(), "how": "probe"},
        "sgd_momentum_two_steps": {"value": _probe_sgd_momentum_two_steps(), "how": "probe"},
        "weight_decay": {"value": _probe_weight_decay(), "how": "probe"},
        "weight_decay_default": {"value": _default(keras.optimizers.SGD, "weight_decay"), "how": "signature"},
        "adamw_weight_decay_default": {"value": _default(keras.optimizers.AdamW, "weight_decay"), "how": "signature"},
        "loss_scale_start": {"value": _probe_loss_scale_start(), "how": "probe"},
        "resize_interpolation": {"value": resize_interpolation, "how": "signature"},
        "resize_antialias": {"value": resize_antialias, "how": "probe"},
        "jpeg_decoding": {"value": jpeg_decoding, "how": "probe" if jpeg_decoding != NO_JPEG_DECODER else "module scan"},
        "dense_init_max_weight": {"value": weight_max, "how": "probe"},
        "dense_init_max_bias": {"value": bias_max, "how": "probe"},
    }
