"""Keras 3 on TensorFlow: the implementation package behind the "tf" column (its models, weights, optimizers and
zoo are the shared Keras code, ``keras_impl``; its pipeline and renorm are TensorFlow's own).

Its processes get ``KERAS_BACKEND=tensorflow`` from the registry (``parity.frameworks``)
before anything imports keras.
"""
