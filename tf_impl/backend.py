"""What the runner needs from Keras/TensorFlow: versions, native defaults, threads, determinism, device.

Mirrors ``torch_impl/backend.py``; ``parity.frameworks.load(name)`` imports one of them
inside a worker process, never both.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from keras_impl import train as keras_train

NAME = "tf"
_configured: dict = {}


def versions() -> dict[str, str]:
    return {"tensorflow": tf.__version__, "keras": keras.__version__}


def native_defaults() -> dict[str, float]:
    """Installed defaults in the config's conventions: Keras' own, on every backend (``keras_impl``)."""
    return keras_train.native_defaults()


def configure(threads: int, seed: int, deterministic: bool = True) -> dict:
    """Pin threads and (for accuracy jobs) make every op deterministic; returns what was set.

    Throughput runs pass deterministic=False: they measure the framework as users run it.
    """
    if not _configured:
        try:
            for gpu in tf.config.list_physical_devices("GPU"):
                # TF takes the whole GPU by default; the torch worker shares it in a run
                tf.config.experimental.set_memory_growth(gpu, True)
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:
            pass  # TF's runtime already started in this process (tests): the threads stay as they are
        if deterministic:
            tf.config.experimental.enable_op_determinism()
            if tf.config.list_physical_devices("GPU"):   # float32 means float32 (torch_impl/backend.py)
                tf.config.experimental.enable_tensor_float_32_execution(False)
        _configured.update(threads=threads, deterministic=deterministic)
    keras.utils.set_random_seed(seed)
    return {"intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "deterministic": _configured["deterministic"]}


def device_info() -> dict:
    """Where the jobs run: TensorFlow places ops on its first GPU when its build sees one."""
    from tf_impl.train import device

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return {"device": device()}
    details = tf.config.experimental.get_device_details(gpus[0])
    return {"device": device(), "gpu": details.get("device_name", gpus[0].name),
            "cuda": tf.sysconfig.get_build_info().get("cuda_version")}
