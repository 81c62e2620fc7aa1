"""The matched optimizers: torch_impl.optim.KerasRules against each framework's real optimizer.

100 steps of random gradients (some tiny, so Adam's epsilon matters) under a cosine learning
rate (so SGD's momentum form matters), with weight decay where the case has it. Every rule in
Keras' form must equal Keras' own optimizer; every rule in torch's form must equal torch's own.
The figure is the largest difference of the final weights relative to the largest total update
(max |w_a - w_b| / max |w_b - w_0|): in float64 within 1e-6 (the issue's bound), with constants
float32 holds exactly (see EXACT: with 0.9 and 0.999 Keras' own float64 run mixes float32-rounded and
exact copies of them, which alone moves it by 2e-7 for SGD and 6e-6 for Adam); in float32 the suite's
own optimizers with the default constants, printed and held to FLOAT32_TOL. The native pair (torch's real optimizer against Keras') is
printed too: the difference the match removes, and proof the comparison can fail.
"""
import math

import numpy as np
import pytest
from conftest import CPU

from parity.spec.knobs import rule_applies
from parity.train.plan import TrainPlan
from parity.spec.config import BNConfig

pytestmark = pytest.mark.needs("tf", "torch")

STEPS = 100
FLOAT64_TOL = 1e-6    # the bound
FLOAT32_TOL = 1e-4    # measured <= 1e-5 (printed) on an AMD EPYC, 9.7e-6 on an Intel Xeon: 10x headroom

CASES = {   # name -> (optimizer, base lr, weight decay, Adam epsilon)
    "sgd": ("sgd", 0.05, 0.0, None),
    "sgd-wd": ("sgd", 0.05, 5e-3, None),
    "adam": ("adam", 1e-2, 0.0, 1e-7),
    "adam-wd": ("adam", 1e-2, 5e-3, 1e-7),
    "adamw": ("adamw", 1e-2, 0.01, 1e-7),
}
ALL_RULES = ("adam_epsilon", "sgd_momentum_form", "weight_decay_form")
# float64: constants float32 holds exactly (momentum and beta_1 0.875, beta_2 1 - 2^-10, epsilon 2^-23,
# weight decay 2^-7), because Keras turns some Python-float hyperparameters into float32 constants
# before casting them to the variable's dtype (0.9 becomes 0.89999998) and keeps others as they are.
EXACT = {"momentum": 0.875, "beta_1": 0.875, "beta_2": 1 - 2 ** -10, "epsilon": 2.0 ** -23, "weight_decay": 2.0 ** -7}


def _plan(optimizer, weight_decay, eps, match):
    return TrainPlan(arch="resnet-tiny", num_classes=5, image_size=32, seed=0, epochs=1, optimizer=optimizer,
                     lr=0.0, lr_schedule="cosine", sgd_momentum=0.9,
                     bn=BNConfig(momentum=0.9, epsilon=1e-5), weight_decay=weight_decay, adam_epsilon=eps,
                     match_rules=tuple(r for r in match if rule_applies(r, optimizer)))


def _problem(seed=0):
    """Two weight tensors and 100 steps of gradients: the second's are tiny (1e-7 scale, a rarely used
    parameter's), where Adam's epsilon form matters; every tenth step the first's are tiny too."""
    rng = np.random.default_rng(seed)
    w0 = [rng.standard_normal((7, 5)), rng.standard_normal(5)]
    grads = []
    for step in range(STEPS):
        scale = 1e-7 if step % 10 == 3 else 1.0
        grads.append([scale * rng.standard_normal(w0[0].shape), 1e-7 * rng.standard_normal(w0[1].shape)])
    return w0, grads


def _lrs(base):
    """The cosine schedule, as Keras' float32 learning-rate variable holds it (both sides get these)."""
    return [float(np.float32(base * 0.5 * (1 + math.cos(math.pi * s / STEPS)))) for s in range(STEPS)]


def _keras(case, dtype, exact=False):
    """Keras' real optimizer: the suite's (keras_impl.optim) in float32, Keras' class with EXACT constants in float64."""
    import keras
    import tensorflow as tf

    from keras_impl import optim

    optimizer, base, wd, eps = CASES[case]
    w0, grads = _problem()
    variables = [keras.Variable(w.astype(dtype), dtype=np.dtype(dtype).name) for w in w0]
    if exact:
        decay = EXACT["weight_decay"] if wd else None
        if optimizer == "sgd":
            opt = keras.optimizers.SGD(base, momentum=EXACT["momentum"], weight_decay=decay)
        else:
            cls = keras.optimizers.AdamW if optimizer == "adamw" else keras.optimizers.Adam
            opt = cls(base, beta_1=EXACT["beta_1"], beta_2=EXACT["beta_2"], epsilon=EXACT["epsilon"],
                      weight_decay=decay)
    else:
        opt = optim.make_optimizer(_plan(optimizer, wd, eps, ()), variables, base)
    for lr, g in zip(_lrs(base), grads):
        optim.set_lr(opt, lr)
        opt.apply_gradients([(tf.constant(gi.astype(dtype)), v) for gi, v in zip(g, variables)])
    return [np.asarray(v.numpy(), np.float64) for v in variables], w0


