"""The Keras and torch networks are the same function: same weights, same logits.

On failure the message names the first layer whose outputs diverge, which is where
a padding, layout or epsilon mistake lives.
"""
import numpy as np
import pytest
from conftest import CPU
from divergence import first_divergence, max_abs_diff

from parity.spec.config import BNConfig

pytestmark = pytest.mark.needs("tf", "torch")

ATOL = 1e-4   # per layer, for naming the first divergent layer in a failure message
# (arch, image size, batch).  Train mode normalizes with batch statistics over
# batch*H*W values per channel (8 in resnet50's last stage here), which amplifies
# float32 rounding differences between the two conv implementations.
CASES = [("resnet-tiny", 32, 4), ("resnet18", 64, 4), ("resnet50", 64, 2)]
# Max |logit difference| measured (tensorflow-cpu 2.21 / torch 2.14.1), eval / train, on a 2-core AMD EPYC
# (2026-11-26) and a 2-core Intel Xeon (2026-12-03): tiny 3.9e-7 / 3.9e-7 and 4.8e-7 / 4.5e-7, resnet18
# 5.6e-6 / 4.1e-6 and 3.6e-6 / 4.5e-6, resnet50 4.2e-5 / 7.2e-5 and 4.3e-5 / 7.1e-5 (the README's figures).
# Tolerances: about 10x the larger of the two (8x for tiny, 7x for resnet50 train), so a real error shows.
EVAL_ATOL = {"resnet-tiny": 4e-6, "resnet18": 6e-5, "resnet50": 4e-4}
TRAIN_ATOL = {"resnet-tiny": 4e-6, "resnet18": 5e-5, "resnet50": 5e-4}


def _pair(torch_resnet, arch, size, seed=0):
    """A torch model with non-trivial BN state and the Keras model holding the same weights."""
    from keras_impl import models as tf_models
    from keras_impl import weights as tf_weights
    from torch_impl import models as torch_models
    from torch_impl import weights as torch_weights

    eps = torch_models.native_bn_defaults()["epsilon"]  # the same network: one epsilon for both
    torch_model = torch_resnet(arch, num_classes=10, image_size=size, seed=seed)
    keras_model = tf_models.build_model(arch, 10, size, BNConfig(epsilon=eps))
    tf_weights.from_canonical(keras_model, torch_weights.to_canonical(torch_model))
    return torch_model, keras_model


def _where(torch_model, keras_model, x, training):
    """First layer whose outputs differ by more than rounding can explain (relative 1e-4)."""
    from keras_impl import models as tf_models
    from torch_impl import models as torch_models

    a = torch_models.layer_outputs(torch_model, x, training=training)
    b = tf_models.layer_outputs(keras_model, x, training=training)
    return first_divergence(a, b, list(a), atol=ATOL, rtol=1e-4) or "no single layer beyond rounding"


@pytest.mark.parametrize("arch,size,batch", CASES)
def test_logits_agree(torch_resnet, arch, size, batch):
    import torch

    torch_model, keras_model = _pair(torch_resnet, arch, size)
    x = np.random.default_rng(1).normal(size=(batch, size, size, 3)).astype(np.float32)
    x_nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

    for training, atol in ((False, EVAL_ATOL[arch]), (True, TRAIN_ATOL[arch])):
        torch_model.train(training)
        with torch.no_grad():
            expected = torch_model(x_nchw).numpy()
        got = keras_model(x, training=training).numpy()
        diff = max_abs_diff(expected, got)
        mode = "train" if training else "eval"
        print(f"\n{arch} {size}px batch {batch} {mode}: max abs logit diff {diff:.3g} "
              f"(max |logit| {np.abs(expected).max():.3g}; bound {atol:g}; CPU {CPU})")
        if not diff <= atol:
            # Eval runs first, and train-mode outputs ignore the running statistics the
            # train-mode forward just moved, so the probe sees what the forward saw.
            where = _where(torch_model, keras_model, x, training)
            pytest.fail(f"{arch} {mode}: logits differ by {diff:.3g} > {atol}; first divergence: {where}")


def test_layer_outputs_cover_the_same_layers_in_both_frameworks(torch_resnet):
    from keras_impl import models as tf_models
    from torch_impl import models as torch_models

    torch_model, keras_model = _pair(torch_resnet, "resnet18", 32)
    x = np.random.default_rng(2).normal(size=(2, 32, 32, 3)).astype(np.float32)
    a = torch_models.layer_outputs(torch_model, x)
    b = tf_models.layer_outputs(keras_model, x)
    assert set(a) == set(b)
    assert {"conv1", "bn1", "maxpool", "layer1.0", "layer2.0.downsample.0", "layer4.1.bn2", "avgpool", "fc"} <= set(a)
    assert all(a[k].shape == b[k].shape for k in a)
    # Same names; the order may differ (Keras lists layers topologically, torch by declaration).
    assert set(tf_models.canonical_layers(keras_model)) == set(torch_models.canonical_layers(torch_model))


def test_train_mode_probe_leaves_statistics_alone(torch_resnet):
    from keras_impl import models as tf_models
    from keras_impl import weights as tf_weights
    from torch_impl import models as torch_models
    from torch_impl import weights as torch_weights

    torch_model, keras_model = _pair(torch_resnet, "resnet-tiny", 32)
    before_t, before_k = torch_weights.to_canonical(torch_model), tf_weights.to_canonical(keras_model)
    x = np.random.default_rng(3).normal(size=(2, 32, 32, 3)).astype(np.float32)
    torch_models.layer_outputs(torch_model, x, training=True)
    tf_models.layer_outputs(keras_model, x, training=True)
    assert not torch_model.training
    after_t, after_k = torch_weights.to_canonical(torch_model), tf_weights.to_canonical(keras_model)
    assert all(np.array_equal(before_t[k], after_t[k]) for k in before_t)
    assert all(np.array_equal(before_k[k], after_k[k]) for k in before_k)


