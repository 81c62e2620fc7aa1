"""A chaos run: `parity run` killed with SIGKILL at random moments, resumed each time.

SIGKILL cannot be caught, so this is what a crash, an OOM kill or a pulled plug leaves behind. The run
must end with every job ok and every job file valid, no finished job run a second time (its file
never changes once written ok), and no process outliving its killed driver. The counts are printed.
``PARITY_CHAOS_KILLS`` sets the number of kills (CI: 3, on 6 seeds; the issue's figure, 20, was run once
by hand on 8 seeds: 20 landed, 0 finished jobs run twice, 0 strays).
"""
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TINY_TORCH_CONFIG

from parity.results import ResultError, read_job

pytestmark = pytest.mark.needs("torch")

PARITY = [sys.executable, "-m", "parity.cli"]
SEEDS = list(range(6))


def _processes_of(driver: int) -> list[int]:
    """Processes started for this driver (their environment names it: process.DRIVER_PID_VAR)."""
    mark = f"PARITY_DRIVER_PID={driver}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark in (entry / "environ").read_bytes() and _alive(entry):
                    found.append(int(entry.name))
            except OSError:   # gone meanwhile, or not ours
                pass
    return found


def _alive(proc_dir: Path) -> bool:
    try:
        return (proc_dir / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _ok_files(jobs: Path) -> dict[str, str]:
    """name -> sha256 of every job file that reads as a finished ok job."""
    done = {}
    for path in jobs.glob("*.json") if jobs.is_dir() else []:
        try:
            if read_job(path)["status"] == "ok":
                done[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        except ResultError:
            pass
    return done


def _time_a_run(command: list[str], jobs: Path) -> tuple[float, float]:
    """(seconds to the first job file, seconds per job after it) of one uninterrupted run."""
    t0 = time.time()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = None
    while proc.poll() is None:
        if first is None and any(jobs.glob("*.json")):
            first = time.time() - t0
        time.sleep(0.05)
    assert proc.returncode == 0
    total = time.time() - t0
    first = first or total
    return first, (total - first) / (len(SEEDS) - 1)


@pytest.mark.slow   # make test-all; see the README's Tests
def test_a_suite_killed_at_random_moments_finishes_on_resume(tmp_path):
    kills = int(os.environ.get("PARITY_CHAOS_KILLS", "3"))
    rng = random.Random(20261203)
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TORCH_CONFIG.format(seeds=SEEDS, frameworks='["torch"]'))
    out = tmp_path / "out"
    command = PARITY + ["run", "--config", str(cfg), "--out", str(out), "--resume"]

    # One uninterrupted run elsewhere sets the time scale: its start-up (to the first job file) and time per job.
    startup, per_job = _time_a_run(PARITY + ["run", "--config", str(cfg), "--out", str(tmp_path / "timing")],
                                   tmp_path / "timing" / "jobs")

    finished: dict[str, str] = {}
    rewritten, strays, landed = [], 0, 0
    for _ in range(kills):
        # a moment anywhere in what is left of the run: start-up, a job, a write, the report
        moment = rng.uniform(0.0, startup + (len(SEEDS) - len(finished)) * per_job)
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=moment)   # it ended before its moment: nothing to kill
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            landed += 1
        deadline = time.time() + 10
        while _processes_of(proc.pid) and time.time() < deadline:
            time.sleep(0.05)
        left = _processes_of(proc.pid)
        strays += len(left)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        now = _ok_files(out / "jobs")
        rewritten += [name for name, digest in finished.items() if now.get(name) != digest]
        finished.update(now)

    last = subprocess.run(command, capture_output=True, text=True, timeout=600)
    final = _ok_files(out / "jobs")
    rewritten += [name for name, digest in finished.items() if final.get(name) != digest]
    files = sorted(p.name for p in (out / "jobs").iterdir())
    print(f"\nchaos: {kills} kill moments, {landed} landed while parity ran (start-up {startup:.1f} s, "
          f"{per_job:.1f} s a job), {len(finished)} of {len(SEEDS)} jobs finished before the last resume, "
          f"{len(final)} ok at the end, {len(files)} files in jobs/, {len(rewritten)} finished jobs run twice, "
          f"{strays} processes outlived their driver; last resume exit {last.returncode}")
    assert last.returncode == 0, last.stderr
    assert len(final) == len(SEEDS) and len(files) == len(SEEDS), files   # every job ok, no temporary file
    assert rewritten == [], rewritten
    assert strays == 0
