"""The swapped norm layers are the same function in both frameworks.

GroupNorm (Keras GroupNormalization vs torch GroupNorm) and a whole renorm
network (Keras' renorm vs our BatchRenorm2d) give the same logits from the
same canonical weights; recalibration sets the same statistics on both sides.
"""
import numpy as np
import pytest
from conftest import CPU

from parity.assets import canonical
from parity.train.initial import init_head
from parity.train.plan import TrainPlan
from parity.spec.config import BNConfig

pytestmark = pytest.mark.needs("tf", "torch")


def _init(norm):
    from parity.assets.starting import default_checkpoint

    tensors, _, _ = canonical.load_checkpoint(default_checkpoint("resnet-tiny"))
    base = {k: v for k, v in tensors.items() if not k.startswith("fc.")}
    base.update(init_head(0, 128, 5))
    if norm == "gn":
        base = {k: v for k, v in base.items() if not k.endswith(("running_mean", "running_var"))}
    return base


def _plan(norm, **kw):
    return TrainPlan(arch="resnet-tiny", num_classes=5, image_size=32, seed=0, epochs=1, optimizer="sgd", lr=0.01,
                     lr_schedule="constant", sgd_momentum=0.9,
                     bn=BNConfig(momentum=0.9, epsilon=1e-5, norm=norm, **kw))


def _x(seed=0, n=8):
    from parity.data import load_dataset, make_loaders

    ds = load_dataset("far", 32)
    train, _ = make_loaders(ds, n, seed=seed)
    return next(iter(train.batches(0)))


@pytest.mark.parametrize("norm", ["gn", "renorm"])
@pytest.mark.parametrize("training", [False, True])
def test_logits_agree(norm, training):
    import tensorflow as tf
    import torch

    from tf_impl import train as tf_train
    from torch_impl import train as torch_train

    plan = _plan(norm, renorm_schedule="constant")
    init = _init(norm)
    x, _ = _x()
    tm, km = torch_train.build(plan, init), tf_train.build(plan, init)
    tm.train(training)
    with torch.no_grad():
        a = tm(torch_train.to_tensor(x)).numpy()
    b = km(tf.convert_to_tensor(x), training=training).numpy()
    diff = float(np.max(np.abs(a - b)))
    print(f"\n{norm} training={training}: max |logit diff| {diff:.2e} (bound 2e-5; CPU {CPU})")
    # measured, both modes: gn 1.9e-6 / renorm 1.4e-6 (AMD EPYC, 2026-11-26), 1.2e-6 / 9.5e-7 (Intel Xeon,
    # 2026-12-03): ~10x headroom over the larger
    assert diff <= 2e-5


def test_groupnorm_keeps_gamma_beta_from_bn():
    from keras_impl import models as tf_models
    from torch_impl import train as torch_train

    init = _init("gn")
    model = torch_train.build(_plan("gn"), init)
    assert isinstance(model.bn1, __import__("torch").nn.GroupNorm) and model.bn1.num_groups == 8
    np.testing.assert_array_equal(model.bn1.weight.detach().numpy(), init["bn1.weight"])
    assert tf_models.native_gn_defaults()["epsilon"] == 1e-3


def test_recalibration_sets_the_same_statistics_on_both_sides():
    from tf_impl import train as tf_train
    from torch_impl import train as torch_train

    plan, init = _plan("bn"), _init("bn")
    batches = [_x(seed=s, n=32) for s in range(2)]
    tm, km = torch_train.build(plan, init), tf_train.build(plan, init)
    torch_train.recalibrate_bn(tm, batches)
    tf_train.recalibrate_bn(km, batches)
    t, k = torch_train.running_stats(tm), tf_train.running_stats(km)
    worst = max(float(np.max(np.abs(t[n][i] - k[n][i]) / (np.abs(k[n][i]) + 1e-3))) for n in t for i in (0, 1))
    print(f"\nrecalibrated statistics: max relative difference {worst:.2e} (bound 3e-4; CPU {CPU})")
    assert worst <= 3e-4   # measured 6.2e-5 (AMD EPYC), 5.0e-5 (Intel Xeon): ~5x headroom over the larger
    # and they moved away from the source checkpoint's statistics towards the far domain's
    assert not np.allclose(t["bn1"][0], init["bn1.running_mean"], atol=1e-2)


def test_the_clipping_bounds_a_schedule_sets_change_what_both_frameworks_compute():
    """Not a read-back: the bounds move Keras' own renorm output, and torch's BatchRenorm2d moves with it.

    If Keras ignored the assigned bounds (say, read them once when a step is traced), its train-mode
    logits would be the same under both settings and part ways with torch's.
    """
    import torch

    from tf_impl import renorm as tf_renorm
    from tf_impl import train as tf_train
    from torch_impl import renorm as torch_renorm
    from torch_impl import train as torch_train

    init, x = _init("renorm"), _x()[0]   # source-domain statistics, far-domain batch: r and d far from 1, 0
    logits = {}
    for bounds in ((1.0, 1.0, 0.0), (3.0, 1 / 3, 5.0)):
        plan = _plan("renorm", renorm_schedule="constant")
        tm, km = torch_train.build(plan, init), tf_train.build(plan, init)
        torch_renorm.set_clipping(tm, bounds[0], bounds[1], bounds[2])
        tf_renorm.set_clipping(km, bounds[0], bounds[1], bounds[2])
        tm.train()
        with torch.no_grad():
            t = tm(torch_train.to_tensor(x)).numpy()
        k = km(x, training=True).numpy()
        logits[bounds] = (t, k)
        diff = float(np.abs(t - k).max())
        print(f"\nrmax/rmin/dmax {bounds[0]:g}/{bounds[1]:.3g}/{bounds[2]:g}: max |logit diff| tf vs torch {diff:.2e} "
              f"(bound 2e-5; CPU {CPU})")
        assert diff <= 2e-5   # measured 1.7e-6 at most (AMD EPYC: 1.4e-6), as the renorm forward-parity figure
    (t1, k1), (t3, k3) = logits.values()
    moved_tf, moved_torch = float(np.abs(k3 - k1).max()), float(np.abs(t3 - t1).max())
    print(f"logits moved by the bounds: tf {moved_tf:.3g}, torch {moved_torch:.3g}")
    assert moved_tf > 1e-2 and moved_torch > 1e-2
