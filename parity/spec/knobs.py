"""Every known default difference between Keras 3 and PyTorch, declared once.

A knob has one *stated convention* (the config's) and a converter for each
framework. Native values are read from the installed framework by
``tf_impl.backend.native_defaults()`` / ``torch_impl.backend.native_defaults()``
(never hard-coded here), so an upgrade that changes a default shows up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

KNOBS: dict[str, "Knob"] = {}


@dataclass(frozen=True)
class Knob:
    name: str
    convention: str                       # how the config states the value
    to_tf: Callable[[float], float]       # config value -> Keras argument
    to_torch: Callable[[float], float]    # config value -> torch argument
    from_torch: Callable[[float], float]  # torch argument -> config convention
    note: str
    config_field: str | None = None       # RunConfig path, when the config can set it


def register_knob(knob: Knob) -> Knob:
    KNOBS[knob.name] = knob
    return knob


def _same(v: float) -> float:
    return v


register_knob(Knob(
    "bn_momentum",
    "fraction of the old running value kept (Keras' convention)",
    to_tf=_same, to_torch=lambda m: 1.0 - m, from_torch=lambda m: 1.0 - m,
    note="Keras 0.99 keeps 99% of the old statistics; torch 0.1 is the weight of the new batch (= 0.9 here)",
    config_field="bn.momentum",
))
register_knob(Knob(
    "bn_epsilon", "added to the variance before the square root",
    to_tf=_same, to_torch=_same, from_torch=_same,
    note="Keras 1e-3, torch 1e-5", config_field="bn.epsilon",
))


def torch_bn_momentum(keras_momentum: float) -> float:
    """Keras-convention momentum -> the ``momentum`` argument of nn.BatchNorm2d."""
    return KNOBS["bn_momentum"].to_torch(keras_momentum)


def resolve_bn(framework: str, momentum: float | None, epsilon: float | None,
               native: dict[str, float]) -> dict[str, float]:
    """The BN momentum/epsilon a framework actually gets, in the config's convention.

    ``native`` is that framework's ``native_defaults()`` (already in the config's
    convention). Returned values are what results record, so a table can say
    what each side ran with.
    """
    return {
        "bn_momentum": native["bn_momentum"] if momentum is None else float(momentum),
        "bn_epsilon": native["bn_epsilon"] if epsilon is None else float(epsilon),
    }


# What ``parity audit`` reads from each installed framework (tf_impl/audit.py and
# torch_impl/audit.py return these keys), in the config's conventions, with the
# question each answers. "probe" rows run the framework and read the effect.
AUDITED: dict[str, str] = {
    "bn_momentum": "BN momentum default, as the fraction of the old running value kept",
    "bn_momentum_applied": "momentum actually applied in one train step (probe)",
    "bn_epsilon": "BN epsilon default",
    "bn_running_variance": "running variance stored after a train step: biased or unbiased (probe)",
    "bn_frozen": "BN frozen the usual way (Keras trainable=False, torch requires_grad_(False)) (probe)",
    "gn_epsilon": "GroupNorm epsilon default",
    "batch_renorm": "Batch Renormalization built in?",
    "conv_same_padding_stride2": "'same' padding with stride 2 (probe)",
    "adam_epsilon": "Adam epsilon default",
    "adam_first_step_tiny_grad": "size of Adam's first step (lr 1e-3) on a gradient of 1e-7 (probe)",
    "sgd_momentum_two_steps": "w after two SGD-momentum steps with lr 0.1 then 0.2 (probe)",
    "weight_decay": "optimizer weight decay semantics and default",
    "dense_init_max_weight": "max |w| of a new 512x512 Dense/Linear layer (probe)",
    "dense_init_max_bias": "max |b| of a new 512x512 Dense/Linear layer (probe)",
}