def _torch(case, dtype, match=(), forms=None):
    """torch's side: the suite's make_optimizer with ``match`` rules; or KerasRules with every rule in
    torch's form (``forms="torch"``) or in Keras' form with the EXACT constants (``forms="keras-exact"``)."""
    import torch

    from torch_impl import optim

    optimizer, base, wd, eps = CASES[case]
    w0, grads = _problem()
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    params = [torch.nn.Parameter(torch.tensor(w, dtype=tdtype)) for w in w0]
    if forms == "torch":
        opt = optim.KerasRules(params, optimizer, base, momentum=0.9, eps=eps or 1e-8, weight_decay=wd,
                               keras_momentum=False, keras_epsilon=False, decoupled_decay=optimizer == "adamw")
    elif forms == "keras-exact":
        opt = optim.KerasRules(params, optimizer, base, momentum=EXACT["momentum"],
                               betas=(EXACT["beta_1"], EXACT["beta_2"]), eps=EXACT["epsilon"],
                               weight_decay=EXACT["weight_decay"] if wd else 0.0)
    else:
        opt = optim.make_optimizer(_plan(optimizer, wd, eps, match), params, base)
    for lr, g in zip(_lrs(base), grads):
        optim.set_lr(opt, lr)
        for p, gi in zip(params, g):
            p.grad = torch.tensor(gi, dtype=tdtype)
        opt.step()
    return [p.detach().double().numpy() for p in params], type(opt).__name__


def _rel(a, b, w0):
    update = max(float(np.max(np.abs(bi - wi))) for bi, wi in zip(b, w0))
    return max(float(np.max(np.abs(ai - bi))) for ai, bi in zip(a, b)) / update


@pytest.mark.parametrize("case", list(CASES))
def test_matched_torch_equals_keras(case):
    keras64, w0 = _keras(case, np.float64, exact=True)
    torch64, _ = _torch(case, np.float64, forms="keras-exact")
    keras32, _ = _keras(case, np.float32)
    torch32, matched_used = _torch(case, np.float32, match=ALL_RULES)
    native32, native_used = _torch(case, np.float32)
    rel64, rel32, native = _rel(torch64, keras64, w0), _rel(torch32, keras32, w0), _rel(native32, keras32, w0)
    print(f"\n{case}: matched torch ({matched_used}) vs Keras over {STEPS} steps: float64 {rel64:.2e}, float32 {rel32:.2e};"
          f" native torch ({native_used}) vs Keras: {native:.2e} (CPU {CPU})")
    assert matched_used == "KerasRules" or CASES[case][0] == "sgd" and CASES[case][2] == 0.0
    assert rel64 <= FLOAT64_TOL
    assert rel32 <= FLOAT32_TOL


@pytest.mark.parametrize("case", list(CASES))
def test_torch_forms_equal_torch(case):
    """KerasRules with every rule in torch's form is torch's own optimizer: its flags are what they say."""
    ours, _ = _torch(case, np.float64, forms="torch")
    real, used = _torch(case, np.float64)
    w0 = _problem()[0]
    rel = _rel(ours, real, w0)
    print(f"\n{case}: KerasRules in torch's forms vs torch.optim.{used}: float64 {rel:.2e}")
    assert rel <= FLOAT64_TOL


def test_the_rules_differ_natively():
    """What matching removes, measured: native torch against Keras under the same schedule and gradients."""
    native = {}
    for case in CASES:
        keras32, w0 = _keras(case, np.float32)
        torch32, _ = _torch(case, np.float32)
        native[case] = _rel(torch32, keras32, w0)
    print("\nnative torch vs Keras, relative to the largest update: "
          + ", ".join(f"{k} {v:.2e}" for k, v in native.items()))
    # each native pair differs by more than the matched float32 tolerance: the comparison above can fail
    assert all(v > FLOAT32_TOL for v in native.values())


def test_mixed_forms_equal_their_references():
    """The ablations' one-knob-native variants mix forms; each mix against a reference that has it.

    Keras' momentum form with torch's coupled decay at a constant rate is torch's own SGD (the momentum
    forms agree when the rate does not change); torch's momentum form with decoupled decay under the
    cosine rate is checked against a few lines of numpy written from torch's documented update.
    """
    import torch

    from torch_impl import optim

    w0, grads = _problem()
    lr, mu, wd = 0.05, 0.9, 5e-3

    def run(make, lrs):
        params = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
        opt = make(params)
        for step_lr, g in zip(lrs, grads):
            optim.set_lr(opt, step_lr)
            for p, gi in zip(params, g):
                p.grad = torch.tensor(gi)
            opt.step()
        return [p.detach().numpy() for p in params]

    constant = [lr] * STEPS
    mixed = run(lambda p: optim.KerasRules(p, "sgd", lr, momentum=mu, weight_decay=wd, keras_momentum=True,
                                           decoupled_decay=False), constant)
    real = run(lambda p: torch.optim.SGD(p, lr=lr, momentum=mu, weight_decay=wd), constant)
    rel_a = _rel(mixed, real, w0)

    cosine = _lrs(lr)
    mixed = run(lambda p: optim.KerasRules(p, "sgd", lr, momentum=mu, weight_decay=wd, keras_momentum=False,
                                           decoupled_decay=True), cosine)
    w, buf = [x.copy() for x in w0], [np.zeros_like(x) for x in w0]
    for step_lr, g in zip(cosine, grads):
        for i in range(len(w)):
            w[i] = w[i] - w[i] * wd * step_lr       # decoupled, before the step
            buf[i] = mu * buf[i] + g[i]             # torch's buffer
            w[i] = w[i] - step_lr * buf[i]
    rel_b = _rel(mixed, w, w0)
    print(f"\nKeras momentum + coupled decay vs torch.optim.SGD (constant lr): {rel_a:.2e}; torch momentum + "
          f"decoupled decay vs numpy (cosine): {rel_b:.2e}")
    assert rel_a <= FLOAT64_TOL and rel_b <= FLOAT64_TOL
