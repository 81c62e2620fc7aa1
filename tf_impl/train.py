"""Fine-tuning in Keras 3 (TensorFlow backend): a tf.function step with GradientTape.

Mirrors ``torch_impl/train.py`` function for function. Freezing uses Keras'
own mechanisms: ``base.trainable = False`` puts its BN layers in inference
mode, and the base is called as ``base(x, training=False)`` -- the Keras
transfer-learning guide's recipe for keeping BN in inference mode after
unfreezing. Keras 3.15 lets the outer ``training=True`` override it
(keras-team/keras#20285), so in two_phase the Keras BN layers adapt again once
the base is unfrozen; the suite measures that as it is (tests/twins/test_freeze.py).
``frozen_bn_batchstats`` -- the pre-TF2 Keras behaviour -- keeps the base
trainable (so BN uses and updates batch statistics) and leaves its weights
out of the optimizer.

Placement is TensorFlow's own (its GPU when the installed build sees one).
Mixed precision is Keras' dtype policy, set before the model is built;
mixed_float16 wraps the optimizer in Keras' LossScaleOptimizer.
"""
from __future__ import annotations

import contextlib

import keras
import numpy as np
import tensorflow as tf

from parity.train.contract import Phase
from parity.train.plan import TrainPlan
from tf_impl import models, optim, renorm, weights, zoo


def to_tensor(x: np.ndarray) -> tf.Tensor:
    """Shared-loader batch (already NHWC float32) -> tensor; no layout change for Keras."""
    return tf.convert_to_tensor(x)


def bn_layers(model: keras.Model) -> dict[str, keras.layers.BatchNormalization]:
    """Every layer with running statistics: BatchNormalization, renorm mode included."""
    return {name: layer for name, layer in models.canonical_layers(model).items()
            if isinstance(layer, keras.layers.BatchNormalization)}


def base_weights(model: keras.Model) -> list:
    """Everything but the head."""
    return list(model.get_layer("base").trainable_variables)


def _reinject_bn(model: keras.Model, plan: TrainPlan, momentum: float) -> keras.Model:
    """The article's fix: rebuild the base with new BN layers of another momentum, keeping all weights."""
    state = weights.to_canonical(model)
    rebuilt = models._build_model(plan.arch, plan.num_classes, plan.image_size, bn_momentum=momentum,
                                  bn_epsilon=plan.bn_epsilon, norm=plan.norm,
                                  base_training=models._base_training(plan.freeze))
    weights.from_canonical(rebuilt, state)
    return rebuilt


def device() -> str:
    """Where TensorFlow places the model: its first GPU when the installed build sees one."""
    return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"


@contextlib.contextmanager
def _dtype_policy(precision: str):
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


def build(plan: TrainPlan, init: dict[str, np.ndarray]) -> keras.Model:
    """The network with the plan's BN settings, loaded from the canonical tensors."""
    with _dtype_policy(plan.precision):
        return _build(plan, init)


def _build(plan: TrainPlan, init: dict[str, np.ndarray]) -> keras.Model:
    if plan.zoo:
        return zoo.build(plan, init)
    model = models._build_model(plan.arch, plan.num_classes, plan.image_size, bn_momentum=plan.bn_momentum,
                                bn_epsilon=plan.bn_epsilon, norm=plan.norm, gn_groups=plan.gn_groups,
                                renorm_momentum=plan.renorm_momentum, renorm_clipping=plan.initial_clipping(),
                                base_training=models._base_training(plan.freeze))
    weights.from_canonical(model, init)
    renorm.sync_renorm_state(model)
    if plan.reinject_momentum is not None:
        model = _reinject_bn(model, plan, plan.reinject_momentum)
    return model


