"""The mirrored ResNet family as a Keras 3 functional model (NHWC).

The same network as `torch_impl.models`, layer for layer. Every conv, bn, block and
head layer is named by its torchvision module name with "-" for "." ("layer1-0-conv1"),
and `canonical_layers` / `layer_outputs` give them back under the torchvision name.
Not the dotted name itself: Keras' torch backend keys each layer's torch parameters by
variable path, and torch refuses "." in a parameter name, so dotted layer names cannot
be built on that backend. This file imports Keras only, so it builds on any backend.
"""
from __future__ import annotations

import inspect
import math
import re

import keras
import numpy as np
from keras import layers

from keras_impl.initializers import conv_init, values_set_next
from parity.spec.archs import ResNetSpec, check_build
from parity.spec.config import BNConfig


def _keras_name(module: str) -> str:
    """torchvision module name -> this model's layer name (torchvision names hold no "-")."""
    return module.replace(".", "-")


def _module_name(layer_name: str) -> str:
    return layer_name.replace("-", ".")


_BLOCK_NAME = re.compile(r"^(layer\d+\.\d+|_blocks\.\d+)$")   # ResNet blocks, EfficientNet's MBConv blocks
_CANONICAL_TYPES = (layers.Conv2D, layers.DepthwiseConv2D, layers.BatchNormalization, layers.GroupNormalization,
                    layers.Dense)
_OUTPUT_TYPES = _CANONICAL_TYPES + (layers.MaxPooling2D, layers.GlobalAveragePooling2D)


def native_bn_defaults() -> dict[str, float]:
    """Keras' own BatchNormalization defaults, read from the installed Keras."""
    params = inspect.signature(layers.BatchNormalization).parameters
    return {"momentum": params["momentum"].default, "epsilon": params["epsilon"].default}


def native_gn_defaults() -> dict[str, float]:
    """Keras' own GroupNormalization defaults (epsilon 1e-3 vs torch's 1e-5)."""
    params = inspect.signature(layers.GroupNormalization).parameters
    return {"groups": params["groups"].default, "epsilon": params["epsilon"].default}


class RenormUnavailable(RuntimeError):
    """The installed Keras has no batch renormalization."""


def _require_renorm() -> None:
    if "renorm" not in inspect.signature(keras.layers.BatchNormalization).parameters:
        raise RenormUnavailable(f"Keras {keras.__version__} has no BatchNormalization(renorm=...): "
                                "batch renormalization needs Keras >= 3.14 (it was removed in 3.0-3.13)")


def _norm_factory(bn: BNConfig, renorm_clipping: dict | None):
    """A function (x, name) -> normalized x: BatchNormalization, its renorm mode, or GroupNormalization."""
    if bn.norm == "gn":
        native = native_gn_defaults()
        groups = native["groups"] if bn.gn_groups is None else bn.gn_groups
        eps = native["epsilon"] if bn.epsilon is None else bn.epsilon
        return lambda x, name: layers.GroupNormalization(groups=groups, axis=-1, epsilon=eps, name=_keras_name(name))(x)
    settings = _bn_settings(bn.momentum, bn.epsilon)
    if bn.norm == "renorm":
        _require_renorm()
        params = inspect.signature(layers.BatchNormalization).parameters
        settings.update(renorm=True, renorm_clipping=dict(renorm_clipping or {}),
                        renorm_momentum=params["renorm_momentum"].default if bn.renorm_momentum is None
                        else bn.renorm_momentum)
    elif bn.norm != "bn":
        raise ValueError(f"unknown norm {bn.norm!r}; allowed: bn, renorm, gn")
    return lambda x, name: layers.BatchNormalization(axis=-1, name=_keras_name(name), **settings)(x)


def _bn_settings(bn_momentum: float | None, bn_epsilon: float | None) -> dict[str, float]:
    native = native_bn_defaults()
    momentum = native["momentum"] if bn_momentum is None else bn_momentum
    epsilon = native["epsilon"] if bn_epsilon is None else bn_epsilon
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"bn_momentum must be in [0, 1] (Keras convention), got {momentum}")
    if epsilon <= 0:
        raise ValueError(f"bn_epsilon must be > 0, got {epsilon}")
    return {"momentum": momentum, "epsilon": epsilon}


