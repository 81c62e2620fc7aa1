"""The runner end to end: real worker processes, real result files, faults and resume."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import OK_FIELDS, TINY_TORCH_CONFIG

PARITY = [sys.executable, "-m", "parity.cli"]
TINY = TINY_TORCH_CONFIG.replace("{seeds}", "[0, 1]")


def _config(tmp_path, frameworks='["tf", "torch"]') -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(frameworks=frameworks))
    return path


def _run(*args, timeout=600):
    return subprocess.run(PARITY + list(args), capture_output=True, text=True, timeout=timeout)


def _jobs(out: Path) -> dict[str, dict]:
    return {p.name: json.loads(p.read_text()) for p in sorted((out / "jobs").glob("*.json"))}


@pytest.mark.needs("tf", "torch")
def test_smoke_suite_end_to_end(smoke_run):
    out, proc = smoke_run
    for name in ("parity.md", "parity.csv", "parity.json"):
        assert (out / name).stat().st_size > 0
    table = json.loads((out / "parity.json").read_text())
    assert table["schema"] == 1 and table["suite"] == "smoke"
    row = next(r for r in table["rows"] if r["metric"] == "eval_acc")
    assert set(row) >= {"scenario", "dataset", "metric", "tf", "torch", "gap", "verdict"}
    assert row["tf"]["n"] == 1 and row["torch"]["n"] == 1
    jobs = list(_jobs(out).values())
    assert {j["framework"] for j in jobs} == {"tf", "torch"}
    assert all(j["status"] == "ok" for j in jobs)
    # Same inputs, provably: one fingerprint and one starting checksum for both frameworks.
    assert len({j["data_fingerprint"] for j in jobs}) == 1
    assert len({j["init_checksum"] for j in jobs}) == 1
    assert jobs[0]["env"]["intra_op_threads"] == jobs[1]["env"]["intra_op_threads"]
    assert "momentum-native" in proc.stdout and "TF eval" in proc.stdout


def record_problems(job: dict) -> list[str]:
    """The keys of a job file that its typed record (results.JobResult) does not declare, and the schema's
    keys it does not declare either."""
    from parity.results import JOB_SCHEMA, JobResult

    declared = set(JobResult.__annotations__)
    return [f"{k}: not in JobResult" for k in sorted((set(job) | set(JOB_SCHEMA["properties"])) - declared)]


@pytest.mark.needs("tf", "torch")
def test_every_key_a_job_file_holds_is_its_typed_record(smoke_run):
    """One record: a real run's job files hold only what JobResult declares (planted: a key it does not)."""
    jobs = list(_jobs(smoke_run[0]).values())
    print(f"\n{len(jobs)} job files, {len(set().union(*jobs))} keys")
    assert all(not record_problems(j) for j in jobs), [record_problems(j) for j in jobs]
    assert record_problems({**jobs[0], "planted": 1}) == ["planted: not in JobResult"]


