"""The runner's edges: nothing lost, nothing passed off as a result (issue 16).

Each test here failed on the runner before the fix it guards: a result written just before
the deadline was overwritten with "timed out", a realtime signal or a bug in the job loop
ended a worker thread and silently dropped its remaining jobs, Ray called a missing
framework "exited with code 3", and an ok job with NaN metrics vanished from the means.
"""
import json
import os
import queue
import threading
from pathlib import Path

import pytest
from conftest import OK_FIELDS

from parity import process
from parity.report import aggregate
from parity.run import board, matrix, progress, runner, supervise
from parity.run.job import base_result
from parity.spec.config import BNConfig, RunConfig, SuiteConfig


def _jobs(tmp_path, seeds=(0, 1, 2)):
    run = RunConfig(dataset="far", epochs=1, train_images=64, scenario="edge", bn=BNConfig(momentum=0.9))
    return matrix.expand(SuiteConfig("t", [run], seeds=list(seeds), frameworks=["torch"]), tmp_path)


def _worker(tmp_path, jobs):
    return supervise.FrameworkWorker("torch", board.JobBoard(jobs), "t", tmp_path, 1, 5.0,
                                  progress.Progress(len(jobs), lambda m: None), threading.Event())


def test_a_result_written_just_before_the_deadline_stands(tmp_path):
    import time

    job = _jobs(tmp_path)[0]
    w = _worker(tmp_path, [job])
    started = time.time()
    w.lines = queue.Queue()
    w.lines.put({"event": "done", "job": job.id, "status": "ok", "error": None})   # arrived as time ran out
    assert w._finished_meanwhile(job, started) == ("ok", None)
    job.path.parent.mkdir(parents=True, exist_ok=True)       # or: the file is there, the message is not
    job.path.write_text(json.dumps(dict(base_result(job.spec("t")), **OK_FIELDS)))
    assert w._finished_meanwhile(job, started) == ("ok", None)
    # an older run's file (left by --resume when the settings changed) is not this attempt's result
    os.utime(job.path, (started - 3600, started - 3600))
    assert w._finished_meanwhile(job, started) is None


def test_an_unnamed_signal_is_said_by_number():
    assert process.exit_reason(-9) == "worker killed by signal SIGKILL"
    assert process.exit_reason(-40) == "worker killed by signal 40"    # signal.Signals(40) raises ValueError
    assert process.exit_reason(3) == "worker exited with code 3"


def test_a_bug_in_the_job_loop_costs_one_job_not_the_rest(tmp_path, monkeypatch):
    jobs = _jobs(tmp_path)
    w = _worker(tmp_path, jobs)
    done = []

    def run_one(job):
        if job.seed == 1:
            raise OSError("disk full while recording")
        if job.seed == 2:   # the worker wrote its result, then the runner's own bookkeeping failed
            job.path.write_text(json.dumps(dict(base_result(job.spec("t")), **OK_FIELDS)))
            raise BrokenPipeError("progress line to a closed terminal")
        done.append(job.seed)

    jobs[0].path.parent.mkdir(parents=True)
    monkeypatch.setattr(w, "_run_one", run_one)
    w.run()
    assert done == [0]                                       # seeds 1 and 2 did not stop the loop
    failed = json.loads(jobs[1].path.read_text())
    assert failed["status"] == "failed" and failed["error"] == "runner error: OSError: disk full while recording"
    assert json.loads(jobs[2].path.read_text())["status"] == "ok"   # a result already written stands


def test_a_job_left_without_a_result_is_recorded_as_failed(tmp_path):
    jobs = _jobs(tmp_path, seeds=(0,))
    jobs[0].path.parent.mkdir(parents=True)
    runner._no_job_without_result(jobs, "t")
    assert json.loads(jobs[0].path.read_text())["error"] == "runner error: the job ended without a result"