def _conv(x, filters: int, kernel: int, stride: int, name: str):
    """torch's Conv2d(padding=k//2): explicit symmetric zero padding, then a 'valid' conv.

    Keras' padding="same" pads more on the bottom/right for stride 2, which shifts the
    sampling grid by one pixel against torch.
    """
    if kernel // 2:
        x = layers.ZeroPadding2D(kernel // 2, name=_keras_name(f"{name}.pad"))(x)
    return layers.Conv2D(filters, kernel, strides=stride, padding="valid", use_bias=False,
                         kernel_initializer=conv_init(), name=_keras_name(name))(x)


def _bn(x, name: str, bn):
    return bn(x, name)


def _block(x, spec: ResNetSpec, in_planes: int, planes: int, stride: int, name: str, bn):
    """torchvision's BasicBlock / Bottleneck (v1.5: stride on the 3x3 conv)."""
    out_planes = planes * spec.expansion
    def relu(x, which: str):
        return layers.ReLU(name=_keras_name(f"{name}.{which}"))(x)

    if spec.block == "basic":
        out = relu(_bn(_conv(x, planes, 3, stride, f"{name}.conv1"), f"{name}.bn1", bn), "relu1")
        out = _bn(_conv(out, planes, 3, 1, f"{name}.conv2"), f"{name}.bn2", bn)
    else:
        out = relu(_bn(_conv(x, planes, 1, 1, f"{name}.conv1"), f"{name}.bn1", bn), "relu1")
        out = relu(_bn(_conv(out, planes, 3, stride, f"{name}.conv2"), f"{name}.bn2", bn), "relu2")
        out = _bn(_conv(out, out_planes, 1, 1, f"{name}.conv3"), f"{name}.bn3", bn)
    identity = x
    if stride != 1 or in_planes != out_planes:
        identity = _bn(_conv(x, out_planes, 1, stride, f"{name}.downsample.0"), f"{name}.downsample.1", bn)
    out = layers.Add(name=_keras_name(f"{name}.add"))([out, identity])
    # The block's output carries the block's own name, like torch's module output.
    return layers.ReLU(name=_keras_name(name))(out)


def _build_base(spec: ResNetSpec, image_size: int, bn) -> keras.Model:
    inputs = keras.Input((image_size, image_size, 3), name="base_input")
    if spec.stem == "imagenet":
        x = _conv(inputs, spec.stem_width, 7, 2, "conv1")
    elif spec.stem == "small":
        x = _conv(inputs, spec.stem_width, 3, 1, "conv1")
    else:
        raise ValueError(f"unknown stem {spec.stem!r}")
    x = layers.ReLU(name="relu")(_bn(x, "bn1", bn))
    if spec.stem == "imagenet":
        # torch pads the max-pool with -inf; zeros are equivalent here because the input
        # is post-ReLU (>= 0) and every 3x3 window holds at least one real pixel.
        x = layers.ZeroPadding2D(1, name=_keras_name("maxpool.pad"))(x)
        x = layers.MaxPooling2D(3, strides=2, padding="valid", name="maxpool")(x)
    in_planes = spec.stem_width
    for k, (planes, blocks) in enumerate(zip(spec.widths, spec.layers)):
        for i in range(blocks):
            stride = 2 if (k > 0 and i == 0) else 1
            x = _block(x, spec, in_planes, planes, stride, f"layer{k + 1}.{i}", bn)
            in_planes = planes * spec.expansion
    features = layers.GlobalAveragePooling2D(name="avgpool")(x)
    return keras.Model(inputs, features, name="base")


def base_training_for(freeze: str) -> bool | None:
    """Keras' recipe calls the base with training=False when BN must stay in inference mode."""
    return False if freeze in ("frozen_bn_inference", "two_phase") else None


def build_model(arch: str, num_classes: int, image_size: int, bn: BNConfig | None = None,
                renorm_clipping: dict | None = None, *, base_training: bool | None = None,
                weights_set_next: bool = False) -> keras.Model:
    """Input -> `base` (nested model, pooled features) -> Dense head "fc"; the contract's builder, plus how
    the outer model calls the base (`base_training`, Keras' freezing recipe: ``base_training_for``).

    The nesting is what the Keras transfer-learning recipe freezes:
    `model.get_layer("base").trainable = False` and `base(x, training=False)`.
    `bn`: the normalization settings (the plan's, whole), momentum in Keras' own convention, None
    momentum/epsilon meaning Keras' defaults, read from the installed Keras. Conv and head init mirror
    torch's so both start from the same distributions. `bn.norm` swaps every BN layer for Keras' own
    renorm mode (`bn.renorm_momentum`, `renorm_clipping`: the bounds at step 0) or for
    GroupNormalization (`bn.gn_groups`; `bn.epsilon` is then GN's epsilon). `weights_set_next`: every
    weight is set right after (a job's from_canonical): the convolutions start as zeros (``initializers``).
    """
    with values_set_next(weights_set_next):
        spec = check_build(arch, num_classes, image_size)
        factory = _norm_factory(bn or BNConfig(), renorm_clipping)
        if spec.family == "efficientnet-lite":
            from keras_impl.efficientnet import build_base

            base = build_base(spec, image_size, factory)
        else:
            base = _build_base(spec, image_size, factory)
        inputs = keras.Input((image_size, image_size, 3), name="image")
        features = base(inputs, training=base_training)
        bound = 1.0 / math.sqrt(spec.feature_dim)  # torch nn.Linear's default init
        logits = layers.Dense(
            num_classes, name="fc",
            kernel_initializer=keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode="fan_in", distribution="uniform"),
            bias_initializer=keras.initializers.RandomUniform(-bound, bound),
        )(features)
        return keras.Model(inputs, logits, name=arch)


def canonical_layers(model: keras.Model) -> dict[str, layers.Layer]:
    """torchvision module name -> Keras layer, for every conv, bn and the fc head."""
    found = {_module_name(layer.name): layer for layer in model.get_layer("base").layers
             if isinstance(layer, _CANONICAL_TYPES)}
    found["fc"] = model.get_layer("fc")
    return found


def layer_outputs(model: keras.Model, x, training: bool = False) -> dict[str, np.ndarray]:
    """Every conv, bn, pool, block and fc output by torchvision module name, NHWC numpy.

    Runs `base`'s own layers, so `training` applies regardless of how the outer model
    calls base.  BN moving statistics are restored afterwards: a train-mode probe
    does not move them.
    """
    base = model.get_layer("base")
    names = [layer.name for layer in base.layers
             if isinstance(layer, _OUTPUT_TYPES) or _BLOCK_NAME.match(_module_name(layer.name))]
    probe = keras.Model(base.input, [base.get_layer(n).output for n in names])
    saved = [v.numpy() for v in base.non_trainable_variables]
    try:
        values = probe(np.asarray(x, dtype="float32"), training=training)
    finally:
        for v, s in zip(base.non_trainable_variables, saved):
            v.assign(s)
    outputs = {_module_name(n): keras.ops.convert_to_numpy(v) for n, v in zip(names, values)}
    outputs["fc"] = keras.ops.convert_to_numpy(model.get_layer("fc")(outputs["avgpool"]))
    return outputs
