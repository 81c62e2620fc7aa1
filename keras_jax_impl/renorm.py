"""Batch Renormalization on Keras' JAX backend: Keras' own ``BatchNormalization(renorm=True)``.

The schedule writes the new bounds into the layers -- the shared way,
``keras_impl/renorm.py`` -- and the jitted step takes them from there as arguments
(``keras_jax_impl/train.py``), so they are not frozen into its trace. Mirrors ``tf_impl/renorm.py``.
"""
from keras_impl.renorm import read_clipping, renorm_layers, set_clipping, sync_renorm_state  # noqa: F401
