"""Keras' own SGD / Adam / AdamW: the Keras code every Keras column shares (``keras_impl/optim.py``)."""
from keras_impl.optim import make_optimizer, set_lr  # noqa: F401
