"""What the runner needs from PyTorch: versions, native defaults, threads, determinism, device.

Mirrors ``tf_impl/backend.py``; ``parity.frameworks.load(name)`` imports one of them
inside a worker process, never both.
"""
from __future__ import annotations

import inspect
import os
import warnings

import torch

NAME = "torch"


def versions() -> dict[str, str]:
    import torchvision   # here, not above: Keras on torch imports this module for its process settings

    return {"torch": torch.__version__, "torchvision": torchvision.__version__}


def native_defaults() -> dict[str, float]:
    """Installed defaults in the config's conventions (BN momentum = fraction of the old value kept)."""
    from torch_impl import models

    bn = models.native_bn_defaults()
    adam = inspect.signature(torch.optim.Adam).parameters
    adamw = inspect.signature(torch.optim.AdamW).parameters
    return {"bn_momentum": bn["momentum"], "bn_epsilon": bn["epsilon"], "adam_epsilon": adam["eps"].default,
            "adamw_weight_decay": adamw["weight_decay"].default}


def configure(threads: int, seed: int, deterministic: bool = True) -> dict:
    """Pin threads and (for accuracy jobs) make every op deterministic; returns what was set.

    Throughput runs pass deterministic=False: they measure the framework as users run it.
    """
    pin_threads(threads)
    torch.manual_seed(seed)
    from torch_impl.train import device

    if deterministic and device().type == "cuda":
        deterministic_gpu()
        torch.use_deterministic_algorithms(True, warn_only=True)
        warnings.filterwarnings("ignore", message=".*does not have a deterministic implementation.*")
        return {"intra_op_threads": torch.get_num_threads(), "deterministic": "warn_only", "tf32": False}
    torch.use_deterministic_algorithms(deterministic)
    return {"intra_op_threads": torch.get_num_threads(), "deterministic": deterministic}


def pin_threads(threads: int) -> None:
    """``threads`` for each op, one inter-op thread (which torch lets a process set once)."""
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def deterministic_gpu() -> None:
    """cuBLAS needs a fixed workspace to be deterministic (a few CUDA backward ops, adaptive average pooling,
    have no deterministic kernel and only warn: the torch column silences them). float32 means float32 on every side: torch allows TF32 in
    cuDNN convolutions by default, TensorFlow in convolutions and matmuls; accuracy jobs switch it off in all."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def device_info() -> dict:
    """Where the jobs run: the device torch places models on, and the GPU's name and CUDA version."""
    from torch_impl.train import device

    dev = device()
    info = {"device": str(dev)}
    if dev.type == "cuda":
        info.update(gpu=torch.cuda.get_device_name(dev), cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info
