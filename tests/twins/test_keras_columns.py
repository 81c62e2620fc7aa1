"""The Keras columns on Keras' torch and JAX backends (keras-torch, keras-jax) against torch.

Each column runs in a process of its own with its framework's environment (Keras chooses its
backend once per process) and through its own package (``parity.frameworks.load``), so what is
compared is what its workers run: the forward pass in eval and train mode, one optimizer step of
the column's trainer (``prepare_phase``), and the same three steps run twice (determinism).
"""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from parity import frameworks, process
from parity.results import cpu_model
from parity.spec.config import BNConfig
from tests.twins.test_freeze import bn_tensor_names

ROOT = Path(__file__).resolve().parents[2]
CPU = cpu_model()   # not conftest's: the probes below import this module in a process of their own
pytestmark = pytest.mark.needs("torch")

COLUMNS = ("keras-torch", "keras-jax")

# Max |logit difference| measured (Keras 3.15.1, resnet-tiny, 32 images of 32 px, seed 0), eval / train, on
# an AMD EPYC (2026-11-26) and an Intel Xeon (2026-12-03): on torch 2.14.1 4.2e-7 / 1.3e-6 and 3.3e-7 /
# 1.4e-6 (Keras' own BN ops there: variance as E[x^2] - E[x]^2), on JAX 0.10.2 3.6e-7 / 9.5e-7 and
# 4.5e-7 / 1.3e-6. Tolerance: ~10x the larger figure (7.6x for keras-jax train).
FORWARD_ATOL = {"keras-torch": (4e-6, 1.3e-5), "keras-jax": (4e-6, 1e-5)}
# One SGD step (lr 0.05, momentum 0.9, batch 16), max relative error over all tensors against torch's step
# (running variance corrected for torch's N/(N-1)). Measured: keras-torch 4.7e-7 (AMD EPYC) and 4.4-4.7e-7
# (Intel Xeon, two runs), keras-jax 4.5e-7 and 2.9-3.2e-7. Tolerance: 10x the larger. This is the columns'
# tight float check, portable across CPUs: a job-level one is not (tests/run/test_keras_column_jobs.py says why).
STEP_REL_TOL = 5e-6

PROBE = r"""
import json, sys
import numpy as np
import torch   # before anything imports TensorFlow (Keras may, on any backend): see tests/conftest.py
from torch_impl import models as tmodels, weights as tweights
from parity import frameworks
from parity.spec.archs import get_arch
from parity.train.initial import init_network
from parity.spec.config import BNConfig

fw, out_path = sys.argv[1], sys.argv[2]
backend, models, weights, train = (frameworks.load(fw, m) for m in ("backend", "models", "weights", "train"))
backend.configure(1, 0)

# forward: the column's model vs torch's network on the same canonical weights
init = init_network(get_arch("resnet-tiny"), 5, 0)
k = models.build_model("resnet-tiny", 5, 32, BNConfig(momentum=0.9, epsilon=1e-5), weights_set_next=True)
weights.from_canonical(k, init)
t = tmodels.build_model("resnet-tiny", 5, 32, BNConfig(momentum=0.9, epsilon=1e-5))
tweights.from_canonical(t, init)
x = np.random.default_rng(0).standard_normal((32, 32, 32, 3)).astype(np.float32)
xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
import keras
out = {"backend": keras.backend.backend(),
       "round_trip": all(np.array_equal(a, init[n]) for n, a in weights.to_canonical(k).items())}
for mode, training in (("eval", False), ("train", True)):
    t.train(training)
    with torch.no_grad():
        lt = t(xt).numpy()
    out[mode] = float(np.abs(lt - keras.ops.convert_to_numpy(k(x, training=training))).max())

# steps: the column's trainer from the pretrained checkpoint, on the shared loader's batches
from tests.twins.test_keras_columns import step_setup
plan, start, batches = step_setup()

def run(n, after_one=None):   # the weights after n steps (and, into after_one, after the first)
    model = train.build(plan, start)
    phase = train.prepare_phase(model, plan, "train", plan.lr)
    for i, (xb, yb) in enumerate(batches[:n]):
        phase.step(xb, yb)
        if i == 0 and after_one is not None:
            after_one.update({k: np.array(v, copy=True) for k, v in weights.to_canonical(model).items()})
    return weights.to_canonical(model)

one = {}
a, b = run(3, one), run(3)
out["deterministic"] = all(np.array_equal(a[n], b[n]) for n in a)
out["three_steps_moved"] = float(max(np.abs(a[n] - start[n]).max() for n in a if n in start))
np.savez(out_path, **one)
from dataclasses import replace
from tests.twins.test_keras_columns import VARIANTS
plain = plan
for name, settings in VARIANTS.items():   # three steps each
    plan = replace(plain, bn=replace(plain.bn, **settings))
    np.savez(out_path.replace(".npz", f"-{name}.npz"), **run(3))
print(json.dumps(out))
"""


