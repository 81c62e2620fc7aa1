"""Keras 3 code shared by the three Keras columns: tf (TensorFlow), keras-torch and keras-jax.

One copy of the model code (``models``), the canonical-weights conversion (``weights``), the
optimizers (``optim``), keras.applications' zoo network (``zoo``) and the training hooks that do
not depend on the backend (``train``, ``renorm``). Every call here goes through Keras' own API
(``keras.ops``, layers, optimizers), so it runs on whichever backend the process's
``KERAS_BACKEND`` chose. This is not a framework column: ``tf_impl``, ``keras_torch_impl`` and
``keras_jax_impl`` are, each adding what its backend does its own way (the gradient step,
tracing, its audit and throughput modes).
"""