def test_running_variance_conventions_after_one_train_step(torch_resnet):
    """Same momentum, one train-mode batch: means agree, variances differ by Bessel's n/(n-1).

    torch stores the unbiased batch variance, Keras the biased one (DESIGN's table);
    both normalize with the biased one, which is why the train-mode logits agree.
    """
    import torch

    from keras_impl import weights as tf_weights
    from torch_impl import weights as torch_weights

    torch_model, keras_model = _pair(torch_resnet, "resnet-tiny", 32)
    for m in torch_model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 0.5
    for layer in keras_model.get_layer("base").layers:
        if hasattr(layer, "moving_variance"):
            layer.momentum = 0.5
    before = torch_weights.to_canonical(torch_model)
    batch, size = 2, 32
    x = np.random.default_rng(4).normal(size=(batch, size, size, 3)).astype(np.float32)
    torch_model.train()
    with torch.no_grad():
        torch_model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    keras_model(x, training=True)
    t, k = torch_weights.to_canonical(torch_model), tf_weights.to_canonical(keras_model)

    n = batch * 16 * 16  # layer2.0.bn1 sees 16x16 maps
    key = "layer2.0.bn1"
    np.testing.assert_allclose(t[f"{key}.running_mean"], k[f"{key}.running_mean"], atol=1e-5, rtol=1e-4)
    torch_batch_var = 2 * t[f"{key}.running_var"] - before[f"{key}.running_var"]
    keras_batch_var = 2 * k[f"{key}.running_var"] - before[f"{key}.running_var"]
    np.testing.assert_allclose(torch_batch_var, keras_batch_var * n / (n - 1), rtol=1e-3, atol=1e-5)
    assert not np.allclose(torch_batch_var, keras_batch_var, rtol=1e-4, atol=0)


def test_keras_base_training_argument(torch_resnet):
    """What `base(x, training=base_training)` does in the installed Keras.

    Keras 3 (checked on 3.15) lets an explicit `training` from the outer call override
    the `training=False` recorded on the nested base (keras-team/keras#20285); only
    `trainable = False` on the BN layers keeps them in inference mode under fit().
    This pins the behaviour so an upgrade that changes it is noticed.
    """
    from keras_impl import models as keras_models

    model = keras_models.build_model("resnet-tiny", 3, 32, base_training=False)
    bn = model.get_layer("base").get_layer("bn1")
    x = np.random.default_rng(5).normal(2.0, 3.0, size=(4, 32, 32, 3)).astype(np.float32)
    before = bn.moving_mean.numpy().copy()
    model(x)  # no outer training flag: the recorded training=False holds
    assert np.array_equal(bn.moving_mean.numpy(), before)
    model(x, training=True)  # outer flag wins: BN runs in train mode and updates its statistics
    moved = bn.moving_mean.numpy().copy()
    assert not np.array_equal(moved, before)
    model.get_layer("base").trainable = False
    model(x, training=True)  # frozen BN runs in inference mode whatever the flag
    assert np.array_equal(bn.moving_mean.numpy(), moved)


def test_first_divergence_finds_a_perturbed_layer(torch_resnet):
    from keras_impl import models as tf_models
    from torch_impl import models as torch_models

    torch_model, keras_model = _pair(torch_resnet, "resnet-tiny", 32)
    x = np.random.default_rng(6).normal(size=(2, 32, 32, 3)).astype(np.float32)
    a = torch_models.layer_outputs(torch_model, x)
    b = tf_models.layer_outputs(keras_model, x)
    order = list(a)
    assert first_divergence(a, b, order, atol=ATOL) is None

    # Perturb one BN in the Keras model: it, not a later layer, must be reported.
    bn = tf_models.canonical_layers(keras_model)["layer2.0.bn2"]
    bn.moving_mean.assign(bn.moving_mean.numpy() + 0.05)
    b = tf_models.layer_outputs(keras_model, x)
    report = first_divergence(a, b, order, atol=ATOL)
    assert report is not None and report.startswith("layer2.0.bn2: max abs diff"), report
    assert order.index("layer2.0.bn2") < order.index("fc")

    assert first_divergence(a, {k: v for k, v in a.items() if k != "bn1"}, order, ATOL) == \
        "bn1: missing from the second set of outputs"
    nan = dict(a, conv1=np.full_like(a["conv1"], np.nan))
    assert first_divergence(a, nan, order, ATOL).startswith("conv1:")


def test_keras_same_padding_would_diverge_at_the_first_strided_conv(torch_resnet, monkeypatch):
    """Why keras_impl pads explicitly: Keras' "same" pads bottom/right only for stride 2."""
    from keras_impl import models as keras_models

    def same_conv(x, filters, kernel, stride, name):
        return keras_models.layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                                          name=name)(x)

    monkeypatch.setattr(keras_models, "_conv", same_conv)   # the model code every Keras column builds
    torch_model, keras_model = _pair(torch_resnet, "resnet-tiny", 32)
    x = np.random.default_rng(7).normal(size=(2, 32, 32, 3)).astype(np.float32)
    report = _where(torch_model, keras_model, x, training=False)
    assert report.startswith("layer2.0.conv1:"), report
