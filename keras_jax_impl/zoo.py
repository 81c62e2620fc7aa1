"""keras.applications' ResNet50 with Keras' own weights: the Keras code every Keras column shares (``keras_impl/zoo.py``)."""
from keras_impl.zoo import bn_settings, build  # noqa: F401
