"""Framework-neutral description of the mirrored ResNet family.

Both `torch_impl.models` and `tf_impl.models` build their network from these
specs, so the two sides cannot drift apart in depth, width or stem.  Layout is
torchvision's ResNet v1.5 (stride on the 3x3 conv of a Bottleneck), so at full
width the torch side loads a torchvision state_dict unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResNetSpec:
    name: str
    block: str                 # "basic" | "bottleneck"
    layers: tuple[int, ...]    # blocks per stage
    widths: tuple[int, ...]    # planes per stage (before Bottleneck expansion)
    stem: str                  # "imagenet": 7x7/2 conv + 3x3/2 max-pool; "small": 3x3/1 conv, no pool
    min_image_size: int        # smallest input that still leaves >= 1x1 at the last stage

    @property
    def expansion(self) -> int:
        return 4 if self.block == "bottleneck" else 1

    @property
    def stem_width(self) -> int:
        return self.widths[0]

    @property
    def feature_dim(self) -> int:
        return self.widths[-1] * self.expansion


ARCHS: dict[str, ResNetSpec] = {
    # Trains on two CPU cores in seconds: the offline tiers use it.
    "resnet-tiny": ResNetSpec("resnet-tiny", "basic", (1, 1, 1, 1), (16, 32, 64, 128), "small", 16),
    "resnet18": ResNetSpec("resnet18", "basic", (2, 2, 2, 2), (64, 128, 256, 512), "imagenet", 32),
    "resnet50": ResNetSpec("resnet50", "bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), "imagenet", 32),
}


def get_arch(name: str) -> ResNetSpec:
    try:
        return ARCHS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(ARCHS)}") from None


def check_build(arch: str, num_classes: int, image_size: int) -> ResNetSpec:
    """The spec every framework's ``build_model`` starts from, after the checks they share."""
    spec = get_arch(arch)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if image_size < spec.min_image_size:
        raise ValueError(f"{arch} needs image_size >= {spec.min_image_size}, got {image_size}")
    return spec
