"""The mirrored ResNets: the Keras code every Keras column shares (``keras_impl/models.py``)."""
from keras_impl.models import (RenormUnavailable, build_model, canonical_layers, layer_outputs,  # noqa: F401
                               native_bn_defaults, native_gn_defaults)
