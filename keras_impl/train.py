"""The training hooks every Keras column shares: building, freezing, BN statistics, recalibration.

Freezing uses Keras' own mechanisms: ``base.trainable = False`` puts its BN layers in
inference mode, and the base is called as ``base(x, training=False)`` -- the Keras
transfer-learning guide's recipe for keeping BN in inference mode after unfreezing.
Keras 3.15 lets the outer ``training=True`` override it (keras-team/keras#20285), so in
two_phase the Keras BN layers adapt again once the base is unfrozen; the suite measures
that as it is (tests/twins/test_freeze.py). ``frozen_bn_batchstats`` -- the pre-TF2 Keras
behaviour -- keeps the base trainable (so BN uses and updates batch statistics) and
leaves its weights out of the optimizer. ``bn_frozen`` -- Detectron's FrozenBatchNorm2d -- sets
``trainable = False`` on the BN layers alone: they run in inference mode, the rest trains.

Everything here is Keras API, so it runs on the process's backend. What a backend does its
own way -- the gradient step, tracing the prediction, renorm's clipping state -- is in each
column's package (tf_impl, keras_torch_impl, keras_jax_impl), which passes its renorm
module's ``sync_renorm_state`` where a model is built.
"""
from __future__ import annotations

import contextlib
import inspect
from dataclasses import replace
from typing import Callable

import keras
import numpy as np

from keras_impl import models, weights, zoo
from parity.train.plan import TrainPlan


def native_defaults() -> dict[str, float]:
    """Keras' installed defaults in the config's conventions (BN momentum = fraction of the old value kept)."""
    bn = models.native_bn_defaults()
    adam = inspect.signature(keras.optimizers.Adam).parameters
    adamw = inspect.signature(keras.optimizers.AdamW).parameters
    return {"bn_momentum": bn["momentum"], "bn_epsilon": bn["epsilon"], "adam_epsilon": adam["epsilon"].default,
            "adamw_weight_decay": adamw["weight_decay"].default}


def to_tensor(x: np.ndarray):
    """Shared-loader batch (already NHWC float32) -> the backend's tensor; no layout change for Keras."""
    return keras.ops.convert_to_tensor(x)


