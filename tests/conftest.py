
# Before anything imports keras: the frameworks' environment (Keras on TensorFlow, quietly).
from parity import frameworks

frameworks.set_process_env()

# Tests compare the frameworks in one process, and the order matters: importing
# torchvision (-> torch._dynamo -> triton's bundled LLVM) after TensorFlow segfaults
# (tensorflow-cpu 2.21, torch 2.14.1, triton 3.8).  torch first is safe.
try:
    import torchvision  # noqa: E402,F401
except ImportError:  # torch missing: the tests that need it are skipped below
    pass

import fcntl  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from parity.results import cpu_model  # noqa: E402

# Float results differ in the last bits from one CPU kind to another (the math kernels differ), so every
# test that compares against a measured figure prints the CPU beside it. The bounds were set from the
# larger of the figures measured on the two kinds this project runs on: AMD EPYC and Intel Xeon (EfficientNet-Lite0's,
# new, on the Intel Xeon only so far: tests/twins/test_efficientnet.py).
CPU = cpu_model()


def pytest_report_header(config):
    return f"CPU: {CPU} (tolerances set from figures measured on AMD EPYC and Intel Xeon)"


def pytest_configure(config):
    config.addinivalue_line("markers", "needs(*frameworks): the test imports or runs these frameworks (registry "
                                       "names); where one is missing it is skipped, with the reason")
    config.addinivalue_line("markers", "slow: a whole-system test of minutes; `make test` (CI) leaves it out, "
                                       "`make test-all` runs it")
    config.addinivalue_line("markers", "system: a whole `parity` command with real framework workers (10-60 s "
                                       "each, tested end to end once); `make test` leaves it out, "
                                       "`make test-system` (CI, after make test) runs it")


def pytest_collection_modifyitems(config, items):
    """A test marked ``needs("tf", ...)`` is skipped, with the reason, where a framework it names is missing.

    Tests without the marker (pure Python: statistics, config, the gate, the layout) always run.
    """
    missing = {name for name in frameworks.NAMES if frameworks.missing_modules(name)}
    if not missing:
        return
    for item in items:
        needed = {fw for marker in item.iter_markers("needs") for fw in marker.args}
        unknown = needed - set(frameworks.NAMES)
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: needs() names unknown frameworks {sorted(unknown)}")
        lacking = sorted(needed & missing)
        if lacking:
            item.add_marker(pytest.mark.skip(reason=f"{', '.join(lacking)} not installed"))


def _randomize_bn(model, image_size: int, seed: int) -> None:
    """Give a torch ResNet non-trivial BN parameters and statistics.

    Identity BN (mean 0, var 1, gamma 1, beta 0) would hide a swapped or transposed
    BN tensor.  gamma/beta are drawn first, then the running statistics are set to
    one calibration batch's (torch momentum 1.0) and jittered, so eval-mode
    activations stay O(1) the way a trained network's do instead of growing with depth.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(0.5, 1.5, generator=g)
            m.bias.normal_(0.0, 0.2, generator=g)
        momenta = [m.momentum for m in bns]
        for m in bns:
            m.momentum = 1.0
        model.train()
        model(torch.randn(8, 3, image_size, image_size, generator=g))
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum
            m.running_mean.add_(0.1 * m.running_var.sqrt() * torch.randn(m.running_mean.shape, generator=g))
            m.running_var.mul_(torch.empty(m.running_var.shape).uniform_(0.8, 1.25, generator=g))
    model.eval()


@pytest.fixture
def torch_resnet():
    """Factory: a torch ResNet from `torch_impl.models.build_model` with randomized BN."""
    def make(arch: str, num_classes: int = 10, image_size: int = 32, seed: int = 0, **bn):
        import torch
        from torch_impl.models import build_model

        torch.manual_seed(seed)
        model = build_model(arch, num_classes, image_size, **bn)
        _randomize_bn(model, image_size, seed)
        return model
    return make


def torch_bn_momentum_patch(torch_momentum: float) -> str:
    """A sitecustomize.py that changes torch's BatchNorm momentum default behind the suite's back.

    It patches torch.nn.modules.batchnorm right after torch imports it, in whichever
    process (an audit probe, a worker) imports torch, as a torch upgrade changing
    the default would.
    """
    return f'''
import importlib.abc, importlib.util, sys

class _Patch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "torch.nn.modules.batchnorm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            d = list(module._BatchNorm.__init__.__defaults__)
            d[1] = {torch_momentum!r}      # (eps, momentum, ...)
            module._BatchNorm.__init__.__defaults__ = tuple(d)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Patch())
'''


# A suite of three seconds-long torch jobs, for runner and fault tests.
TINY_TORCH_CONFIG = """
[run]
dataset = "far"
epochs = 1
train_images = 64
batch_size = 32
seeds = {seeds}
frameworks = {frameworks}
scenario = "tiny"

[run.bn]
momentum = 0.9
epsilon = 1e-5
"""


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """One ``parity run --suite smoke`` (tf and torch, real workers), shared by the tests that read such a run:
    (folder, the finished process). Read only: a test that changes the folder works on a copy.

    Under pytest-xdist every test process would run its own; the first one runs it into the test session's
    shared temporary folder, under a lock, and the others read it (one smoke run, ~40 s, instead of two)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent   # the session's folder, above each test process's own
    out, record = shared / "smoke-run" / "smoke", shared / "smoke-run" / "process.json"
    out.parent.mkdir(exist_ok=True)
    with open(shared / "smoke-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not record.exists():
            proc = subprocess.run([sys.executable, "-m", "parity.cli", "run", "--suite", "smoke", "--out", str(out)],
                                  capture_output=True, text=True, timeout=600)
            record.write_text(json.dumps({"returncode": proc.returncode, "stdout": proc.stdout,
                                          "stderr": proc.stderr}))
    proc = subprocess.CompletedProcess(args=["parity", "run", "--suite", "smoke"], **json.loads(record.read_text()))
    assert proc.returncode == 0, proc.stderr
    return out, proc


# A finished job's metrics and plan as small as the job-file reader accepts (parity/results.py JOB_SCHEMA):
# tests that write result files by hand add these to the fields they are about.
OK_FIELDS = {"status": "ok", "plan": {"bn_momentum": 0.9}, "history": [],
             "final": {"train_loss": 0.1, "train_acc": 90.0, "eval_loss": 0.2, "eval_acc": 88.0}}
