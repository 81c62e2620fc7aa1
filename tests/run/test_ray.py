"""The Ray executor: the same table as the local one, retries when a worker dies, optional install."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import TINY_TORCH_CONFIG

from parity.spec.scenarios import build_suite

pytestmark = pytest.mark.needs("tf", "torch")   # the local-vs-Ray test runs the smoke suite

pytest.importorskip("ray", reason="ray is not installed (pip install '.[ray]')")

PARITY = [sys.executable, "-m", "parity.cli"]


def _run(*args, env=None, timeout=600):
    t0 = time.perf_counter()
    proc = subprocess.run(PARITY + list(args), capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.perf_counter() - t0


def _rows(out):
    return json.loads((out / "parity.json").read_text())["rows"]


@pytest.mark.slow   # make test-all; see the README's Tests
def test_ray_gives_the_same_parity_table_as_local(smoke_run, tmp_path):
    shutil.copytree(smoke_run[0], tmp_path / "local")   # the local run (a copy: --resume below writes to it)
    ray, t_ray = _run("run", "--suite", "smoke", "--out", str(tmp_path / "ray"), "--executor", "ray")
    assert ray.returncode == 0, ray.stderr
    print(f"\nsmoke suite wall time with ray: {t_ray:.1f}s (ray.init included)")
    assert _rows(tmp_path / "local") == _rows(tmp_path / "ray")
    fingerprints = {}
    for name in ("local", "ray"):
        for p in (tmp_path / name / "jobs").glob("*.json"):
            job = json.loads(p.read_text())
            fingerprints.setdefault(p.name, set()).add((job["data_fingerprint"], job["init_checksum"]))
    assert all(len(v) == 1 for v in fingerprints.values())
    # --resume works across executors: the local results count as done for a ray run.
    again, _ = _run("run", "--suite", "smoke", "--out", str(tmp_path / "local"), "--executor", "ray", "--resume")
    n = len(build_suite("smoke").runs) * 2   # runs x (tf, torch), one seed
    assert again.returncode == 0 and f"{n} already done, 0 to run" in again.stderr


@pytest.mark.slow   # make test-all; see the README's Tests
def test_a_killed_ray_worker_is_retried_and_the_suite_completes(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TORCH_CONFIG.format(seeds="[0, 1]", frameworks='["torch"]').replace(
        "train_images = 64", "train_images = 768").replace("epochs = 1", "epochs = 3"))
    out = tmp_path / "out"
    proc = subprocess.Popen(PARITY + ["run", "--config", str(cfg), "--out", str(out), "--executor", "ray",
                                      "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    attempts = out / "logs" / "ray-attempts"
    deadline = time.time() + 180
    victim = None
    while victim is None and time.time() < deadline:
        markers = sorted(attempts.glob("*")) if attempts.exists() else []
        if markers:
            time.sleep(2.0)   # mid-job
            victim = int(markers[0].read_text().split()[0])
        time.sleep(0.2)
    assert victim, "no Ray task started"
    os.kill(victim, 9)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    jobs = [json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")]
    assert len(jobs) == 2 and all(j["status"] == "ok" for j in jobs), [j.get("error") for j in jobs]
    assert max(j["executor"]["attempt"] for j in jobs) == 2   # the killed one ran again


def test_without_ray_the_executor_refuses_in_one_line(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    proc, _ = _run("run", "--suite", "smoke", "--out", str(tmp_path / "out"), "--executor", "ray", env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "parity: --executor ray needs Ray: pip install '.[ray]' (or pip install ray)"
    assert not (tmp_path / "out").exists()
