"""What the runner needs from Keras on PyTorch: versions, native defaults, threads, determinism, device.

Mirrors ``tf_impl/backend.py``. The defaults are Keras' (its layers and optimizers); the
threads and determinism are torch's, since torch runs every op, set by the torch column's own functions.
"""
from __future__ import annotations

import keras
import torch

from keras_impl import train as keras_train
import torch_impl.backend as torch_backend   # torch's process settings (its ops are torch's): the one lent module

NAME = "keras-torch"


def versions() -> dict[str, str]:
    return {"keras": keras.__version__, "torch": torch.__version__}


def native_defaults() -> dict[str, float]:
    """Keras' installed defaults in the config's conventions (``keras_impl``)."""
    return keras_train.native_defaults()


def configure(threads: int, seed: int, deterministic: bool = True) -> dict:
    """Pin torch's threads and (for accuracy jobs) its deterministic algorithms; seed Keras (and torch through it).

    Throughput runs pass deterministic=False: they measure the framework as users run it.
    """
    torch_backend.pin_threads(threads)
    if deterministic and torch.cuda.is_available():
        torch_backend.deterministic_gpu()
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    keras.utils.set_random_seed(seed)
    return {"intra_op_threads": torch.get_num_threads(), "deterministic": deterministic}


def device_info() -> dict:
    """Where Keras' torch backend places tensors: CUDA when torch sees a GPU."""
    from keras_torch_impl.train import device

    info = {"device": device()}
    if device().startswith("cuda"):
        info.update(gpu=torch.cuda.get_device_name(0), cuda=torch.version.cuda)
    return info
