"""``parity audit``: the defaults table, the snapshot, and --check both ways."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import torch_bn_momentum_patch

from parity import audit

pytestmark = [pytest.mark.needs("tf", "torch"), pytest.mark.system]   # make test-system (CI)

ROOT = Path(__file__).resolve().parents[2]
PARITY = [sys.executable, "-m", "parity.cli", "audit"]

# A sitecustomize that changes torch's BatchNorm momentum default as a torch upgrade
# might: it patches torch.nn.modules.batchnorm right after torch imports it, in the
# audit's torch probe process only (the TF probe never imports torch).
PATCH = torch_bn_momentum_patch(0.5)
COMMITTED = ROOT / "results" / "defaults.json"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """One audit of every framework, checked against the committed snapshot (the test at the end reads that
    verdict): the live snapshot (--json on stdout) written to a file for the tests, and the process."""
    proc = subprocess.run(PARITY + ["--json", "--check", str(COMMITTED)], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode in (0, 1), proc.stderr   # 1: drift, which test_committed_snapshot_matches reports
    out = tmp_path_factory.mktemp("audit") / "defaults.json"
    out.write_text(proc.stdout)
    return out, proc


def test_audit_reads_every_knob_with_probes(snapshot):
    path, _ = snapshot
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
    table = audit.table(data)   # what `parity audit` prints without --json
    assert all(name in table for name in knobs)


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


def test_an_edited_snapshot_drifts_and_a_bad_one_is_refused(snapshot, tmp_path):
    """The comparison --check prints, on the audit just read (in process: a --check run is one more audit of
    every framework, which the test above and the one below make)."""
    path, _ = snapshot
    live = json.loads(path.read_text())
    edited = json.loads(path.read_text())
    edited["knobs"]["adam_epsilon"]["tf"] = 1e-3
    assert audit.drift(edited, live) == ["adam_epsilon: tf 0.001 -> 1e-07"]
    assert audit.drift(live, live) == []

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")   # refused before any framework is read
    proc = subprocess.run(PARITY + ["--check", str(bad)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_committed_snapshot_matches_this_machine(snapshot):
    """results/defaults.json is the baseline upgrades are checked against; it must be current (and a current
    snapshot is what --check passes: the drift cases are above)."""
    _, proc = snapshot
    assert proc.returncode == 0, proc.stderr
    assert f"no drift against {COMMITTED}" in proc.stderr
