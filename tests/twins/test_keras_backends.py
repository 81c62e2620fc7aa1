"""The TF side's Keras model code on Keras' torch and JAX backends (issue 18's first step: it must build there).

Keras' torch backend keys each layer's torch parameters by variable path and torch refuses "."
in a parameter name, so the layers cannot carry torchvision's dotted names (tf_impl/models.py).
In a process of its own per backend (Keras chooses its backend once per process): build the
Keras model, load torch_impl's weights through the canonical names, and compare logits with
torch's own network in eval and train mode.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.needs("torch")

# Max |logit difference| measured (2026-11-26, Keras 3.15.1, resnet-tiny, 32 images of 32 px, seed 0),
# eval / train: on torch 2.14.1 4.2e-7 / 1.3e-6 (Keras' own BN ops there: variance as E[x^2] - E[x]^2),
# on JAX 0.10.2 3.6e-7 / 9.5e-7. Tolerance: 10x the measured figure.
ATOL = {"torch": (4e-6, 1.3e-5), "jax": (4e-6, 1e-5)}

PROBE = """
import json
import numpy as np
import torch
import keras
from parity.spec.archs import get_arch
from parity.train.initial import init_network
from tf_impl import models as kmodels, weights as kweights
from torch_impl import models as tmodels, weights as tweights

init = init_network(get_arch("resnet-tiny"), 5, 0)
k = kmodels.build_model("resnet-tiny", 5, 32, bn_momentum=0.9, bn_epsilon=1e-5)
kweights.from_canonical(k, init)
t = tmodels.build_model("resnet-tiny", 5, 32, bn_momentum=0.9, bn_epsilon=1e-5)
tweights.from_canonical(t, init)
x = np.random.default_rng(0).standard_normal((32, 32, 32, 3)).astype(np.float32)
xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
out = {"backend": keras.backend.backend(),
       "round_trip": all(np.array_equal(a, init[n]) for n, a in kweights.to_canonical(k).items())}
for mode, training in (("eval", False), ("train", True)):
    t.train(training)
    with torch.no_grad():
        lt = t(xt).numpy()
    lk = keras.ops.convert_to_numpy(k(x, training=training))
    out[mode] = float(np.abs(lt - lk).max())
print(json.dumps(out))
"""


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_the_keras_model_builds_on_the_backend_and_matches_torch(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed (make test installs the [jax] extra)")
    eval_atol, train_atol = ATOL[backend]
    env = dict(os.environ, KERAS_BACKEND=backend)
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"\nKeras on {out['backend']} vs torch, max |dlogit|: eval {out['eval']:.2e} (bound {eval_atol:g}), "
          f"train {out['train']:.2e} (bound {train_atol:g})")
    assert out["backend"] == backend
    assert out["round_trip"]            # the canonical names reach every layer and come back unchanged
    assert out["eval"] <= eval_atol and out["train"] <= train_atol
