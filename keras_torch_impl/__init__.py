"""Keras 3 on PyTorch: the implementation package behind the "keras-torch" column.

The same Keras model code as the tf column (``keras_impl``), run by Keras' torch backend:
its layers are torch modules, its BatchNormalization is Keras' own ops on torch tensors
(not torch's batch-norm kernel), and a step is ``loss.backward()`` then Keras'
``optimizer.apply``, as Keras' guide to custom training loops in PyTorch writes it. Its
processes get ``KERAS_BACKEND=torch`` from the registry (``parity.frameworks``).
"""

import keras as _keras

if _keras.backend.backend() != "torch":   # a process runs Keras on one backend, chosen at its first import
    raise ImportError(f"keras_torch_impl needs Keras on torch (KERAS_BACKEND=torch before keras is first imported); "
                      f"this process runs Keras on {_keras.backend.backend()}")
