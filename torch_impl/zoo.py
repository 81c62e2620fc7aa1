"""torchvision's resnet50 with torchvision's own ImageNet weights and preprocessing (see parity/assets/zoo.py).

Mirrors ``keras_impl/zoo.py``. The model keeps the mirrored one's outer names --
``base`` and an ``fc`` head -- so freezing, BN statistics and recalibration in
``torch_impl/train.py`` work on it unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
import torchvision
from torch import nn

from parity.assets import imagenet, zoo
from parity.spec.knobs import from_native
from parity.train.plan import TrainPlan
from torch_impl import models


class ZooModel(nn.Module):
    """The shared loader's batch -> 0..255 pixels -> torchvision's normalization -> resnet50 -> head."""

    def __init__(self, base: nn.Module, num_classes: int, pixel_mean, pixel_std, zoo_mean, zoo_std):
        super().__init__()
        self.base = base
        self.fc = nn.Linear(base.fc.in_features, num_classes)
        base.fc = nn.Identity()
        # loader output x = (pixels - m) / s, pixels in 0..255; torchvision wants (pixels/255 - zm) / zs
        m, s = np.asarray(pixel_mean, np.float32), np.asarray(pixel_std, np.float32)
        zm, zs = np.asarray(zoo_mean, np.float32), np.asarray(zoo_std, np.float32)
        self.register_buffer("scale", torch.from_numpy(s / zs).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", torch.from_numpy((m - zm) / zs).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.base(x * self.scale + self.shift))


def build(plan: TrainPlan, init: dict[str, np.ndarray]) -> nn.Module:
    """torchvision.models.resnet50 loaded from torchvision's cached file, its fc replaced by the shared head.

    Freezing is torch's own eval() in the train step, as for the mirrored models.
    """
    zoo.check(plan.arch, ("torch",))
    path = zoo.weight_files(plan.arch)["torch"]
    weights_enum = torchvision.models.get_model_weights(plan.arch)[imagenet.TORCHVISION_FILES[plan.arch][0]]
    base = torchvision.models.get_model(plan.arch, weights=None)
    base.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    for m in base.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = models.torch_momentum(plan.bn.momentum)   # torch's convention; the epsilon stays as shipped
    preprocess = weights_enum.transforms()
    model = ZooModel(base, plan.num_classes, plan.pixel_mean, plan.pixel_std, preprocess.mean, preprocess.std)
    with torch.no_grad():
        model.fc.weight.copy_(torch.from_numpy(init["fc.weight"]))
        model.fc.bias.copy_(torch.from_numpy(init["fc.bias"]))
    return model


def bn_settings(model: nn.Module) -> dict[str, float]:
    """The momentum (Keras convention) and epsilon of the zoo network's BN layers, as they ran."""
    bns = [m for m in model.base.modules() if isinstance(m, nn.BatchNorm2d)]
    return {"momentum": from_native("bn_momentum", "torch", float(bns[0].momentum)), "epsilon": float(bns[0].eps), "layers": len(bns)}
