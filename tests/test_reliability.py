"""Reliability: a locked output folder, determinism, a missing framework, faults inside a job."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from parity.config import BNConfig, RunConfig, run_to_dict

PARITY = [sys.executable, "-m", "parity.cli"]

# Makes tensorflow look uninstalled in every process that inherits PYTHONPATH: `import
# tensorflow` raises ImportError and importlib.util.find_spec("tensorflow") returns None.
NO_TF = '''
import sys
sys.modules["tensorflow"] = None
'''


def test_two_runs_on_one_folder_do_not_share_it(tmp_path):
    from parity.runner import _FolderLock

    out = tmp_path / "out"
    out.mkdir()
    with _FolderLock(out):
        proc = subprocess.run(PARITY + ["run", "--suite", "smoke", "--out", str(out)], capture_output=True,
                              text=True, timeout=120)
    assert proc.returncode == 2
    assert "in use by another parity run" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (out / "jobs").exists()


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_the_same_job_twice_gives_identical_metrics(framework):
    from parity.backend import load
    from parity.job import execute

    run = RunConfig(dataset="far", epochs=1, train_images=96, batch_size=32, scenario="det",
                    bn=BNConfig(momentum=0.9, epsilon=1e-5))
    job = {"id": "det", "framework": framework, "seed": 3, "run": run_to_dict(run), "threads": 1}
    backend = load(framework)
    a, b = execute(job, backend), execute(job, backend)
    assert a["final"] == b["final"]
    assert a["final_weights_checksum"] == b["final_weights_checksum"]
    assert a["env"]["deterministic"] is True


def test_a_missing_framework_runs_the_other_side_and_says_so(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_TF)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'site'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = tmp_path / "out"
    proc = subprocess.run(PARITY + ["run", "--suite", "smoke", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "tf is not installed" in proc.stderr
    assert "not installed" in proc.stdout
    md = (out / "parity.md").read_text()
    assert "not installed" in md
    import json
    jobs = [json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")]
    assert {j["framework"]: j["status"] for j in jobs} == {"tf": "failed", "torch": "ok"}


def test_a_diverging_job_is_recorded_with_its_reason(tmp_path):
    from parity import runner
    from parity.config import SuiteConfig

    run = RunConfig(dataset="far", epochs=1, train_images=64, scenario="nan", lr=10.0, sgd_momentum=0.99,
                    bn=BNConfig(momentum=0.9))
    suite = SuiteConfig("t", [run], seeds=[0], frameworks=["torch"])
    runner.run_suite(suite, tmp_path / "out", log=lambda m: None)
    import json
    (job,) = [json.loads(p.read_text()) for p in (tmp_path / "out" / "jobs").glob("*.json")]
    assert job["status"] == "failed" and job["error"].startswith("diverged: non-finite training loss")
