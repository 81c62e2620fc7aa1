"""keras.applications' ResNet50 with Keras' own ImageNet weights and preprocessing (see parity/assets/zoo.py).

Mirrors ``torch_impl/zoo.py``. The model has the same outer shape as the
mirrored one -- a sub-model named ``base`` and a Dense head named ``fc`` -- so
freezing, BN statistics and recalibration in ``keras_impl/train.py`` work on it
unchanged.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from parity.assets import zoo
from parity.train.plan import TrainPlan
from keras_impl import models


def build(plan: TrainPlan, init: dict[str, np.ndarray]) -> keras.Model:
    """keras.applications.ResNet50 (no top, average pooling) + the shared head, on the shared loader's batches.

    The loader normalizes with the dataset's mean/std; the first layer undoes that
    to 0..255 pixels and applies Keras' own ``resnet.preprocess_input``.
    """
    path = zoo.weight_files(plan.arch)["tf"]   # Keras' own file, whichever backend reads it
    zoo.check(plan.arch, ("tf",))
    size = plan.image_size
    base = keras.applications.ResNet50(include_top=False, weights=str(path), input_shape=(size, size, 3),
                                       pooling="avg", name="base")
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = plan.bn.momentum     # Keras convention already; the epsilon stays as shipped
    scale = np.asarray(plan.pixel_std, np.float32) * 255.0
    offset = np.asarray(plan.pixel_mean, np.float32) * 255.0
    inputs = keras.Input((size, size, 3))
    pixels = layers.Lambda(lambda x: keras.applications.resnet.preprocess_input(x * scale + offset),
                           name="preprocess", dtype="float32")(inputs)   # float32 as torch's scale/shift
    features = base(pixels, training=models.base_training_for(plan.bn.freeze))
    head = layers.Dense(plan.num_classes, name="fc")
    outputs = head(features)
    head.set_weights([init["fc.weight"].T, init["fc.bias"]])
    return keras.Model(inputs, outputs, name=f"zoo-{plan.arch}")


def bn_settings(model: keras.Model) -> dict[str, float]:
    """The momentum (Keras convention) and epsilon of the zoo network's BN layers, as they ran."""
    bns = [l for l in model.get_layer("base").layers if isinstance(l, layers.BatchNormalization)]
    return {"momentum": float(bns[0].momentum), "epsilon": float(bns[0].epsilon), "layers": len(bns)}