def to_numpy(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def bn_layers(model: keras.Model) -> dict[str, keras.layers.BatchNormalization]:
    """Every layer with running statistics: BatchNormalization, renorm mode included."""
    return {name: layer for name, layer in models.canonical_layers(model).items()
            if isinstance(layer, keras.layers.BatchNormalization)}


def base_weights(model: keras.Model) -> list:
    """Everything but the head."""
    return list(model.get_layer("base").trainable_variables)


@contextlib.contextmanager
def dtype_policy(precision: str):
    """Keras' global dtype policy (float32, mixed_float16, mixed_bfloat16) while layers are built.

    Layers keep the policy they were built with; restoring the old one afterwards keeps
    the setting from leaking into models built later in the same process.
    """
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def build(plan: TrainPlan, init: dict[str, np.ndarray], sync_renorm_state: Callable) -> keras.Model:
    """The network with the plan's BN settings, loaded from the canonical tensors, under the plan's precision."""
    with dtype_policy(plan.precision):
        if plan.zoo:
            return zoo.build(plan, init)
        model = models.build_model(plan.arch, plan.num_classes, plan.image_size, plan.bn, plan.initial_clipping(),
                                   base_training=models.base_training_for(plan.bn.freeze), weights_set_next=True)
        weights.from_canonical(model, init)
        sync_renorm_state(model)
        if plan.bn.reinject_momentum is not None:
            model = _reinject_bn(model, plan, plan.bn.reinject_momentum)
        return model


def _reinject_bn(model: keras.Model, plan: TrainPlan, momentum: float) -> keras.Model:
    """The article's fix: rebuild the base with new BN layers of another momentum, keeping all weights."""
    state = weights.to_canonical(model)
    rebuilt = models.build_model(plan.arch, plan.num_classes, plan.image_size, replace(plan.bn, momentum=momentum),
                                 base_training=models.base_training_for(plan.bn.freeze), weights_set_next=True)
    weights.from_canonical(rebuilt, state)
    return rebuilt


def configure_phase(model: keras.Model, plan: TrainPlan, phase: str) -> tuple[list, bool]:
    """Which variables train and whether BN runs in inference mode, per freeze mode and phase."""
    freeze = plan.bn.freeze
    base = model.get_layer("base")
    head = model.get_layer("fc")
    if freeze == "frozen_bn_inference" or (freeze == "two_phase" and phase == "head"):
        base.trainable = False            # Keras: also switches its BN layers to inference mode
        return list(head.trainable_variables), True
    base.trainable = True
    if freeze == "bn_frozen":
        for layer in bn_layers(model).values():
            layer.trainable = False       # Keras: this BN layer in inference mode, gamma/beta fixed
        return list(model.trainable_variables), True
    if freeze == "frozen_bn_batchstats":
        return list(head.trainable_variables), False
    return list(model.trainable_variables), freeze == "two_phase"


def loss_function() -> keras.losses.Loss:
    """The fine-tuning loss on every Keras column: Keras' own sparse cross-entropy on logits."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def running_stats(model: keras.Model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each BN layer's moving mean and variance (Keras keeps the biased variance)."""
    return {n: (to_numpy(l.moving_mean).copy(), to_numpy(l.moving_variance).copy())
            for n, l in bn_layers(model).items()}


def true_bn_stats(model: keras.Model, batches: list) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Population mean/variance of every BN layer's input on the target data.

    The base runs with batch statistics (as PreciseBN does), so a layer's figure
    does not depend on the lag of the layers before it; moving statistics are
    saved and restored around the pass. It runs eagerly on purpose: traced, TF's graph
    optimizer changes these activations in the last digits (up to 4.8e-6 at the deeper
    layers), which recalibration would write into the moving statistics.
    """
    layers = bn_layers(model)
    if not layers:   # GroupNorm has no running statistics
        return {}
    base = model.get_layer("base")
    probe = keras.Model(base.inputs, [l.input for l in layers.values()])
    # the zoo model turns the loader's batch into its own input first (keras_impl/zoo.py)
    preprocess = model.get_layer("preprocess") if "preprocess" in [l.name for l in model.layers] else None
    saved = [to_numpy(v).copy() for v in base.non_trainable_variables]   # renorm state included
    was_trainable = {layer: layer.trainable for layer in [base, *layers.values()]}   # bn_frozen sets BN's own
    sums = {n: [0.0, 0.0, 0] for n in layers}
    try:
        # A frozen Keras BN ignores training=True, and this pass needs batch statistics. Each layer by name:
        # base.trainable = True on a base already trainable left its frozen BN layers frozen (Keras 3.15.1, seen
        # under bn_frozen; tests/twins/test_freeze.py).
        for layer in was_trainable:
            layer.trainable = True
        for x, _ in batches:
            xin = to_tensor(x) if preprocess is None else preprocess(to_tensor(x))
            outs = probe(xin, training=True)
            for n, t in zip(layers, outs):
                a = to_numpy(t).astype(np.float64)
                s = sums[n]
                s[0] = s[0] + a.sum(axis=(0, 1, 2))
                s[1] = s[1] + (a * a).sum(axis=(0, 1, 2))
                s[2] += a.size // a.shape[-1]
    finally:
        for layer, trainable in was_trainable.items():   # base first: setting it False sets every layer in it
            layer.trainable = trainable
        for v, value in zip(base.non_trainable_variables, saved):
            v.assign(value)
    out = {}
    for n, (s1, s2, cnt) in sums.items():
        mean = s1 / cnt
        out[n] = (mean, np.maximum(s2 / cnt - mean * mean, 0))
    return out


def recalibrate_bn(model: keras.Model, batches: list) -> None:
    """AdaBN / PreciseBN: set every BN layer's moving statistics to the target data's population ones."""
    stats = true_bn_stats(model, batches)
    for name, layer in bn_layers(model).items():
        mean, var = stats[name]
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(var.astype(np.float32))
