"""A machine with PyTorch but no TensorFlow, the package used from a checkout (``PYTHONPATH=.``).

The GPU machines have torch and torchvision only. Stub packages that raise
ImportError stand in for tensorflow, keras and tensorflow_datasets, first on
PYTHONPATH, so ``python -m parity`` must run torch jobs and torch throughput
without ever importing them. Each command runs in a process of its own, from
outside the checkout, as it would there.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.needs("torch"), pytest.mark.system]   # make test-system (CI)

REPO = Path(__file__).resolve().parents[2]
STUBBED = ("tensorflow", "keras", "tensorflow_datasets")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    stubs = tmp_path_factory.mktemp("no-tf")
    for name in STUBBED:
        (stubs / name).mkdir()
        (stubs / name / "__init__.py").write_text('raise ImportError("no tensorflow here")\n')
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_BACKEND")}
    e["PYTHONPATH"] = os.pathsep.join([str(stubs), str(REPO)])
    return e


def _run(args, env, cwd, timeout=600):
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_stubs_hide_tensorflow(env, tmp_path):
    for name in STUBBED:
        p = _run(["-c", f"import {name}"], env, tmp_path)
        assert p.returncode != 0 and "no tensorflow here" in p.stderr, (name, p.stderr[-500:])


def test_run_smoke_suite_torch_only(env, tmp_path):
    out = tmp_path / "smoke"
    p = _run(["-m", "parity", "run", "--suite", "smoke", "--frameworks", "torch", "--out", str(out)], env, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    jobs = [json.loads(f.read_text()) for f in (out / "jobs").glob("*.json")]
    assert jobs and all(j["framework"] == "torch" and j["status"] == "ok" for j in jobs), jobs
    assert (out / "parity.json").exists() and (out / "parity.md").exists()


def test_bench_torch_only(env, tmp_path):
    out = tmp_path / "tp"
    p = _run(["-m", "parity", "bench", "--frameworks", "torch", "--modes", "eager", "--rounds", "1", "--steps", "1",
              "--skip-overhead", "--out", str(out)], env, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    data = json.loads((out / "throughput.json").read_text())
    assert {(r["framework"], r["mode"]) for r in data["rows"]} == {("torch", "eager")}
    assert {r["kind"] for r in data["rows"]} == {"train", "inference"} and any(r["loader"] for r in data["rows"])
    assert data["overhead"] == [] and data["settings"]["arch"] == "resnet-tiny"


def test_bench_default_frameworks_leave_tf_out(env, tmp_path):
    """Without --frameworks, tf is reported as not installed and torch is still measured (exit 0)."""
    out = tmp_path / "tp"
    p = _run(["-m", "parity", "bench", "--modes", "eager", "--rounds", "1", "--steps", "1", "--skip-overhead",
              "--skip-loader", "--out", str(out)], env, tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "parity: tf is not installed or fails to import: not measured" in p.stderr
    data = json.loads((out / "throughput.json").read_text())
    assert {r["framework"] for r in data["rows"]} == {"torch"}
    assert "no tensorflow here" in data["settings"]["not_installed"]["tf"]