@pytest.mark.system
@pytest.mark.needs("torch")
def test_killed_worker_is_recorded_failed_and_resume_completes(tmp_path):
    out = tmp_path / "run"
    cfg = _config(tmp_path, '["torch"]')
    proc = subprocess.Popen(PARITY + ["run", "--config", str(cfg), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid_file = out / "logs" / "torch-worker.pid"
    deadline = time.time() + 120
    while not pid_file.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert pid_file.exists(), "the worker never started"
    time.sleep(1.0)
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr   # a run with a failed job never exits 0
    jobs = _jobs(out)
    failed = [j for j in jobs.values() if j["status"] == "failed"]
    assert len(jobs) == 2 and len(failed) == 1, stderr
    assert "SIGKILL" in failed[0]["error"]
    ok_name = next(n for n, j in jobs.items() if j["status"] == "ok")
    ok_mtime = (out / "jobs" / ok_name).stat().st_mtime_ns
    table = json.loads((out / "parity.json").read_text())
    assert any("SIGKILL" in f for r in table["rows"] for f in r["failed_jobs"])

    resumed = _run("run", "--config", str(cfg), "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "1 already done, 1 to run" in resumed.stderr
    jobs = _jobs(out)
    assert all(j["status"] == "ok" for j in jobs.values())
    assert (out / "jobs" / ok_name).stat().st_mtime_ns == ok_mtime, "a finished job was redone"


@pytest.mark.slow   # make test-all; see the README's Tests (a truncated file is also refused by
@pytest.mark.needs("torch")   # test_hostile_properties.py's "truncate"; --resume reruns in the killed-worker test)
def test_partial_result_file_is_detected_and_rerun(tmp_path):
    out = tmp_path / "run"
    cfg = _config(tmp_path, '["torch"]')
    assert _run("run", "--config", str(cfg), "--out", str(out)).returncode == 0
    victim = sorted((out / "jobs").glob("*.json"))[0]
    text = victim.read_text()
    victim.write_text(text[: len(text) // 2])       # a crash mid-write, as a non-atomic writer would leave

    report = _run("report", str(out))
    assert report.returncode == 0
    assert "skipped unreadable result" in report.stderr and victim.name in report.stderr
    table = json.loads((out / "parity.json").read_text())
    assert table["unreadable"] and table["rows"][0]["torch"]["n"] == 1   # never silently counted

    resumed = _run("run", "--config", str(cfg), "--out", str(out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"rerunning {victim.stem}" in resumed.stderr
    assert json.loads(victim.read_text())["status"] == "ok"


@pytest.mark.system
@pytest.mark.needs("torch")
def test_a_job_that_raises_is_recorded_failed_and_the_rest_go_on(tmp_path):
    """A checkpoint path that vanishes after the preflight check: the worker's job fails, the suite goes on."""
    from parity.run import runner
    from parity.spec.config import BNConfig, RunConfig, SuiteConfig

    good = RunConfig(dataset="far", epochs=1, train_images=64, scenario="tiny", variant="good",
                     bn=BNConfig(momentum=0.9))
    bad = RunConfig(dataset="far", epochs=1, train_images=64, scenario="tiny", variant="bad",
                    pretrained=str(tmp_path / "gone.safetensors"))
    suite = SuiteConfig("t", [bad, good], seeds=[0], frameworks=["torch"])
    lines = []
    summary = runner.run_suite(suite, tmp_path / "out", log=lines.append)
    assert summary["ran"] == 2
    jobs = _jobs(tmp_path / "out")
    statuses = {j["variant"]: j["status"] for j in jobs.values()}
    assert statuses == {"bad": "failed", "good": "ok"}
    assert "CheckpointError" in next(j for j in jobs.values() if j["variant"] == "bad")["error"]


@pytest.mark.needs("torch")
def test_job_timeout_kills_the_worker_and_records_it(tmp_path):
    from parity.run import matrix, resume, runner
    from parity.spec.config import BNConfig, RunConfig, SuiteConfig

    run = RunConfig(dataset="far", epochs=3, scenario="tiny", bn=BNConfig(momentum=0.9))
    suite = SuiteConfig("t", [run], seeds=[0], frameworks=["torch"])
    runner.run_suite(suite, tmp_path / "out", job_timeout=3, log=lambda m: None)
    (job,) = _jobs(tmp_path / "out").values()
    assert job["status"] == "failed" and "timed out after 3s" in job["error"]


def test_without_resume_previous_results_are_set_aside_not_deleted(tmp_path):
    out = tmp_path / "run"
    (out / "jobs").mkdir(parents=True)
    (out / "jobs" / "old.json").write_text("{}")
    from parity.run import matrix, resume, runner
    from parity.spec.scenarios import build_suite

    jobs = matrix.expand(build_suite("smoke"), out)
    pending = resume.select_pending(jobs, out, resume=False, log=lambda m: None)
    assert len(pending) == len(jobs)
    (previous,) = out.glob("jobs.previous-*")
    assert (previous / "old.json").exists()


def test_resume_reruns_a_job_whose_settings_changed_and_sets_aside_foreign_results(tmp_path):
    from parity.results import write_json_atomic
    from parity.run import matrix, resume, runner
    from parity.spec.config import BNConfig, RunConfig, SuiteConfig, run_to_dict

    out = tmp_path / "out"
    run = RunConfig(dataset="far", epochs=1, train_images=64, scenario="tiny", bn=BNConfig(momentum=0.9))
    jobs = matrix.expand(SuiteConfig("t", [run], seeds=[0, 1], frameworks=["torch"]), out)
    old = dict(run_to_dict(run), epochs=2)
    for job in jobs:
        write_json_atomic(job.path, {"schema": 1, "id": job.id, "scenario": "tiny", "variant": "default",
                                     "dataset": "far", "framework": "torch", "seed": job.seed, **OK_FIELDS,
                                     "config": old if job.seed == 0 else run_to_dict(run)})
    write_json_atomic(out / "jobs" / "tiny__far__default__torch__s7.json", {"schema": 1})
    lines = []
    pending = resume.select_pending(jobs, out, resume=True, log=lines.append)
    assert [j.seed for j in pending] == [0]
    assert any("settings changed" in line for line in lines)
    assert not (out / "jobs" / "tiny__far__default__torch__s7.json").exists()
    (aside,) = out.glob("jobs.not-in-suite-*")
    assert (aside / "tiny__far__default__torch__s7.json").exists()


def test_resume_with_some_scenarios_keeps_the_other_scenarios_results(tmp_path):
    """`--suite cpu --scenarios X --resume` into a folder holding the whole suite: the rest stays in jobs/."""
    from parity.results import write_json_atomic
    from parity.run import matrix, resume, runner
    from parity.spec.config import BNConfig, RunConfig, SuiteConfig, run_to_dict

    out = tmp_path / "out"
    run = RunConfig(dataset="far", epochs=1, train_images=64, scenario="tiny", bn=BNConfig(momentum=0.9))
    other = RunConfig(dataset="far", epochs=1, train_images=64, scenario="other", bn=BNConfig(momentum=0.9))
    suite = SuiteConfig("t", [run], seeds=[0], frameworks=["torch"])
    jobs = matrix.expand(suite, out)
    others = matrix.expand(SuiteConfig("t", [other], seeds=[0], frameworks=["torch"]), out)
    kept = out / "jobs" / "other__far__default__torch__s0.json"
    extra_seed = out / "jobs" / "other__far__default__torch__s9.json"   # a seed this suite does not have
    foreign = out / "jobs" / "gone__far__default__torch__s0.json"
    for path in (kept, extra_seed, foreign):
        write_json_atomic(path, {"schema": 1})
    resume.select_pending(jobs, out, resume=True, log=lambda m: None, others=others)
    assert kept.exists() and not extra_seed.exists() and not foreign.exists()

    # a kept file made by other framework versions is refused like a selected one
    from parity import frameworks
    from parity.run.job import base_result
    job = {"id": others[0].id, "framework": "torch", "seed": 0, "run": run_to_dict(other)}
    write_json_atomic(kept, {**base_result(job), **OK_FIELDS,
                             "env": {k: "0.0.1" for k in frameworks.version_keys()}})
    with pytest.raises(resume.ResumeMismatch):
        resume.select_pending(jobs, out, resume=True, log=lambda m: None, others=others)


def test_resume_with_some_frameworks_keeps_the_other_columns_results(tmp_path):
    """`--suite cpu --frameworks keras-torch --resume` into a folder holding tf and torch: adding a column
    keeps the others' files (they were set aside as not in the suite before)."""
    from parity.results import write_json_atomic
    from parity.run import matrix, resume, runner
    from parity.spec.config import BNConfig, RunConfig, SuiteConfig
    from parity.spec.config_file import apply_overrides

    out = tmp_path / "out"
    run = RunConfig(dataset="far", epochs=1, train_images=64, scenario="tiny", bn=BNConfig(momentum=0.9))
    suite = SuiteConfig("t", [run], seeds=[0], frameworks=["tf", "torch", "keras-torch"])
    apply_overrides(suite, {"frameworks": ["keras-torch"]})
    assert suite.frameworks == ["keras-torch"] and suite.other_frameworks == ["tf", "torch"]
    kept = [out / "jobs" / f"tiny__far__default__{fw}__s0.json" for fw in ("tf", "torch")]
    foreign = out / "jobs" / "tiny__far__default__keras-jax__s0.json"   # a column the suite does not have
    for path in (*kept, foreign):
        write_json_atomic(path, {"schema": 1})
    pending = resume.select_pending(matrix.expand(suite, out), out, resume=True, log=lambda m: None,
                                    others=matrix.jobs_left_out(suite, out))
    print(f"\nkept: {[p.name for p in kept if p.exists()]}; pending: {[j.id for j in pending]}")
    assert all(p.exists() for p in kept) and not foreign.exists()
    assert [j.framework for j in pending] == ["keras-torch"]


def test_two_runs_with_the_same_name_are_a_config_error():
    from parity.spec.config import ConfigError
    from parity.spec.config_file import suite_from_dict

    with pytest.raises(ConfigError) as info:
        suite_from_dict({"runs": [{"dataset": "far", "lr": 0.01}, {"dataset": "far", "lr": 0.1}]}, "t")
    assert "the same scenario/dataset/variant as runs[0]" in info.value.problems[0]


def test_resume_reads_result_files_written_before_a_setting_existed():
    """A job file from before `precision` existed has the same settings as today's float32 run."""
    from parity.spec.config import RunConfig, run_to_dict, stored_settings

    old = run_to_dict(RunConfig())
    del old["precision"]
    assert stored_settings(old) == run_to_dict(RunConfig())
    assert stored_settings({"no such setting": 1}) is None
    assert stored_settings(None) is None
