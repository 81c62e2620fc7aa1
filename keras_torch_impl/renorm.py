"""Batch Renormalization on Keras' torch backend: Keras' own ``BatchNormalization(renorm=True)``.

Steps run eagerly on this backend, so the schedule moves the clipping bounds by writing the new numbers
into the layers -- the shared eager way, ``keras_impl/renorm.py``. Mirrors ``tf_impl/renorm.py``.
"""
from keras_impl.renorm import read_clipping, renorm_layers, set_clipping, sync_renorm_state  # noqa: F401
