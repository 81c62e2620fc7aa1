"""Freezing with each framework's real mechanism: who still updates BN running statistics?

Runs the trainers' own ``fit`` for a few steps per freeze mode and reads the
per-epoch ``bn_updated`` flag (did any running mean move?), plus the bare
mechanisms themselves: torch's ``requires_grad_(False)`` alone vs Keras'
``trainable = False``.
"""
import numpy as np
import pytest

from parity.run.job import make_plan, prepare
from parity.spec.config import BNConfig, RunConfig
from parity.train import loop

pytestmark = pytest.mark.needs("tf", "torch")


def _fit(framework, freeze, epochs=1):
    from parity.frameworks import Implementation, load

    backend = load(framework)
    run = RunConfig(dataset="far", epochs=epochs, train_images=64, batch_size=32,
                    bn=BNConfig(momentum=0.9, epsilon=1e-5, freeze=freeze))
    backend.configure(1, 0)
    ds, train, evaluation, stats_batches, _, init, _, _ = prepare(run, 0)
    plan = make_plan(run, ds.num_classes, 0, backend.native_defaults(), framework)
    return loop.fit(Implementation(framework), plan, init, train, evaluation, stats_batches[:1])["history"]


@pytest.mark.parametrize("framework", ["torch", "tf"])
@pytest.mark.parametrize("freeze,updated", [("none", True), ("frozen_bn_inference", False),
                                            ("frozen_bn_batchstats", True), ("bn_frozen", False)])
def test_freeze_modes_update_running_statistics_as_declared(framework, freeze, updated):
    """bn_frozen runs two epochs: the BN-lag pass after the first (true_bn_stats) switches the layers to batch
    statistics and must hand each one back frozen. torch trains eagerly, so a BN layer left in train mode shows
    in epoch 2 here; TF's step is traced once per phase and would not show it, so the Keras side's hand-back is
    checked directly (test_true_bn_stats_sees_batch_statistics_and_hands_each_frozen_bn_layer_back_frozen)."""
    history = _fit(framework, freeze, epochs=2 if freeze == "bn_frozen" else 1)
    assert [h["bn_updated"] for h in history] == [updated] * len(history)


def test_two_phase_keeps_bn_frozen_in_torch_and_shows_what_keras_does():
    """Phase 1 (head only) freezes BN on both sides. Phase 2 (unfrozen, BN meant to stay in
    inference mode): torch keeps BN in eval(); Keras' recipe `base(x, training=False)` is
    overridden by the outer `training=True` in Keras 3.15 (keras-team/keras#20285), so its
    BN layers update again. If a Keras upgrade changes this, this test says so.
    """
    torch_hist = _fit("torch", "two_phase", epochs=2)
    tf_hist = _fit("tf", "two_phase", epochs=2)
    assert [h["phase"] for h in torch_hist] == ["head", "finetune"] == [h["phase"] for h in tf_hist]
    assert torch_hist[0]["bn_updated"] is False and tf_hist[0]["bn_updated"] is False
    assert torch_hist[1]["bn_updated"] is False
    import keras
    assert tf_hist[1]["bn_updated"] is True, (
        f"Keras {keras.__version__} now keeps BN in inference mode under base(x, training=False) "
        "during training: the two_phase finding in the README is out of date")


def test_torch_requires_grad_false_alone_still_updates_running_stats():
    import torch

    from torch_impl.models import build_model

    model = build_model("resnet-tiny", 5, 32)
    model.requires_grad_(False)
    model.train()
    before = model.bn1.running_mean.clone()
    model(torch.randn(8, 3, 32, 32) * 3 + 2)
    assert not torch.equal(model.bn1.running_mean, before), "requires_grad_(False) should not stop BN updates"
    model.eval()   # only eval() does
    frozen = model.bn1.running_mean.clone()
    model(torch.randn(8, 3, 32, 32) * 3 + 2)
    assert torch.equal(model.bn1.running_mean, frozen)
    model.train()  # and train() undoes it
    model(torch.randn(8, 3, 32, 32) * 3 + 2)
    assert not torch.equal(model.bn1.running_mean, frozen)


def test_keras_trainable_false_stops_running_stat_updates():
    from keras_impl.models import build_model

    model = build_model("resnet-tiny", 5, 32)
    base = model.get_layer("base")
    bn = base.get_layer("bn1")
    x = (np.random.default_rng(0).standard_normal((8, 32, 32, 3)) * 3 + 2).astype(np.float32)
    base.trainable = False
    before = bn.moving_mean.numpy().copy()
    model(x, training=True)
    assert np.array_equal(bn.moving_mean.numpy(), before)
    base.trainable = True
    model(x, training=True)
    assert not np.array_equal(bn.moving_mean.numpy(), before)


