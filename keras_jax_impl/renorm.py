"""Batch Renormalization on Keras' JAX backend: Keras' own ``BatchNormalization(renorm=True)``.

A jitted JAX step would read the bounds as constants, so a model with renorm
layers trains with an un-jitted step here (``keras_jax_impl/train.py``), so the schedule moves the clipping bounds by writing the new numbers
into the layers -- the shared eager way, ``keras_impl/renorm.py``. Mirrors ``tf_impl/renorm.py``.
"""
from keras_impl.renorm import read_clipping, renorm_layers, set_clipping, sync_renorm_state  # noqa: F401
