"""The canonical checkpoint: exact round trips, torchvision compatibility, refusal of bad files."""
import os

import numpy as np
import pytest

from parity.assets.canonical import CheckpointError, check_compatible, checksum, load_checkpoint, save_checkpoint
from parity.spec.config import BNConfig

pytestmark = pytest.mark.needs("tf", "torch")

ARCH_SIZES = [("resnet-tiny", 32), ("resnet18", 32), ("resnet50", 32)]


@pytest.mark.parametrize("arch,size", ARCH_SIZES)
def test_torch_keras_torch_round_trip_is_bit_identical(torch_resnet, arch, size):
    import torch

    from keras_impl import models as tf_models
    from keras_impl import weights as tf_weights
    from torch_impl import models as torch_models
    from torch_impl import weights as torch_weights

    src = torch_resnet(arch, num_classes=7, image_size=size, seed=1)
    canonical = torch_weights.to_canonical(src)
    assert not any(k.endswith("num_batches_tracked") for k in canonical)
    assert all(v.dtype == np.float32 for v in canonical.values())

    keras_model = tf_models.build_model(arch, 7, size)
    tf_weights.from_canonical(keras_model, canonical)
    via_keras = tf_weights.to_canonical(keras_model)
    assert sorted(via_keras) == sorted(canonical)

    dst = torch_models.build_model(arch, 7, size)
    counters = {k: v.clone() for k, v in dst.state_dict().items() if k.endswith("num_batches_tracked")}
    torch_weights.from_canonical(dst, via_keras)
    back = torch_weights.to_canonical(dst)
    for key, value in canonical.items():
        assert via_keras[key].shape == value.shape, key
        assert np.array_equal(via_keras[key], value), key
        assert np.array_equal(back[key], value), key
    # The BN batch counters are torch-only state: loading leaves them alone.
    for key, value in counters.items():
        assert torch.equal(dst.state_dict()[key], value), key


