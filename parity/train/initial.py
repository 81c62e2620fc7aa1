"""Initial weights made once, in numpy, so both frameworks start from the same bytes.

The new classification head of a fine-tuning run and a from-scratch network
(``pretrained = "none"``) are drawn here from the run's seed; the frameworks'
own initializers differ (Keras glorot_uniform + zero bias, torch
kaiming_uniform(a=sqrt 5) + uniform bias) and would break "same inputs".
"""
from __future__ import annotations

import numpy as np

from parity.spec.archs import EfficientNetLiteSpec, ResNetSpec


def expected_shapes(spec: ResNetSpec | EfficientNetLiteSpec, num_classes: int) -> dict[str, tuple[int, ...]]:
    """Canonical tensor names and torch-layout shapes of a network (no num_batches_tracked)."""
    if spec.family == "efficientnet-lite":
        shapes = _efficientnet_shapes(spec)
    else:
        shapes = _resnet_shapes(spec)
    shapes["fc.weight"] = (num_classes, spec.feature_dim)
    shapes["fc.bias"] = (num_classes,)
    return shapes


def _bn_shapes(shapes: dict, name: str, channels: int) -> None:
    for t in ("weight", "bias", "running_mean", "running_var"):
        shapes[f"{name}.{t}"] = (channels,)


def _efficientnet_shapes(spec: EfficientNetLiteSpec) -> dict[str, tuple[int, ...]]:
    """lukemelas' names: _conv_stem/_bn0, _blocks.N._expand_conv/_bn0/_depthwise_conv/_bn1/_project_conv/_bn2,
    _conv_head/_bn1 (the depthwise conv in torch's grouped layout: channels x 1 x k x k)."""
    shapes: dict[str, tuple[int, ...]] = {"_conv_stem.weight": (spec.stem_width, 3, 3, 3)}
    _bn_shapes(shapes, "_bn0", spec.stem_width)
    for b in spec.blocks():
        p = f"_blocks.{b.index}"
        if b.expand != 1:
            shapes[f"{p}._expand_conv.weight"] = (b.mid, b.cin, 1, 1)
            _bn_shapes(shapes, f"{p}._bn0", b.mid)
        shapes[f"{p}._depthwise_conv.weight"] = (b.mid, 1, b.kernel, b.kernel)
        _bn_shapes(shapes, f"{p}._bn1", b.mid)
        shapes[f"{p}._project_conv.weight"] = (b.cout, b.mid, 1, 1)
        _bn_shapes(shapes, f"{p}._bn2", b.cout)
    shapes["_conv_head.weight"] = (spec.head_width, spec.blocks()[-1].cout, 1, 1)
    _bn_shapes(shapes, "_bn1", spec.head_width)
    return shapes


def _resnet_shapes(spec: ResNetSpec) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name, cout, cin, k):
        shapes[f"{name}.weight"] = (cout, cin, k, k)

    def bn(name, c):
        _bn_shapes(shapes, name, c)

    stem = spec.stem_width
    conv("conv1", stem, 3, 7 if spec.stem == "imagenet" else 3)
    bn("bn1", stem)
    cin = stem
    for s, (blocks, width) in enumerate(zip(spec.layers, spec.widths)):
        for b in range(blocks):
            p = f"layer{s + 1}.{b}"
            stride = 2 if (s > 0 and b == 0) else 1
            cout = width * spec.expansion
            if spec.block == "basic":
                conv(f"{p}.conv1", width, cin, 3); bn(f"{p}.bn1", width)
                conv(f"{p}.conv2", width, width, 3); bn(f"{p}.bn2", width)
            else:
                conv(f"{p}.conv1", width, cin, 1); bn(f"{p}.bn1", width)
                conv(f"{p}.conv2", width, width, 3); bn(f"{p}.bn2", width)
                conv(f"{p}.conv3", cout, width, 1); bn(f"{p}.bn3", cout)
            if stride != 1 or cin != cout:
                conv(f"{p}.downsample.0", cout, cin, 1); bn(f"{p}.downsample.1", cout)
            cin = cout
    return shapes


def init_head(seed: int, in_dim: int, num_classes: int) -> dict[str, np.ndarray]:
    """Glorot-uniform weight (torch layout: out x in) and zero bias for the new head."""
    rng = np.random.default_rng([seed, 7919])
    limit = np.sqrt(6.0 / (in_dim + num_classes))
    return {
        "fc.weight": rng.uniform(-limit, limit, (num_classes, in_dim)).astype(np.float32),
        "fc.bias": np.zeros(num_classes, np.float32),
    }


def init_network(spec: ResNetSpec | EfficientNetLiteSpec, num_classes: int, seed: int) -> dict[str, np.ndarray]:
    """A from-scratch network: He-normal (fan_out) convs as torchvision does, BN at identity."""
    rng = np.random.default_rng([seed, 104729])
    out: dict[str, np.ndarray] = {}
    for name, shape in expected_shapes(spec, num_classes).items():
        if name.startswith("fc."):
            continue
        if len(shape) == 4:
            fan_out = shape[0] * shape[2] * shape[3]
            out[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_out)).astype(np.float32)
        elif name.endswith(("weight", "running_var")):
            out[name] = np.ones(shape, np.float32)
        else:
            out[name] = np.zeros(shape, np.float32)
    out.update(init_head(seed, spec.feature_dim, num_classes))
    return out
