"""Keras model <-> canonical tensors: the Keras code every Keras column shares (``keras_impl/weights.py``)."""
from keras_impl.weights import from_canonical, to_canonical  # noqa: F401
