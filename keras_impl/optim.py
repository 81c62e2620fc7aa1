"""Keras' side of the optimizers: always Keras' own SGD / Adam / AdamW, as its users get them.

Keras' update rules are the reference a matched run uses on both sides (``torch_impl/optim.py``
re-implements them for torch where no setting of torch's own optimizers gives them), so this side
never substitutes anything: the plan's resolved settings go straight to Keras' constructors.
Mirrors ``torch_impl/optim.py``.
"""
from __future__ import annotations

import keras

from parity.train.plan import TrainPlan


def make_optimizer(plan: TrainPlan, params: list, lr: float) -> keras.optimizers.Optimizer:
    """Keras' optimizer for the plan; ``params`` is unused (Keras builds its state on the first step)."""
    common = {"learning_rate": lr, "weight_decay": plan.weight_decay or None}   # None: no decay op at all
    if plan.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(momentum=plan.sgd_momentum, **common)
    else:
        if plan.adam_epsilon is not None:
            common["epsilon"] = plan.adam_epsilon
        if plan.optimizer == "adamw":
            common["weight_decay"] = plan.weight_decay   # AdamW takes 0.0, not None
            optimizer = keras.optimizers.AdamW(**common)
        else:
            optimizer = keras.optimizers.Adam(**common)
    if plan.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def set_lr(optimizer: keras.optimizers.Optimizer, lr: float) -> None:
    """The shared loop's per-step learning rate (a LossScaleOptimizer forwards it to the inner one)."""
    optimizer.learning_rate.assign(lr)
