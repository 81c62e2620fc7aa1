"""Keras' own input pipeline on the torch backend: keras.ops image ops, PIL's JPEG decoder (``keras_impl/pipeline.py``)."""
from keras_impl.pipeline import decode_jpeg, preprocess, resize_defaults  # noqa: F401
