"""--pretrained imagenet: torchvision's cached checkpoint -> canonical -> both frameworks."""
import numpy as np
import pytest
from conftest import CPU, _randomize_bn

from parity.spec.config import BNConfig

pytestmark = pytest.mark.needs("tf", "torch")


@pytest.fixture
def torchvision_cache(tmp_path, monkeypatch):
    """A randomly initialised torchvision resnet50 where torchvision's cache would hold the real one."""
    import torch
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("PARITY_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PARITY_IMAGENET_WEIGHTS", raising=False)
    from parity.assets import imagenet

    torch.manual_seed(0)
    model = torchvision.models.resnet50()
    _randomize_bn(model, 64, 0)
    path = imagenet.source_path("resnet50")
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)
    return model


def test_imagenet_weights_load_into_both_frameworks(torchvision_cache):
    import torch

    from parity.assets import imagenet
    from parity.assets.canonical import load_checkpoint
    from keras_impl import models as tf_models
    from keras_impl import weights as tf_weights
    from torch_impl import models as torch_models
    from torch_impl import weights as torch_weights

    path = imagenet.ensure("resnet50")
    tensors, recipe, _ = load_checkpoint(path)
    assert recipe["file"] == "resnet50-11ad3fa6.pth" and recipe["weights"] == "IMAGENET1K_V2"
    assert imagenet.ensure("resnet50") == path           # converted once, then reused

    eps = torch_models.native_bn_defaults()["epsilon"]
    t = torch_models.build_model("resnet50", 1000, 64)
    torch_weights.from_canonical(t, tensors)
    k = tf_models.build_model("resnet50", 1000, 64, BNConfig(epsilon=eps))
    tf_weights.from_canonical(k, tensors)
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype(np.float32)
    t.eval()
    with torch.no_grad():
        a = t(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
        ref = torchvision_cache.eval()(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    b = k(x, training=False).numpy()
    # Measured: 7.5e-5 (AMD EPYC, 2026-11-26), 9.7e-5 (Intel Xeon, 2026-12-03): the bound was 1e-4, 3 % above the
    # Intel figure. ResNet-50 at 1000 classes sums more float32 rounding than test_forward_parity's cases; the
    # bound is ~10x the larger figure, as there.
    print(f"\nImageNet-checkpoint logits: torch vs Keras max |diff| {np.max(np.abs(a - b)):.2e} "
          f"(bound 1e-3; CPU {CPU})")
    assert np.array_equal(a, ref)                        # the torch side is torchvision's network exactly
    assert np.max(np.abs(a - b)) <= 1e-3


def test_missing_imagenet_weights_give_one_line(tmp_path, monkeypatch, capsys):
    from parity.cli import main

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("PARITY_CACHE", str(tmp_path / "cache"))
    cfg = tmp_path / "r.toml"
    cfg.write_text('[run]\nmodel = "resnet50"\npretrained = "imagenet"\nimage_size = 32\n')
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ImageNet weights for resnet50 not found at" in err[0]
    assert "resnet50-11ad3fa6.pth" in err[0] and not (tmp_path / "out").exists()