def test_keras_layout_is_hwio_and_dense_in_out(torch_resnet):
    from keras_impl import models as tf_models
    from keras_impl import weights as tf_weights
    from torch_impl import weights as torch_weights

    src = torch_resnet("resnet-tiny", num_classes=5)
    canonical = torch_weights.to_canonical(src)
    keras_model = tf_models.build_model("resnet-tiny", 5, 32)
    tf_weights.from_canonical(keras_model, canonical)
    layers = tf_models.canonical_layers(keras_model)
    w = canonical["layer2.0.conv1.weight"]  # OIHW
    assert np.array_equal(layers["layer2.0.conv1"].kernel.numpy(), w.transpose(2, 3, 1, 0))
    assert np.array_equal(layers["fc"].kernel.numpy(), canonical["fc.weight"].T)
    assert np.array_equal(layers["bn1"].moving_variance.numpy(), canonical["bn1.running_var"])
    assert np.array_equal(layers["bn1"].gamma.numpy(), canonical["bn1.weight"])


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_torchvision_state_dict_loads_strictly(arch):
    import torch
    import torchvision

    from torch_impl.models import build_model

    torch.manual_seed(0)
    reference = getattr(torchvision.models, arch)(weights=None).eval()
    ours = build_model(arch, 1000, 32).eval()
    assert list(ours.state_dict()) == list(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


def test_native_bn_defaults_are_read_from_the_frameworks():
    import torch

    from keras_impl.models import build_model as build_tf
    from keras_impl.models import native_bn_defaults as tf_defaults
    from torch_impl.models import build_model as build_torch
    from torch_impl.models import native_bn_defaults as torch_defaults

    torch_bn = next(m for m in build_torch("resnet-tiny", 2, 32).modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert torch_bn.momentum == pytest.approx(1 - torch_defaults()["momentum"])
    assert torch_bn.eps == torch_defaults()["epsilon"]
    keras_bn = build_tf("resnet-tiny", 2, 32).get_layer("base").get_layer("bn1")
    assert (keras_bn.momentum, keras_bn.epsilon) == (tf_defaults()["momentum"], tf_defaults()["epsilon"])

    # One setting in Keras' convention reaches both sides.
    torch_bn = next(m for m in build_torch("resnet-tiny", 2, 32, BNConfig(momentum=0.9, epsilon=1e-3)).modules()
                    if isinstance(m, torch.nn.BatchNorm2d))
    assert (torch_bn.momentum, torch_bn.eps) == (pytest.approx(0.1), 1e-3)
    keras_bn = build_tf("resnet-tiny", 2, 32, BNConfig(momentum=0.9, epsilon=1e-5)).get_layer("base").get_layer("bn1")
    assert (keras_bn.momentum, keras_bn.epsilon) == (0.9, 1e-5)


def _tensors(seed=0):
    rng = np.random.default_rng(seed)
    return {"conv1.weight": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
            "bn1.running_var": rng.uniform(0.5, 2, size=4).astype(np.float32),
            "fc.weight": rng.normal(size=(2, 4)).astype(np.float32)}


def test_checkpoint_round_trip_with_checksum(tmp_path):
    tensors = _tensors()
    recipe = {"arch": "resnet-tiny", "dataset": "source", "epochs": 3}
    path = tmp_path / "sub" / "ckpt.safetensors"
    digest = save_checkpoint(path, tensors, recipe)
    assert digest == checksum(tensors) and len(digest) == 16
    assert os.listdir(path.parent) == ["ckpt.safetensors"]  # no temp file left behind
    loaded, loaded_recipe, loaded_digest = load_checkpoint(path)
    assert loaded_recipe == recipe and loaded_digest == digest
    assert sorted(loaded) == sorted(tensors)
    for k in tensors:
        assert loaded[k].dtype == tensors[k].dtype and np.array_equal(loaded[k], tensors[k])


def test_checksum_sees_values_shapes_dtypes_and_names():
    base = _tensors()
    digest = checksum(base)
    assert checksum(dict(reversed(list(base.items())))) == digest
    changed = dict(base, **{"fc.weight": base["fc.weight"].copy()})
    changed["fc.weight"][0, 0] = np.nextafter(changed["fc.weight"][0, 0], np.float32(np.inf))
    assert checksum(changed) != digest
    assert checksum(dict(base, **{"fc.weight": base["fc.weight"].reshape(4, 2)})) != digest
    assert checksum(dict(base, **{"fc.weight": base["fc.weight"].astype(np.float64)})) != digest
    renamed = {("fc.w" if k == "fc.weight" else k): v for k, v in base.items()}
    assert checksum(renamed) != digest


def test_tampered_missing_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, _tensors(), {"arch": "resnet-tiny"})
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01  # flip one bit of the last tensor's data
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch") as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)

    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.safetensors")

    junk = tmp_path / "junk.safetensors"
    junk.write_text("this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a safetensors file") as err:
        load_checkpoint(junk)
    assert "\n" not in str(err.value)


def test_check_compatible_names_first_problem_in_sorted_order():
    tensors = _tensors()
    expected = {k: v.shape for k, v in tensors.items()}
    check_compatible(expected, tensors)
    with pytest.raises(CheckpointError, match=r"'bn1.running_var'.*checkpoint \(5,\), model \(4,\).*and 1 more"):
        check_compatible(dict(expected, **{"bn1.running_var": (4,), "fc.weight": (3, 4)}),
                         dict(tensors, **{"bn1.running_var": np.zeros(5, np.float32)}))
    with pytest.raises(CheckpointError, match=r"lacks 'bn1.bias' \(model expects shape \(4,\)\)"):
        check_compatible(dict(expected, **{"bn1.bias": (4,)}), tensors)
    with pytest.raises(CheckpointError, match=r"unexpected 'aux.weight' with shape \(1,\)"):
        check_compatible(expected, dict(tensors, **{"aux.weight": np.zeros(1, np.float32)}))


def test_wrong_head_is_refused_by_both_sides_unless_skipped(torch_resnet):
    import torch

    from keras_impl import models as tf_models
    from keras_impl import weights as tf_weights
    from torch_impl import models as torch_models
    from torch_impl import weights as torch_weights

    canonical = torch_weights.to_canonical(torch_resnet("resnet-tiny", num_classes=10))
    torch_model = torch_models.build_model("resnet-tiny", 3, 32)
    keras_model = tf_models.build_model("resnet-tiny", 3, 32)
    message = r"shape mismatch for 'fc.bias': checkpoint \(10,\), model \(3,\) \(and 1 more\)"
    with pytest.raises(CheckpointError, match=message):
        torch_weights.from_canonical(torch_model, canonical)
    with pytest.raises(CheckpointError, match=message):
        tf_weights.from_canonical(keras_model, canonical)

    fresh_head = torch_model.fc.weight.detach().clone()
    torch_weights.from_canonical(torch_model, canonical, skip=("fc.",))
    assert torch.equal(torch_model.fc.weight, fresh_head)
    assert np.array_equal(torch_model.layer4[0].bn2.running_var.numpy(), canonical["layer4.0.bn2.running_var"])
    fresh_kernel = keras_model.get_layer("fc").kernel.numpy()
    tf_weights.from_canonical(keras_model, canonical, skip=("fc.",))
    assert np.array_equal(keras_model.get_layer("fc").kernel.numpy(), fresh_kernel)
    assert np.array_equal(tf_models.canonical_layers(keras_model)["layer4.0.bn2"].moving_variance.numpy(),
                          canonical["layer4.0.bn2.running_var"])

    # A checkpoint from another architecture fails on the first sorted key that differs.
    other = torch_weights.to_canonical(torch_models.build_model("resnet18", 3, 32))
    with pytest.raises(CheckpointError, match=r"'bn1.bias': checkpoint \(64,\), model \(16,\)"):
        torch_weights.from_canonical(torch_model, other)
    with pytest.raises(CheckpointError, match=r"'bn1.bias': checkpoint \(64,\), model \(16,\)"):
        tf_weights.from_canonical(keras_model, other)
