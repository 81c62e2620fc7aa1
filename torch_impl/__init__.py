"""PyTorch (torchvision's ResNet blocks): the implementation package behind the "torch" column, every module of
the contract its own (the Keras columns' counterparts: ``keras_impl`` and each column's package)."""
