"""Keras 3 on TensorFlow: the implementation package behind the "tf" column (mirrors torch_impl).

Its processes get ``KERAS_BACKEND=tensorflow`` from the registry (``parity.frameworks``)
before anything imports keras.
"""
