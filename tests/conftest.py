import os

# Before anything imports keras: the suite runs Keras on TensorFlow, quietly.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Tests compare the frameworks in one process, and the order matters: importing
# torchvision (-> torch._dynamo -> triton's bundled LLVM) after TensorFlow segfaults
# (tensorflow-cpu 2.21, torch 2.14.1, triton 3.8).  torch first is safe.
import torchvision  # noqa: E402,F401

import pytest  # noqa: E402


def _randomize_bn(model, image_size: int, seed: int) -> None:
    """Give a torch ResNet non-trivial BN parameters and statistics.

    Identity BN (mean 0, var 1, gamma 1, beta 0) would hide a swapped or transposed
    BN tensor.  gamma/beta are drawn first, then the running statistics are set to
    one calibration batch's (torch momentum 1.0) and jittered, so eval-mode
    activations stay O(1) the way a trained network's do instead of growing with depth.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.normal_(0.0, 0.2, generator=g)
        momenta = [m.momentum for m in bns]
        for m in bns:
            m.momentum = 1.0
        model.train()
        model(torch.randn(8, 3, image_size, image_size, generator=g))
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
            m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.mul_(torch.empty(m.running_var.shape).uniform_(0.8, 1.25, generator=g))
    model.eval()


@pytest.fixture
def torch_resnet():
    """Factory: a torch ResNet from `torch_impl.models.build_model` with randomized BN."""
    def make(arch: str, num_classes: int = 10, image_size: int = 32, seed: int = 0, **bn):
        import torch
        from torch_impl.models import build_model

        torch.manual_seed(seed)
        model = build_model(arch, num_classes, **bn)
        _randomize_bn(model, image_size, seed)
        return model
    return make
