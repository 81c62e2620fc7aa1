"""Keras 3 on TensorFlow: models, weights, train, backend (mirrors torch_impl).

Importing the package pins Keras to the TensorFlow backend and keeps
TensorFlow's C++ log noise out of the user's terminal, before any submodule
imports keras.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