# Plans beside the plain one that each column's probe steps three times (the tests below compare them to torch's)
VARIANTS = {"bn_frozen": {"freeze": "bn_frozen"},
            "renorm": {"norm": "renorm", "renorm_schedule": "constant", "renorm_momentum": 0.9}}


def _column(framework: str, tmp_path) -> tuple[dict, dict]:
    """The column's figures and its trainers' weights: {"none": one step, each of VARIANTS: three steps}."""
    missing = frameworks.missing_modules(framework)
    if missing:
        pytest.skip(f"{framework}: {', '.join(missing)} not installed (make test installs the [jax] extra)")
    path = tmp_path / f"{framework}.npz"
    proc = subprocess.run([sys.executable, "-c", PROBE, framework, str(path)], capture_output=True, text=True,
                          timeout=600, env=process.child_env(framework=framework), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return out, {"none": dict(np.load(path)),
                 **{name: dict(np.load(tmp_path / f"{framework}-{name}.npz")) for name in VARIANTS}}


@pytest.fixture(scope="module")
def columns(tmp_path_factory):
    """framework -> its process's figures, each column run once (and skipped alone where not installed)."""
    seen = {}

    class Columns:
        def __getitem__(self, fw):
            if fw not in seen:
                seen[fw] = _column(fw, tmp_path_factory.mktemp(fw))
            return seen[fw]

    return Columns()


@pytest.mark.parametrize("framework", COLUMNS)
def test_the_column_builds_on_its_backend_and_its_forward_pass_matches_torch(columns, framework):
    out, _ = columns[framework]
    eval_atol, train_atol = FORWARD_ATOL[framework]
    print(f"\n{framework} (Keras on {out['backend']}) vs torch, max |dlogit|: eval {out['eval']:.2e} "
          f"(bound {eval_atol:g}), train {out['train']:.2e} (bound {train_atol:g}); CPU {CPU}")
    assert out["backend"] == frameworks.get(framework).env["KERAS_BACKEND"]
    assert out["round_trip"]            # the canonical names reach every layer and come back unchanged
    assert out["eval"] <= eval_atol and out["train"] <= train_atol


def step_setup():
    """The plan, starting weights (the pretrained checkpoint, the shared head) and three loader batches
    every trainer here steps from (imported by the columns' processes too)."""
    from parity.assets import canonical
    from parity.assets.starting import default_checkpoint
    from parity.data import load_dataset, make_loaders
    from parity.train.initial import init_head
    from parity.train.plan import TrainPlan

    plan = TrainPlan(arch="resnet-tiny", num_classes=5, image_size=32, seed=0, epochs=1, optimizer="sgd", lr=0.05,
                     lr_schedule="constant", sgd_momentum=0.9,
                     bn=BNConfig(momentum=0.9, epsilon=1e-5))
    tensors, _, _ = canonical.load_checkpoint(default_checkpoint("resnet-tiny"))
    start = {n: v for n, v in tensors.items() if not n.startswith("fc.")}
    start.update(init_head(0, 128, 5))
    loader, _ = make_loaders(load_dataset("far", 32), 16, seed=0)
    it = loader.batches(0)
    return plan, start, [next(it) for _ in range(3)]


def _torch_steps(steps: int = 1, **settings):
    import torch

    from torch_impl import train, weights

    plan, start, batches = step_setup()
    plan = replace(plan, bn=replace(plan.bn, **settings))
    torch.manual_seed(0)
    model = train.build(plan, start)
    phase = train.prepare_phase(model, plan, "train", plan.lr)
    for batch in batches[:steps]:
        phase.step(*batch)
    return start, weights.to_canonical(model)


def _bn_count(key: str) -> int:
    """batch x H x W values per channel that the BN layer `key` normalizes at 32 px, batch 16."""
    stage = int(key[5]) if key.startswith("layer") else 1
    side = 32 // (2 ** (stage - 1))
    return 16 * side * side


def step_error(keras_step: dict, torch_step: dict, start: dict, momentum: float = 0.9,
               count=_bn_count) -> tuple[str, float]:
    """Max relative error over the tensors; torch's running variance is the unbiased one (N/(N-1)), so
    Keras' is brought to it with ``count(key)`` values per channel (``count=None``: two torch steps)."""
    worst = {}
    for key, t in torch_step.items():
        k = keras_step[key]
        if key.endswith("running_var") and count is not None:
            n = count(key)
            k = momentum * start[key] + (k - momentum * start[key]) * n / (n - 1)
        worst[key] = float(np.abs(k - t).max() / max(np.abs(t).max(), 1e-12))
    return max(worst.items(), key=lambda kv: kv[1])


@pytest.mark.parametrize("framework", COLUMNS)
def test_one_step_of_the_column_gives_torch_s_model(columns, framework):
    _, steps = columns[framework]
    keras_step = steps["none"]
    start, torch_step = _torch_steps()
    name, err = step_error(keras_step, torch_step, start)
    print(f"\n{framework}: one SGD step vs torch, max relative error {err:.2e} at {name} "
          f"(bound {STEP_REL_TOL:g}; CPU {CPU})")
    assert set(keras_step) == set(torch_step)
    assert err <= STEP_REL_TOL, f"{name}: relative error {err:.2e}"
    assert not np.array_equal(keras_step["layer1.0.conv1.weight"], start["layer1.0.conv1.weight"])


@pytest.mark.parametrize("framework", COLUMNS)
def test_the_column_is_deterministic(columns, framework):
    out, _ = columns[framework]
    print(f"\n{framework}: three steps twice, bit-identical: {out['deterministic']} "
          f"(weights moved by up to {out['three_steps_moved']:.3g})")
    assert out["three_steps_moved"] > 0
    assert out["deterministic"]


# bn_frozen (Detectron's FrozenBatchNorm2d: Keras trainable = False on each BN layer, torch eval() +
# requires_grad_(False)), three SGD steps, max relative error against torch's. Measured on an Intel Xeon
# (2026-12-03): keras-torch 6.9e-6, keras-jax 5.3e-6 (TF, tests/twins/test_freeze.py: 8.3e-6) -- three steps
# with SGD momentum grow the one-step figure ~15x. Tolerance: ~14x the larger, as TF's twin.
BN_FROZEN_REL_TOL = 1e-4
# Keras' renorm on the column's backend vs torch_impl's BatchRenorm2d, three steps at rmax 3 / dmax 5 from the
# first step, measured on an Intel Xeon (2026-12-03): keras-torch 1.4e-6, keras-jax 7.4e-7 with this process's
# torch on 2 threads, but 3.6e-4 in both (at layer3.0.bn1.bias) with torch on one core: a channel whose r or d
# sits at its clip goes one way or the other with the summation order, as the ReLU's kink does (README:
# floats across CPU kinds). Tolerance: ~3x the larger; torch at rmax 1.5 gave 0.57 (the clipping binds), caught.
RENORM_REL_TOL = 1e-3


@pytest.mark.parametrize("framework", COLUMNS)
def test_bn_frozen_leaves_bn_as_loaded_and_steps_as_torch(columns, framework):
    _, steps = columns[framework]
    keras_w = steps["bn_frozen"]
    start, torch_w = _torch_steps(3, **VARIANTS["bn_frozen"])
    bn_keys = bn_tensor_names(start)
    assert bn_keys and all(np.array_equal(w[k], start[k]) for w in (keras_w, torch_w) for k in bn_keys)
    assert not np.array_equal(keras_w["conv1.weight"], start["conv1.weight"])
    name, err = step_error(keras_w, torch_w, start, count=None)   # no running variance moved: nothing to correct
    print(f"\n{framework}: bn_frozen, three SGD steps vs torch, max relative error {err:.2e} at {name} "
          f"(bound {BN_FROZEN_REL_TOL:g}; CPU {CPU})")
    assert err <= BN_FROZEN_REL_TOL, f"{name}: relative error {err:.2e}"


RENORM_PROBE = r"""
import json
import numpy as np
import jax.numpy as jnp
from parity import frameworks
from parity.spec.archs import get_arch
from parity.spec.config import BNConfig
from parity.train.initial import init_network
from parity.train.plan import TrainPlan

train, renorm, weights, optim = (frameworks.load("keras-jax", m) for m in ("train", "renorm", "weights", "optim"))
frameworks.load("keras-jax", "backend").configure(1, 0)
plan = TrainPlan(arch="resnet-tiny", num_classes=5, image_size=32, seed=0, epochs=1, optimizer="sgd", lr=0.05,
                 lr_schedule="constant", sgd_momentum=0.9,
                 bn=BNConfig(momentum=0.9, epsilon=1e-5, norm="renorm", renorm_momentum=0.9, renorm_rmin=0.5))
init = init_network(get_arch("resnet-tiny"), 5, 0)
rng = np.random.default_rng(0)
batches = [(rng.standard_normal((16, 32, 32, 3)).astype(np.float32) * 2 + 1, rng.integers(0, 5, 16)) for _ in range(3)]
bounds = [(1.0, 1.0, 0.0), (3.0, 1 / 3, 5.0), (1.5, 0.7, 0.5)]   # the first step is plain BN (r = 1, d = 0)

def run(jit):
    model = train.build(plan, init)
    variables, _ = train.configure_phase(model, plan, "train")
    optimizer = optim.make_optimizer(plan, variables, plan.lr)
    optimizer.build(variables)
    update = train.make_update(model, optimizer, variables, jit=jit)
    trainable, non_trainable = list(model.trainable_variables), list(model.non_trainable_variables)
    losses = []
    for (x, y), (rmax, rmin, dmax) in zip(batches, bounds):
        renorm.set_clipping(model, rmax, rmin, dmax)
        loss, _, t, n, o = update([v.value for v in variables], [v.value for v in trainable],
                                  [v.value for v in non_trainable], [v.value for v in optimizer.variables],
                                  jnp.asarray(x), jnp.asarray(y), train.renorm_clipping(model))
        for group, values in ((variables, t), (non_trainable, n), (optimizer.variables, o)):
            for v, value in zip(group, values):
                v.assign(value)
        losses.append(float(loss))
    return losses, weights.to_canonical(model)

(jl, jw), (el, ew) = run(True), run(False)
bounds = bounds[:1] * 3   # the first bounds kept: what a trace that froze them would train with
frozen, _ = run(True)
print(json.dumps({"jit": jl, "eager": el, "frozen": frozen,
                  "weights": max(float(np.abs(jw[k] - ew[k]).max()) for k in jw)}))
"""


@pytest.mark.slow   # make test-all; see the README's Tests
def test_keras_jax_s_jitted_step_takes_the_renorm_bounds_the_schedule_sets():
    """Three steps with moving bounds: the jitted step (traced once) equals the same step un-jitted, and the
    bounds change the loss (so a trace that froze the first ones would be caught).

    Measured: max weight difference jit vs eager after three steps 2.4e-7 (AMD EPYC), 3.0e-7 (Intel Xeon);
    bound 8x the larger."""
    if frameworks.missing_modules("keras-jax"):
        pytest.skip("keras-jax: jax not installed (make test installs the [jax] extra)")
    proc = subprocess.run([sys.executable, "-c", RENORM_PROBE], capture_output=True, text=True, timeout=600,
                          env=process.child_env(framework="keras-jax"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nkeras-jax renorm, losses jit {out['jit']} vs eager {out['eager']} (first bounds kept: "
          f"{out['frozen']}); max weight diff {out['weights']:.2e} (bound 2.4e-6; CPU {CPU})")
    assert out["weights"] <= 2.4e-6
    assert np.allclose(out["jit"], out["eager"], rtol=1e-6, atol=0)
    assert abs(out["frozen"][1] - out["jit"][1]) > 1e-3   # the bounds matter: freezing them would show


@pytest.mark.parametrize("framework", COLUMNS)
def test_renorm_steps_as_torch_s_batch_renorm(columns, framework):
    """Keras' own renorm (BatchNormalization(renorm=True)) on this backend against torch_impl's BatchRenorm2d,
    three steps at the final clipping bounds (rmax 3, dmax 5): on TF the layers agree op for op
    (tests/twins/test_renorm.py); this is the same check through each other column's trainer."""
    _, steps = columns[framework]
    start, torch_w = _torch_steps(3, **VARIANTS["renorm"])
    name, err = step_error(steps["renorm"], torch_w, start, count=None)
    print(f"\n{framework}: renorm, three SGD steps vs torch, max relative error {err:.2e} at {name} "
          f"(bound {RENORM_REL_TOL:g}; CPU {CPU})")
    assert set(steps["renorm"]) == set(torch_w)
    assert err <= RENORM_REL_TOL, f"{name}: relative error {err:.2e}"
