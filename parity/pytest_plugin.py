"""pytest plugin, loaded by this checkout's pytest settings (``-p parity.pytest_plugin`` in pyproject.toml;
elsewhere give it yourself): ``pytest parity/ [--benchmark]``.

Without ``--benchmark`` the parity benchmarks in ``parity/benchmarks/`` run at
smoke size, fast enough for CI. With it they run ``--parity-suite`` at full
size: accuracy jobs through the runner (tables written, claims asserted,
``--parity-baseline`` compared), throughput through pytest-benchmark's
``benchmark`` fixture. Options live in their own group, beside
pytest-benchmark's ``--benchmark-*`` ones.
"""
from __future__ import annotations

import importlib.metadata
import json
import os

import pytest

from parity import frameworks
from parity import process


def pytest_addoption(parser):
    group = parser.getgroup("parity", "bn-parity benchmarks")
    group.addoption("--benchmark", action="store_true", default=False,
                    help="run the parity benchmarks at full size (default: smoke size)")
    group.addoption("--parity-suite", default="quick", help="suite for --benchmark (smoke, quick, cpu)")
    group.addoption("--parity-baseline", default=None, metavar="FILE",
                    help="results folder or parity.json to compare against (exit with a failure on regression)")
    group.addoption("--parity-out", default=None, metavar="DIR",
                    help="where the benchmark writes its tables (default: a temporary folder)")


class ParityOptions:
    def __init__(self, config):
        self.full = config.getoption("--benchmark")
        self.suite = config.getoption("--parity-suite") if self.full else "smoke"
        self.baseline = config.getoption("--parity-baseline")
        self.out = config.getoption("--parity-out")


@pytest.fixture(scope="session")
def parity_options(request) -> ParityOptions:
    return ParityOptions(request.config)


def _versions() -> dict:
    out = {}
    for dist in sorted({d for dists in frameworks.version_keys().values() for d in dists}):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


_DEVICE = "import json; from parity import frameworks; print(json.dumps(frameworks.load({name!r}).device_info()))"


def _devices() -> dict:
    """Where each framework runs (device, GPU, CUDA), each asked in a process of its own."""
    out = {}
    for name in frameworks.NAMES:
        try:
            proc = process.run_code(_DEVICE.format(name=name), timeout=120, framework=name)
            out[name] = json.loads(proc.stdout.strip().splitlines()[-1])
        except Exception:  # machine info is best effort (a framework may be missing)
            pass
    return out


def pytest_benchmark_update_machine_info(config, machine_info):
    from parity.results import git_commit

    machine_info["frameworks"] = _versions()
    machine_info["devices"] = _devices()
    machine_info["parity_commit"] = git_commit()
    machine_info["cpu_count"] = os.cpu_count()
