"""Keras on JAX's side of ``parity audit``: Keras' probes run on this backend (``keras_impl/audit.py``),
with Keras' own image ops as its input pipeline. Mirrors ``torch_impl/audit.py`` key for key.
"""
from __future__ import annotations

import jax
import jaxlib
import keras

from keras_impl import audit as keras_audit


def read_defaults() -> dict[str, dict]:
    """knob -> {"value", "how"} as Keras behaves on JAX."""
    return keras_audit.read_keras_defaults()


def versions() -> dict[str, str]:
    return {"keras": keras.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__}
