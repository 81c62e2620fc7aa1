"""Every known default difference between Keras 3 and PyTorch, declared once.

A knob has one *stated convention* (the config's) and, for each framework whose
API states it otherwise, the conversion: the implementations call ``to_native`` /
``from_native`` wherever they hand a knob to their framework or read its default.
Native values are read from the installed framework by each implementation's
``backend.native_defaults()`` (never hard-coded here), so an upgrade that changes a
default shows up.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

KNOBS: dict[str, "Knob"] = {}


def _kept_to_new(m: float) -> float:
    """Fraction of the old running value kept <-> weight of the new batch (torch's momentum)."""
    return 1.0 - m


@dataclass(frozen=True)
class Knob:
    name: str
    convention: str                       # how the config states the value
    note: str
    config_field: str | None = None       # RunConfig path, when the config can set it
    # framework -> conversion from the config's convention to that framework's argument; it is its
    # own inverse for every knob so far. A framework not listed takes the config's value as it is.
    native: dict[str, Callable[[float], float]] = field(default_factory=dict)
    # unset in the config, the plan holds the framework's own default (``resolve_bn``, ``resolve_optimizer``);
    # False where a framework has none to read (torch has no renorm: the layer takes Keras' default)
    resolved: bool = True


def register_knob(knob: Knob) -> Knob:
    KNOBS[knob.name] = knob
    return knob


def to_native(knob: str, framework: str, value: float) -> float:
    """A value in the config's convention -> the argument ``framework``'s own API takes."""
    convert = KNOBS[knob].native.get(framework)
    return convert(value) if convert else value


def from_native(knob: str, framework: str, value: float) -> float:
    """``framework``'s own argument (e.g. a default read from its signature) -> the config's convention."""
    return to_native(knob, framework, value)   # every conversion so far is its own inverse


register_knob(Knob(
    "bn_momentum", "fraction of the old running value kept (Keras' convention)",
    note="Keras 0.99 keeps 99% of the old statistics; torch 0.1 is the weight of the new batch (= 0.9 here)",
    config_field="bn.momentum", native={"torch": _kept_to_new},
))
register_knob(Knob(
    "renorm_momentum", "fraction of the old renorm moving value kept (Keras' convention)",
    note="Keras' renorm_momentum; our torch BatchRenorm2d takes torch's convention like BatchNorm2d",
    config_field="bn.renorm_momentum", native={"torch": _kept_to_new}, resolved=False,
))
register_knob(Knob(
    "bn_epsilon", "added to the variance before the square root",
    note="Keras 1e-3, torch 1e-5", config_field="bn.epsilon",
))
register_knob(Knob(
    "adam_epsilon", "added to Adam's denominator (where: the adam_epsilon update rule)",
    note="Keras 1e-7, torch 1e-8", config_field="adam_epsilon",
))
register_knob(Knob(
    "weight_decay", "the decay coefficient (how it enters the update: the weight_decay_form rule)",
    note="SGD/Adam none on both sides; AdamW Keras 0.004, torch 0.01", config_field="weight_decay",
))


def resolved_config_fields() -> tuple[str, ...]:
    """The config fields (RunConfig paths such as ``bn.momentum``) whose value the plan holds resolved."""
    return tuple(k.config_field for k in KNOBS.values() if k.resolved and k.config_field)


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


# What ``parity audit`` reads from each installed framework (every column's audit module returns these keys),
# in the config's conventions, with the
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
    "weight_decay": "w after one Adam step (lr 0.1, weight_decay 0.5) on a zero gradient from 1: 0.95 = decay "
                    "decoupled from the gradient, 0.9 = coupled into it (probe)",
    "weight_decay_default": "optimizer weight decay default (SGD's signature; None and 0 both mean none)",
    "adamw_weight_decay_default": "AdamW's default weight decay (signature)",
    "loss_scale_start": "the dynamic loss scale mixed float16 starts from (probe: the scale of a new "
                        "LossScaleOptimizer / GradScaler)",
    "resize_interpolation": "the default interpolation of the framework's image resize (tf.image.resize / "
                            "torchvision.transforms.v2.Resize)",
    "resize_antialias": "does that default resize antialias when downscaling? (probe: a 3x downscale, 24 -> 8 px, of a "
                        "one-pixel checkerboard)",
    "jpeg_decoding": "the framework's JPEG decoder's IDCT, as decoded pixels show it (probe: against the "
                     "decoder's own selectable methods / PIL's)",
    "dense_init_max_weight": "max |w| of a new 512x512 Dense/Linear layer (probe)",
    "dense_init_max_bias": "max |b| of a new 512x512 Dense/Linear layer (probe)",
}


# Update rules in which the frameworks' own optimizers differ and that no setting of them makes
# equal. A run names the ones to match in ``match_rules``: then torch trains with
# ``torch_impl.optim.KerasRules`` -- Keras' rule, proven equal to Keras' real optimizer over 100 steps
# (tests/twins/test_optim_parity.py) -- and TF with Keras' own optimizer. A run that depends on a rule
# it leaves unmatched is labelled -- in its job file and its table row -- so a "parity" or "gap"
# verdict is never silently built on two different rules. The audit measures each
# (adam_first_step_tiny_grad, sgd_momentum_two_steps, weight_decay).
UPDATE_RULES = {
    "adam_epsilon": "Adam/AdamW: Keras adds epsilon to sqrt(v) with the bias correction folded into the step "
                    "size, torch adds it to the bias-corrected sqrt(v)",
    "sgd_momentum_form": "SGD: under a changing learning rate Keras scales only the new gradient by the new "
                         "rate, torch the whole momentum buffer",
    "weight_decay_form": "SGD/Adam: Keras' weight_decay is decoupled (w -= lr*wd*w before the step), torch's "
                         "is coupled (wd*w added to the gradient, so it also enters momentum and Adam's moments)",
}
_RULE_OPTIMIZERS = {"adam_epsilon": ("adam", "adamw"), "sgd_momentum_form": ("sgd",),
                    "weight_decay_form": ("sgd", "adam")}


def rule_applies(rule: str, optimizer: str) -> bool:
    """Whether ``rule`` is part of ``optimizer``'s update at all (AdamW's decay is decoupled on both sides)."""
    return optimizer in _RULE_OPTIMIZERS[rule]


# When a rule the optimizer has makes a difference at all: SGD's two momentum forms agree at a constant
# rate (and without momentum), the decay forms without decay; Adam's epsilon forms always differ.
_RULE_MATTERS = {
    "adam_epsilon": lambda run: True,
    "sgd_momentum_form": lambda run: bool(run.sgd_momentum) and run.lr_changes(),
    "weight_decay_form": lambda run: bool(getattr(run, "weight_decay", None)),
}


def unmatched_rules(run) -> list[str]:
    """The rules (keys of UPDATE_RULES) a run's two frameworks apply differently: used, mattering, not matched."""
    matched = getattr(run, "match_rules", None) or ()
    return [rule for rule in UPDATE_RULES if rule_applies(rule, run.optimizer) and _RULE_MATTERS[rule](run)
            and rule not in matched]


def resolve_optimizer(optimizer: str, weight_decay: float | None, adam_epsilon: float | None,
                      native: dict[str, float]) -> dict[str, float]:
    """The weight decay and Adam epsilon a framework actually gets (its native default where unset)."""
    if weight_decay is None:
        weight_decay = native["adamw_weight_decay"] if optimizer == "adamw" else 0.0
    return {"weight_decay": float(weight_decay),
            "adam_epsilon": float(native["adam_epsilon"] if adam_epsilon is None else adam_epsilon)}
