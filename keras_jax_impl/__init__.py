"""Keras 3 on JAX: the implementation package behind the "keras-jax" column.

The same Keras model code as the tf column (``keras_impl``), run by Keras' JAX backend:
a step is ``jax.value_and_grad`` over ``model.stateless_call`` and Keras'
``optimizer.stateless_apply``, jitted, as Keras' guide to custom training loops in JAX
writes it. Its processes get ``KERAS_BACKEND=jax`` from the registry (``parity.frameworks``).
"""
