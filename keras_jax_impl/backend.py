"""What the runner needs from Keras on JAX: versions, native defaults, threads, determinism, device.

Mirrors ``tf_impl/backend.py``. The defaults are Keras' (its layers and optimizers). JAX has
no call that sets its CPU thread count after start: XLA reads it from ``XLA_FLAGS`` when
the backend starts, so ``configure`` sets the flag before the first array exists (the
worker calls it before building anything). JAX on the CPU is deterministic as it is; on a GPU
accuracy jobs ask XLA for deterministic ops.
"""
from __future__ import annotations

import os

import keras

from keras_impl import train as keras_train

NAME = "keras-jax"


def versions() -> dict[str, str]:
    import jax
    import jaxlib

    return {"keras": keras.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__}


def native_defaults() -> dict[str, float]:
    """Keras' installed defaults in the config's conventions (``keras_impl``)."""
    return keras_train.native_defaults()


def configure(threads: int, seed: int, deterministic: bool = True) -> dict:
    """XLA's CPU threads (before JAX starts its backend) and Keras' seeds; returns what was set."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in flags:
        flags = (f"{flags} --xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} "
                 f"intra_op_parallelism_threads={threads}").strip()
    if deterministic and "xla_gpu_deterministic_ops" not in flags:   # the CPU is deterministic; a GPU is not
        flags += " --xla_gpu_deterministic_ops=true"
    os.environ["XLA_FLAGS"] = flags
    keras.utils.set_random_seed(seed)
    return {"intra_op_threads": threads, "deterministic": deterministic}


def device_info() -> dict:
    """Where JAX places arrays: its default device."""
    from keras_jax_impl.train import device

    return {"device": device()}
