"""PyTorch (torchvision's ResNet blocks): models, weights, train, backend (mirrors tf_impl)."""
