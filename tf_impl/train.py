"""Fine-tuning in Keras 3 (TensorFlow backend): a tf.function step with GradientTape.

Mirrors ``torch_impl/train.py`` function for function. Freezing uses Keras'
own mechanisms: ``base.trainable = False`` puts its BN layers in inference
mode, and the base is called as ``base(x, training=False)`` -- the Keras
transfer-learning guide's recipe for keeping BN in inference mode after
unfreezing. Keras 3.15 lets the outer ``training=True`` override it
(keras-team/keras#20285), so in two_phase the Keras BN layers adapt again once
the base is unfrozen; the suite measures that as it is (tests/test_freeze.py).
``frozen_bn_batchstats`` -- the pre-TF2 Keras behaviour -- keeps the base
trainable (so BN uses and updates batch statistics) and leaves its weights
out of the optimizer.

Placement is TensorFlow's own (its GPU when the installed build sees one).
Mixed precision is Keras' dtype policy, set before the model is built;
mixed_float16 wraps the optimizer in Keras' LossScaleOptimizer.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterable

import numpy as np
import tensorflow as tf
import keras

from parity.train import loop
from parity.train.plan import Diverged, TrainPlan, lr_at
from tf_impl import models, renorm, weights, zoo


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


def reinject_bn(model: keras.Model, plan: TrainPlan, momentum: float) -> keras.Model:
    """The article's fix: rebuild the base with new BN layers of another momentum, keeping all weights."""
    state = weights.to_canonical(model)
    rebuilt = models.build_model(plan.arch, plan.num_classes, plan.image_size, bn_momentum=momentum,
                                 bn_epsilon=plan.bn_epsilon, base_training=_base_training(plan), norm=plan.norm)
    weights.from_canonical(rebuilt, state)
    return rebuilt


def _base_training(plan: TrainPlan) -> bool | None:
    """Keras' recipe calls the base with training=False when BN must stay in inference mode."""
    return False if plan.freeze in ("frozen_bn_inference", "two_phase") else None


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
        return zoo.build(plan, init, base_training=_base_training(plan))
    model = models.build_model(plan.arch, plan.num_classes, plan.image_size, bn_momentum=plan.bn_momentum,
                               bn_epsilon=plan.bn_epsilon, base_training=_base_training(plan), norm=plan.norm,
                               gn_groups=plan.gn_groups, renorm_momentum=plan.renorm_momentum,
                               renorm_clipping=plan.initial_clipping())
    weights.from_canonical(model, init)
    renorm.sync_renorm_state(model)
    if plan.reinject_momentum is not None:
        model = reinject_bn(model, plan, plan.reinject_momentum)
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


def make_optimizer(plan: TrainPlan, lr: float) -> keras.optimizers.Optimizer:
    if plan.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=plan.sgd_momentum)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=lr)
    if plan.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def make_train_step(model: keras.Model, optimizer, variables: list):
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


def train_one_epoch(train_step, optimizer, batches: Iterable, *, base_lr: float, schedule: str,
                    step0: int, total_steps: int, on_step: Callable[[int], None] | None = None) -> dict:
    loss_sum, correct, seen, step = 0.0, 0, 0, step0
    for x, y in batches:
        optimizer.learning_rate.assign(lr_at(base_lr, schedule, step, total_steps))
        if on_step:
            on_step(step)
        loss, logits = train_step(to_tensor(x), tf.convert_to_tensor(y))
        loss = float(loss)
        if not np.isfinite(loss):
            raise Diverged(f"non-finite training loss at step {step}")
        n = len(y)
        loss_sum += loss * n
        correct += int(np.sum(np.argmax(logits.numpy(), 1) == y))
        seen += n
        step += 1
    return {"train_loss": loss_sum / max(seen, 1), "train_acc": 100.0 * correct / max(seen, 1), "steps": step - step0}


def evaluate(model: keras.Model, batches: Iterable, predict=None) -> dict:
    """Accuracy and loss with BN in inference mode (pass a traced ``predict`` to reuse it)."""
    loss_sum, correct, seen = 0.0, 0, 0
    predict = predict or make_predict(model)
    for x, y in batches:
        logits = predict(to_tensor(x)).numpy()
        # log-softmax in float64 for the loss: the same figure torch's cross_entropy gives
        z = logits.astype(np.float64) - logits.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        loss_sum += float(-logp[np.arange(len(y)), y].sum())
        correct += int(np.sum(np.argmax(logits, 1) == y))
        seen += len(y)
    return {"eval_loss": loss_sum / seen, "eval_acc": 100.0 * correct / seen}


def make_predict(model: keras.Model, precision: str = "float32"):
    """Logits (float32) with BN in inference mode, traced once; the policy set at build time applies."""
    return tf.function(lambda x: tf.cast(model(x, training=False), tf.float32))


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


def prepare_phase(model: keras.Model, plan: TrainPlan, phase: str, lr: float):
    """(optimizer, train_step) for one phase; a new tf.function traces the phase's variable set."""
    variables, _bn_inference = configure_phase(model, plan, phase)
    optimizer = make_optimizer(plan, lr)
    return optimizer, make_train_step(model, optimizer, variables)


def fit(plan: TrainPlan, init: dict[str, np.ndarray], train_loader, eval_loader, stats_batches: list,
        progress: Callable[[float], None] | None = None, calibration_batches: list | None = None) -> dict:
    """Fine-tune according to the plan: the shared epoch loop (parity.train.loop) driving this module's pieces."""
    return loop.fit(sys.modules[__name__], plan, init, train_loader, eval_loader, stats_batches, progress,
                    calibration_batches)
