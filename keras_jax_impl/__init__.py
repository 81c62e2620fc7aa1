"""Keras 3 on JAX: the implementation package behind the "keras-jax" column.

The same Keras model code as the tf column (``keras_impl``), run by Keras' JAX backend:
a step is ``jax.value_and_grad`` over ``model.stateless_call`` and Keras'
``optimizer.stateless_apply``, jitted, as Keras' guide to custom training loops in JAX
writes it. Its processes get ``KERAS_BACKEND=jax`` from the registry (``parity.frameworks``).
"""

import keras as _keras

if _keras.backend.backend() != "jax":   # a process runs Keras on one backend, chosen at its first import
    raise ImportError(f"keras_jax_impl needs Keras on jax (KERAS_BACKEND=jax before keras is first imported); "
                      f"this process runs Keras on {_keras.backend.backend()}")
