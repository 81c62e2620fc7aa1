"""``parity audit``: the defaults table, the snapshot, and --check both ways."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import torch_bn_momentum_patch

pytestmark = pytest.mark.needs("tf", "torch")

ROOT = Path(__file__).resolve().parents[2]
PARITY = [sys.executable, "-m", "parity.cli", "audit"]

# A sitecustomize that changes torch's BatchNorm momentum default as a torch upgrade
# might: it patches torch.nn.modules.batchnorm right after torch imports it, in the
# audit's torch probe process only (the TF probe never imports torch).
PATCH = torch_bn_momentum_patch(0.5)


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "defaults.json"
    proc = subprocess.run(PARITY + ["--out", str(out)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return out, proc.stdout


def test_audit_prints_the_table_with_probes(snapshot):
    path, stdout = snapshot
    data = json.loads(path.read_text())
    knobs = data["knobs"]
    assert len(knobs) >= 10
    assert sum(1 for k in knobs.values() if "probe" in k["how"]) >= 4
    assert knobs["bn_momentum"]["tf"] == pytest.approx(0.99) and knobs["bn_momentum"]["torch"] == pytest.approx(0.9)
    assert knobs["bn_momentum_applied"]["tf"] == pytest.approx(0.99)   # the probe agrees with the signature
    assert knobs["bn_running_variance"]["tf"].startswith("biased")
    assert knobs["bn_running_variance"]["torch"].startswith("unbiased")
    assert knobs["bn_frozen"]["tf"] == "inference mode"
    assert knobs["bn_frozen"]["torch"].startswith("batch statistics")
    # weight decay is read by running the optimizers, not from a fixed string: decoupled 0.95, coupled 0.9
    wd = knobs["weight_decay"]
    print(f"\nweight_decay probe: tf {wd['tf']}, torch {wd['torch']}")
    assert wd["how"] == "probe" and (wd["tf"], wd["torch"]) == (pytest.approx(0.95), pytest.approx(0.9))
    for name in knobs:
        assert name in stdout


def test_check_fails_when_a_framework_default_changes(snapshot, tmp_path):
    path, _ = snapshot
    (tmp_path / "sitecustomize.py").write_text(PATCH)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run(PARITY + ["--check", str(path)], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env=env)
    assert proc.returncode == 1, proc.stderr
    drift = [line for line in proc.stderr.splitlines() if line.startswith("drift:")]
    assert "drift: bn_momentum: torch 0.9 -> 0.5" in drift
    assert any(line.startswith("drift: bn_momentum_applied: torch") for line in drift)   # the probe sees it too
    assert not any(": tf " in line for line in drift)


def test_check_fails_against_an_edited_snapshot_and_refuses_a_bad_one(snapshot, tmp_path):
    path, _ = snapshot
    data = json.loads(path.read_text())
    data["knobs"]["adam_epsilon"]["tf"] = 1e-3
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    proc = subprocess.run(PARITY + ["--check", str(edited)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 1 and "drift: adam_epsilon: tf 0.001 -> 1e-07" in proc.stderr

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run(PARITY + ["--check", str(bad)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_committed_snapshot_matches_this_machine():
    """results/defaults.json is the baseline upgrades are checked against; it must be current (and a current
    snapshot is what --check passes: the drift cases are above)."""
    proc = subprocess.run(PARITY + ["--check", str(ROOT / "results" / "defaults.json")], capture_output=True,
                          text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "no drift" in proc.stderr
