"""Keras/TensorFlow throughput: train-step and inference images/s, per execution mode.

Mirrors ``torch_impl/throughput.py``. Modes: ``eager`` (no tf.function: the
plain default of a hand-written GradientTape loop), ``function`` (tf.function,
what ``model.fit`` compiles to by default), ``xla`` (tf.function with
``jit_compile=True``, the best case); on a GPU also ``function-amp``
(mixed_float16). A step's result is read back (``.numpy()``) before every
clock read, which synchronises the device.
"""
from __future__ import annotations

import dataclasses
import time

import keras
import tensorflow as tf

from parity.bench.inputs import overhead_row, round_batches, summarize
from parity.train.plan import TrainPlan
from tf_impl import train


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu") if gpus else "cpu"


def modes() -> list[str]:
    out = ["eager", "function", "xla"]
    if tf.config.list_physical_devices("GPU"):
        out.append("function-amp")
    return out


def _steps(plan: TrainPlan, init: dict, mode: str):
    """(to_device, train_step, infer_step) for one execution mode."""
    precision = "mixed_float16" if mode.endswith("amp") else "float32"
    plan = dataclasses.replace(plan, precision=precision)   # train.build builds under this policy
    model = train.build(plan, init)
    optimizer = train.make_optimizer(plan, plan.lr)
    variables = list(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)   # it unscales what it is given

    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
            scaled_loss = optimizer.scale_loss(loss) if scaled else loss
        optimizer.apply_gradients(zip(tape.gradient(scaled_loss, variables), variables))
        return loss

    def infer_step(x, y):
        return model(x, training=False)

    if mode != "eager":
        jit = mode == "xla"
        train_step = tf.function(train_step, jit_compile=jit)
        infer_step = tf.function(infer_step, jit_compile=jit)

    def to_device(x, y):
        return tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    return to_device, train_step, infer_step


def make_round(plan: TrainPlan, init: dict, batches: list, mode: str, kind: str = "train", *, steps: int = 10,
               loader=None):
    """A callable running ``steps`` train or inference steps and returning the seconds they took."""
    to_device, train_step, infer_step = _steps(plan, init, mode)
    step = train_step if kind == "train" else infer_step
    next_batch = round_batches(batches, loader, to_device)

    def one_round() -> float:
        t0 = time.perf_counter()
        out = None
        for _ in range(steps):
            out = step(*next_batch())
        out.numpy()   # waits for the device
        return time.perf_counter() - t0

    return one_round


def row(plan: TrainPlan, batches: list, times: list[float], mode: str, kind: str, steps: int, loader: bool) -> dict:
    """The throughput row for a list of round times."""
    return summarize("tf", times, steps * len(batches[0][1]), mode=mode, kind=kind, loader=loader,
                     device=device_name(), threads=tf.config.threading.get_intra_op_parallelism_threads(), batch_size=len(batches[0][1]),
                     image_size=plan.image_size, arch=plan.arch, steps_per_round=steps)


def harness_overhead(plan: TrainPlan, init: dict, batches: list, *, rounds: int = 24) -> dict:
    """The suite's train loop (train_one_epoch + make_train_step) vs a minimal loop, same model and batches.

    Both use one tf.function train step, as the suite does; rounds alternate so
    drift in the machine's speed hits both.
    """
    model = train.build(plan, init)
    optimizer = train.make_optimizer(plan, plan.lr)
    variables = list(model.trainable_variables)
    suite_step = train.make_train_step(model, optimizer, variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def minimal_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def suite_round():
        train.train_one_epoch(suite_step, optimizer, iter(batches), base_lr=plan.lr, schedule="constant",
                              step0=0, total_steps=len(batches))

    def minimal_round():
        loss = None
        for x, y in batches:
            loss = minimal_step(tf.convert_to_tensor(x), tf.convert_to_tensor(y))
        loss.numpy()

    suite_times, minimal_times = [], []
    for r in range(rounds + 1):
        pair = [(suite_round, suite_times), (minimal_round, minimal_times)]
        for fn, times in (pair if r % 2 else pair[::-1]):
            t0 = time.perf_counter()
            fn()
            if r:   # the first round of each is warm-up
                times.append(time.perf_counter() - t0)
    return overhead_row("tf", suite_times, minimal_times, batch_size=len(batches[0][1]), steps=len(batches),
                        threads=tf.config.threading.get_intra_op_parallelism_threads(), arch=plan.arch,
                        image_size=plan.image_size, device=device_name())