def configure_phase(model: keras.Model, plan: TrainPlan, phase: str) -> tuple[list, bool]:
    """Which variables train and whether BN runs in inference mode, per freeze mode and phase."""
    freeze = plan.freeze
    base = model.get_layer("base")
    head = model.get_layer("fc")
    if freeze == "frozen_bn_inference" or (freeze == "two_phase" and phase == "head"):
        base.trainable = False            # Keras: also switches its BN layers to inference mode
        return list(head.trainable_variables), True
    base.trainable = True
    if freeze == "frozen_bn_batchstats":
        return list(head.trainable_variables), False
    return list(model.trainable_variables), freeze == "two_phase"


def _make_train_step(model: keras.Model, optimizer, variables: list):
    """One SGD/Adam step on a batch, traced once per phase by tf.function."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
            scaled_loss = optimizer.scale_loss(loss) if scaled else loss
        grads = tape.gradient(scaled_loss, variables)
        optimizer.apply_gradients(zip(grads, variables))   # unscales, and skips non-finite steps
        return loss, logits

    return train_step


def make_predict(model: keras.Model, precision: str = "float32"):
    """Loader batch -> float32 logits (numpy) with BN in inference mode, traced once.

    The dtype policy set at build time applies; ``precision`` is part of the shared contract.
    """
    # reduce_retracing: the evaluation's last, smaller batch reuses the trace instead of tracing again
    traced = tf.function(lambda x: tf.cast(model(x, training=False), tf.float32), reduce_retracing=True)
    return lambda x: traced(to_tensor(x)).numpy()


def running_stats(model: keras.Model) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each BN layer's moving mean and variance (Keras keeps the biased variance)."""
    return {n: (l.moving_mean.numpy().copy(), l.moving_variance.numpy().copy()) for n, l in bn_layers(model).items()}


def true_bn_stats(model: keras.Model, batches: list) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Population mean/variance of every BN layer's input on the target data.

    The base runs with batch statistics (as PreciseBN does), so a layer's figure
    does not depend on the lag of the layers before it; moving statistics are
    saved and restored around the pass.
    """
    layers = bn_layers(model)
    if not layers:   # GroupNorm has no running statistics
        return {}
    base = model.get_layer("base")
    # Run eagerly on purpose: traced, TF's graph optimizer changes these activations in the last digits
    # (up to 4.8e-6 at the deeper layers), which recalibration would write into the moving statistics.
    probe = keras.Model(base.inputs, [l.input for l in layers.values()])
    # the zoo model turns the loader's batch into its own input first (tf_impl/zoo.py)
    preprocess = model.get_layer("preprocess") if "preprocess" in [l.name for l in model.layers] else None
    saved = [v.numpy().copy() for v in base.non_trainable_variables]   # renorm state included
    was_trainable = base.trainable
    base.trainable = True   # a frozen Keras BN ignores training=True; this pass needs batch statistics
    sums = {n: [0.0, 0.0, 0] for n in layers}
    try:
        for x, _ in batches:
            xin = to_tensor(x) if preprocess is None else preprocess(to_tensor(x))
            outs = probe(xin, training=True)
            for n, t in zip(layers, outs):
                a = t.numpy().astype(np.float64)
                s = sums[n]
                s[0] = s[0] + a.sum(axis=(0, 1, 2))
                s[1] = s[1] + (a * a).sum(axis=(0, 1, 2))
                s[2] += a.size // a.shape[-1]
    finally:
        base.trainable = was_trainable
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


def prepare_phase(model: keras.Model, plan: TrainPlan, phase: str, lr: float) -> Phase:
    """The phase's step and learning-rate setter; a new tf.function traces the phase's variable set."""
    variables, _bn_inference = configure_phase(model, plan, phase)
    optimizer = optim.make_optimizer(plan, variables, lr)
    optimizer.build(variables)   # its slots exist before tracing: the step is traced once, not twice
    train_step = _make_train_step(model, optimizer, variables)

    def step(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        loss, logits = train_step(to_tensor(x), tf.convert_to_tensor(y))
        return float(loss), logits.numpy()

    return Phase(step=step, set_lr=lambda lr: optim.set_lr(optimizer, lr))
