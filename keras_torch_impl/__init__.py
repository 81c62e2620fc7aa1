"""Keras 3 on PyTorch: the implementation package behind the "keras-torch" column.

The same Keras model code as the tf column (``keras_impl``), run by Keras' torch backend:
its layers are torch modules, its BatchNormalization is Keras' own ops on torch tensors
(not torch's batch-norm kernel), and a step is ``loss.backward()`` then Keras'
``optimizer.apply``, as Keras' guide to custom training loops in PyTorch writes it. Its
processes get ``KERAS_BACKEND=torch`` from the registry (``parity.frameworks``).
"""
