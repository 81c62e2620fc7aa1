"""The native-zoo comparison: each framework's own ImageNet ResNet-50, as users get it.

``pretrained = "zoo"`` (model resnet50) does not use the mirrored network: TF
fine-tunes ``keras.applications.ResNet50`` with Keras' weights and Keras'
"caffe" preprocessing (BGR, mean subtraction), torch fine-tunes
``torchvision.models.resnet50`` with torchvision's weights and its
mean/std normalization. The two networks differ (Keras' is ResNet v1 with conv
biases and BN epsilon 1.001e-5; torchvision's is v1.5, no conv biases, 1e-5;
the weights were trained by different recipes), so these rows answer "what does
a user of each zoo get", not "are the frameworks equal"; the report puts them
in a table of their own. Both sides still read the same batches and start from
the same head.

Nothing is downloaded: both files are read from the frameworks' usual caches
(``$KERAS_HOME/models``, ``$TORCH_HOME/hub/checkpoints``), or one line says
how to put them there.
"""
from __future__ import annotations

import os
from pathlib import Path

from parity import frameworks as registry
from parity.assets import imagenet
from parity.assets.canonical import CheckpointError

ZOO_ARCHS = ("resnet50",)
KERAS_FILES = {"resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"}


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()


def weight_files(arch: str) -> dict[str, Path]:
    """Where each framework's own ImageNet weights for ``arch`` are expected."""
    if arch not in ZOO_ARCHS:
        raise CheckpointError(f"pretrained='zoo' exists for {', '.join(ZOO_ARCHS)}, not {arch}")
    return {"tf": keras_home() / "models" / KERAS_FILES[arch],
            "torch": imagenet.torch_home() / "hub" / "checkpoints" / imagenet.TORCHVISION_FILES[arch][1]}


def check(arch: str, frameworks=None) -> None:
    """One line naming each missing file and the command that fetches it on a machine with internet."""
    files = weight_files(arch)
    frameworks = list(files) if frameworks is None else frameworks
    fetch = {"tf": f"python -c \"import keras; keras.applications.ResNet50(weights='imagenet', include_top=False)\"",
             "torch": f"python -c \"import torchvision; torchvision.models.{arch}(weights='"
                      f"{imagenet.TORCHVISION_FILES[arch][0]}')\""}
    zoos = dict.fromkeys(registry.get(fw).zoo for fw in frameworks)   # the Keras columns share Keras' file
    missing = [f"{z} weights not found at {files[z]} (on a machine with internet run `{fetch[z]}` and copy "
               f"the file there)" for z in zoos if not files[z].exists()]
    if missing:
        raise CheckpointError(f"native-zoo {arch}: " + "; ".join(missing))


def digest(arch: str) -> str:
    """A short identity of the two files (name and size): the zoo's 'pretrained checksum'."""
    files = weight_files(arch)
    return "zoo:" + ",".join(f"{fw}={p.name}:{p.stat().st_size if p.exists() else 'missing'}"
                             for fw, p in files.items())
