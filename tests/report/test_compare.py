"""The regression gate on real runs: a default changed behind the suite's back is caught, a corrupt baseline is
exit 2. Two smoke runs comparing clean (bit-identical): the installed wheel's run against the checkout's,
tests/cli/test_wheel.py. Planted changes: tests/report/test_gate.py."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import torch_bn_momentum_patch


pytestmark = pytest.mark.needs("tf", "torch")

PARITY = [sys.executable, "-m", "parity.cli"]

# Changes torch's BatchNorm momentum default (0.1 -> 0.01, i.e. Keras' 0.99) in the
# worker processes, behind the suite's back, as an upgrade changing a default would.
PATCH = torch_bn_momentum_patch(0.01)


def _smoke(out: Path, env=None):
    proc = subprocess.run(PARITY + ["run", "--suite", "smoke", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    return out


def _compare(a, b, *extra):
    return subprocess.run(PARITY + ["compare", str(a), str(b), *extra], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def baseline(smoke_run):
    return smoke_run[0]   # read only: the tests below that change a baseline copy it first


def test_a_default_changed_behind_the_suites_back_is_caught(baseline, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(PATCH)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'site'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    planted = _smoke(tmp_path / "planted", env=env)
    proc = _compare(baseline, planted)
    assert proc.returncode == 1, proc.stdout
    assert "torch.bn_momentum: 0.9 -> 0.99" in proc.stdout              # the changed default, named
    assert "momentum-native/far/native/eval_acc [torch]" in proc.stdout  # and the row it regressed


def test_a_default_only_the_newer_code_reads_is_not_a_changed_default(baseline, tmp_path):
    """A baseline made before the suite read a default (e.g. AdamW's decay): said, never a regression."""
    older = tmp_path / "older"
    shutil.copytree(baseline, older)
    for path in (older / "jobs").glob("*.json"):
        job = json.loads(path.read_text())
        job["native_defaults"].pop("adamw_weight_decay")
        path.write_text(json.dumps(job))
    proc = _compare(older, baseline)
    print(proc.stderr.strip().splitlines()[-1])
    assert proc.returncode == 0, proc.stdout
    assert "default tf.adamw_weight_decay read by the current code only: 0.004" in proc.stdout


def test_a_knob_only_the_newer_code_audits_is_not_drift(baseline, tmp_path):
    """Both folders carry an audit snapshot (as upgrade-check writes them); the older lacks a newer knob."""
    snapshot = json.loads((Path(__file__).parents[2] / "results" / "defaults.json").read_text())
    older, newer = tmp_path / "older", tmp_path / "newer"
    for folder in (older, newer):
        shutil.copytree(baseline, folder)
    (newer / "defaults.json").write_text(json.dumps(snapshot))
    snapshot["knobs"].pop("jpeg_decoding")
    (older / "defaults.json").write_text(json.dumps(snapshot))
    proc = _compare(older, newer)
    assert proc.returncode == 0, proc.stdout
    assert "audit jpeg_decoding: new knob, not in the snapshot" in proc.stdout


@pytest.mark.parametrize("content", ["{truncated", json.dumps({"schema": 99, "id": "x"}), None])
def test_a_corrupt_or_missing_baseline_exits_2_with_one_line(baseline, tmp_path, content):
    bad = tmp_path / "bad"
    shutil.copytree(baseline, bad)
    if content is None:
        shutil.rmtree(bad / "jobs")
    else:
        (bad / "jobs" / "extra.json").write_text(content)
    proc = _compare(bad, baseline)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
