"""One optimizer step in each trainer, same weights and batch: the same updated model.

Uses the trainers' own pieces (build and prepare_phase: the
TF train step), so what is compared is what the suite runs. BN momentum and
epsilon are matched; the one difference no knob can match -- torch stores the
unbiased running variance, Keras the biased one (see DESIGN's facts table) --
is corrected for explicitly with the batch's N.
"""
import numpy as np
import pytest

from parity.assets import canonical
from parity.data import load_dataset, make_loaders
from parity.train.initial import init_head
from parity.train.plan import TrainPlan

pytestmark = pytest.mark.needs("tf", "torch")

REL_TOL = 1e-4


def _plan(freeze="none", optimizer="sgd"):
    return TrainPlan(arch="resnet-tiny", num_classes=5, image_size=32, seed=0, epochs=1, optimizer=optimizer,
                     lr=0.05, lr_schedule="constant", sgd_momentum=0.9, bn_momentum=0.9, bn_epsilon=1e-5,
                     freeze=freeze)


def _init():
    from parity.assets.starting import default_checkpoint

    tensors, _, _ = canonical.load_checkpoint(default_checkpoint("resnet-tiny"))
    base = {k: v for k, v in tensors.items() if not k.startswith("fc.")}
    base.update(init_head(0, 128, 5))
    return base


def _batches(n_steps):
    ds = load_dataset("far", 32)
    train, _ = make_loaders(ds, 16, seed=0)
    it = train.batches(0)
    return [next(it) for _ in range(n_steps)]


def _torch_steps(plan, init, batches):
    import torch

    from torch_impl import train, weights

    torch.manual_seed(0)
    model = train.build(plan, init)
    phase = train.prepare_phase(model, plan, "train", plan.lr)
    for x, y in batches:
        phase.step(x, y)
    return weights.to_canonical(model)


def _tf_steps(plan, init, batches):
    from tf_impl import train, weights

    model = train.build(plan, init)
    phase = train.prepare_phase(model, plan, "train", plan.lr)
    for x, y in batches:
        phase.step(x, y)
    return weights.to_canonical(model)


def _rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


@pytest.mark.parametrize("optimizer", ["sgd"])
def test_one_sgd_momentum_step_gives_the_same_model(optimizer):
    plan, init = _plan(optimizer=optimizer), _init()
    batches = _batches(1)
    t = _torch_steps(plan, init, batches)
    k = _tf_steps(plan, init, batches)
    assert set(t) == set(k)
    n = 16 * 4 * 4   # smallest BN input in resnet-tiny at 32px: batch 16 x 4x4 at the last stage
    worst = {}
    for key in sorted(t):
        if key.endswith("running_var"):
            # Keras stores m*old + (1-m)*v_biased; torch m*old + (1-m)*v_biased*N/(N-1).
            m = plan.bn_momentum
            old = init[key]
            v_biased = (k[key] - m * old) / (1 - m)
            shape_n = _bn_count(key)
            expected_torch = m * old + (1 - m) * v_biased * shape_n / (shape_n - 1)
            worst[key] = _rel_err(t[key], expected_torch)
        else:
            worst[key] = _rel_err(t[key], k[key])
    name, err = max(worst.items(), key=lambda kv: kv[1])
    print(f"\none SGD step: max relative error {err:.2e} at {name} (N >= {n})")
    assert err <= REL_TOL, f"{name}: relative error {err:.2e}"
    # The step really changed the weights (the test cannot pass on an untouched model).
    assert not np.array_equal(t["layer1.0.conv1.weight"], init["layer1.0.conv1.weight"])


def _bn_count(key: str) -> int:
    """batch x H x W values per channel that the BN layer `key` normalizes at 32px, batch 16."""
    stage = int(key[5]) if key.startswith("layer") else 1
    side = 32 // (2 ** (stage - 1))
    return 16 * side * side


def test_two_sgd_steps_agree_with_the_momentum_buffer():
    """The second step uses the momentum buffer; both forms agree under a constant lr."""
    plan, init = _plan(), _init()
    batches = _batches(2)
    t = _torch_steps(plan, init, batches)
    k = _tf_steps(plan, init, batches)
    errs = {key: _rel_err(t[key], k[key]) for key in t if not key.endswith("running_var")}
    name, err = max(errs.items(), key=lambda kv: kv[1])
    print(f"\ntwo SGD steps: max relative error {err:.2e} at {name}")
    assert err <= 5 * REL_TOL