def test_ray_records_a_missing_framework_as_not_installed(tmp_path, monkeypatch):
    """The Ray task body without Ray: a worker whose framework does not import."""
    from parity.run.ray_executor import run_job

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text("import sys\nsys.modules['torch'] = None\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path / 'site'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    job = _jobs(tmp_path, seeds=(0,))[0]
    result = run_job(job.spec("t"), "torch", 1, 120, None)
    assert result["status"] == "failed"
    assert result["error"].startswith("torch not installed: torch: not installed or broken"), result["error"]


def test_an_ok_job_with_nan_metrics_is_listed_as_failed_not_dropped():
    def job(fw, seed, acc):
        return {"scenario": "s", "dataset": "far", "variant": "v", "framework": fw, "seed": seed, "status": "ok",
                "final": {"eval_acc": acc, "train_acc": 50.0, "eval_loss": 1.0}, "data_fingerprint": "x",
                "init_checksum": "y"}
    jobs = [job("tf", s, 80.0) for s in range(3)] + [job("torch", s, 80.0) for s in range(2)] + \
        [job("torch", 2, float("nan"))]
    row = next(r for r in aggregate.build_rows(jobs) if r["metric"] == "eval_acc")
    assert row["torch"]["n"] == 2
    assert row["failed_jobs"] == ["torch seed 2: finished with non-finite eval_acc=nan"]


@pytest.mark.parametrize("seeds", ["[0, 0]", "[1, 2, 1]"])
def test_repeated_seeds_are_one_line_and_exit_2(tmp_path, seeds):
    import subprocess
    import sys

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[run]\ndataset = "far"\nseeds = {seeds}\n')
    proc = subprocess.run([sys.executable, "-m", "parity.cli", "run", "--config", str(cfg), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"parity: seeds: {seeds} is not allowed -- each seed once"]
    assert not Path(tmp_path / "out").exists()


@pytest.mark.system
@pytest.mark.needs("torch")
def test_resume_refuses_other_versions_and_reruns_other_code(tmp_path):
    """One folder, one environment: results/cpu once held five commits while its report named one.

    Jobs of other framework versions: refused, one line, exit 2, nothing moved. Jobs of other code
    (another commit): rerun, said per job, so the folder ends up one environment either way.
    """
    import subprocess
    import sys

    from conftest import TINY_TORCH_CONFIG

    from parity.results import git_commit

    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TORCH_CONFIG.format(seeds="[0]", frameworks='["torch"]'))
    out = tmp_path / "out"
    parity = [sys.executable, "-m", "parity.cli", "run", "--config", str(cfg), "--out", str(out)]
    assert subprocess.run(parity, capture_output=True, text=True, timeout=300).returncode == 0
    path = next((out / "jobs").glob("*.json"))
    job = json.loads(path.read_text())
    print(f"\njob made with torch {job['env']['torch']}, commit {job['env']['commit']}")

    path.write_text(json.dumps(dict(job, env=dict(job["env"], torch="2.13.0"))))
    proc = subprocess.run(parity + ["--resume"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds jobs made with torch 2.13.0" in lines[0], lines
    assert json.loads(path.read_text())["env"]["torch"] == "2.13.0"     # nothing was rerun or overwritten
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("jobs")) == ["jobs"]   # nothing moved

    if git_commit() is None:
        pytest.skip("not a git checkout: jobs record no commit to compare")
    path.write_text(json.dumps(dict(job, env=dict(job["env"], commit="0000000"))))
    proc = subprocess.run(parity + ["--resume"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "made by the code at 0000000" in proc.stderr and "0 already done, 1 to run" in proc.stderr
    assert json.loads(path.read_text())["env"]["commit"] == git_commit()


def test_progress_is_a_line_per_job_and_on_a_terminal_a_live_bar(tmp_path, monkeypatch):
    """Every finished job is one line (a log's record); a terminal also gets rich's bar below the lines."""
    import io

    from rich.console import Console

    jobs = _jobs(tmp_path)
    screen, lines = io.StringIO(), []
    with progress.Progress(len(jobs), lines.append, console=Console(file=screen, force_terminal=True, width=100)) as p:
        for job in jobs[:2]:
            p.finished(job, "ok", 1.5, None)
        p.finished(jobs[2], "failed", 0.2, "boom")
    print(*lines, sep="\n")
    assert lines[0].startswith("1/3 ") and "ok (1.5s)" in lines[0] and "ETA" in lines[0]
    assert lines[-1].endswith("-- boom")
    assert "jobs" in screen.getvalue() and "3/3" in screen.getvalue()   # the bar was drawn on the console
    assert p.bar is None   # stopped on leaving ``with``
    monkeypatch.setattr("sys.stderr", io.StringIO())   # not a terminal (a log file, CI): lines only, no bar
    with progress.Progress(len(jobs), lines.append) as quiet:
        assert quiet.bar is None