def bn_tensor_names(weights: dict) -> list[str]:
    """Every canonical tensor of a BN layer (statistics, gamma, beta): what bn_frozen must leave as loaded."""
    layers = {k.rsplit(".", 1)[0] for k in weights if k.endswith("running_mean")}
    return [k for k in weights if k.rsplit(".", 1)[0] in layers]


def _bn_frozen_steps(framework: str) -> tuple[dict, dict]:
    """Three SGD steps with the BN layers alone frozen (bn_frozen), through the column's own trainer."""
    from parity.frameworks import load

    backend, train, weights = (load(framework, m) for m in ("backend", "train", "weights"))
    run = RunConfig(dataset="far", epochs=1, train_images=96, batch_size=32, lr=0.05,
                    bn=BNConfig(momentum=0.9, epsilon=1e-5, freeze="bn_frozen"))
    backend.configure(1, 0)
    ds, loader, _, _, _, init, _, _ = prepare(run, 0)
    plan = make_plan(run, ds.num_classes, 0, backend.native_defaults(), framework)
    model = train.build(plan, init)
    phase = train.prepare_phase(model, plan, "train", plan.lr)
    for x, y in list(loader.batches(0))[:3]:
        phase.step(x, y)
    return init, weights.to_canonical(model)


def test_bn_frozen_fixes_bn_alone_and_trains_the_rest_alike_in_both_frameworks():
    """Detectron's FrozenBatchNorm2d: every BN tensor (statistics, gamma, beta) stays as loaded, every conv
    and the head train, and TF (trainable = False on the BN layers) and torch (eval() + requires_grad_(False)
    on them) take the same steps: BN in inference mode has no float-sensitive batch statistics, so the
    weights agree closely (measured on an Intel Xeon, 2026-12-03: 8.3e-6 relative; bound ~12x)."""
    init, tf_w = _bn_frozen_steps("tf")
    _, torch_w = _bn_frozen_steps("torch")
    bn_keys = bn_tensor_names(init)
    assert bn_keys and all(np.array_equal(w[k], init[k]) for w in (tf_w, torch_w) for k in bn_keys)
    for w in (tf_w, torch_w):
        assert not np.array_equal(w["conv1.weight"], init["conv1.weight"])
        assert not np.array_equal(w["fc.weight"], init["fc.weight"])
    err = max(float(np.abs(tf_w[k] - torch_w[k]).max() / max(np.abs(torch_w[k]).max(), 1e-12)) for k in torch_w)
    print(f"\nbn_frozen, 3 steps: TF vs torch max relative weight difference {err:.2e} (bound 1e-4)")
    assert err <= 1e-4


def test_true_bn_stats_sees_batch_statistics_and_hands_each_frozen_bn_layer_back_frozen():
    """The BN-lag pass needs batch statistics whatever the freeze mode: with bn_frozen its figures are those of
    the same weights unfrozen (a BN layer left frozen would pass its input on in inference mode and every layer
    after it would be measured wrong), and the model comes back with every BN layer frozen, the rest trainable
    (Keras on torch trains eagerly: a layer left trainable would update its statistics from the next step on)."""
    from keras_impl.train import configure_phase, true_bn_stats
    from parity.frameworks import load

    run = RunConfig(dataset="far", epochs=1, train_images=64, batch_size=32,
                    bn=BNConfig(momentum=0.9, epsilon=1e-5, freeze="bn_frozen"))
    ds, _, _, stats_batches, _, init, _, _ = prepare(run, 0)
    plan = make_plan(run, ds.num_classes, 0, load("tf").native_defaults(), "tf")
    train = load("tf", "train")
    model = train.build(plan, init)
    reference = true_bn_stats(train.build(plan, init), stats_batches[:1])   # built, never frozen
    configure_phase(model, plan, "train")
    stats = true_bn_stats(model, stats_batches[:1])
    assert stats.keys() == reference.keys()
    assert all(np.array_equal(a, b) for n in stats for a, b in zip(stats[n], reference[n]))
    layers = train.bn_layers(model)
    assert layers and not any(layer.trainable for layer in layers.values())
    assert model.get_layer("base").get_layer("conv1").trainable
