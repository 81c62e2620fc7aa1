"""Job matrix -> worker processes, one framework each -> one result file per job.

TF and torch never share a process: a worker (``parity.run.worker``) runs one
framework's jobs. Every framework starts with a worker of its own, side by side
with the same thread count (``WorkerPool``); one that runs out of jobs hands its
cores to the framework with the most jobs left on the board (``JobBoard``), as
another worker of that framework, so the run ends when the work does, not when
the slower framework does. A worker that crashes, hangs past the job timeout or is killed costs one
job -- recorded as failed with its reason -- and is replaced for the rest. Result
files are written atomically, so ``--resume`` can trust every file that parses
and reruns the rest.

This module holds the run itself and the output folder's lock; the job matrix (``matrix``), the resume
policy (``resume``), the progress display (``progress``), the job board (``board``) and the workers'
supervision (``supervise``) are modules of their own.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from parity.assets import starting
from parity.results import write_result
from parity.run.board import JobBoard
from parity.run.job import failed_result
from parity.run.matrix import Job, expand, jobs_left_out
from parity.run.progress import Progress
from parity.run.resume import select_pending
from parity.run.supervise import WorkerPool
from parity.spec.config import SuiteConfig

DEFAULT_JOB_TIMEOUT_S = 1800


class OutputLocked(RuntimeError):
    """Another parity run holds the output folder."""


class _FolderLock:
    """An exclusive flock on DIR/.lock for the whole run: two runs never write one folder."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / ".lock"
        self.fd = None

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise OutputLocked(f"{self.path.parent} is in use by another parity run (pid {holder}); "
                               "wait for it or choose another --out") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)   # closing releases the lock


EXECUTORS = ("local", "ray")


def run_suite(suite: SuiteConfig, out_dir: str | Path, *, resume: bool = False, threads: int | None = None,
              job_timeout: float = DEFAULT_JOB_TIMEOUT_S, log=None, executor: str = "local",
              address: str | None = None) -> dict:
    """Run every pending job of the suite with the chosen executor; returns a summary.

    ``local``: one worker process per framework on this machine (the default).
    ``ray``: one Ray task per job (see parity.run.ray_executor); the same result files.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _FolderLock(out_dir):
        return _run_locked(suite, out_dir, resume, threads, job_timeout, log, executor, address)


def _run_locked(suite, out_dir: Path, resume: bool, threads, job_timeout, log, executor="local",
                address=None) -> dict:
    if executor == "ray":   # an unreachable cluster is found before any result moves
        from parity.run import ray_executor

        started_ray = ray_executor.connect(address)
        try:
            return _run_jobs(suite, out_dir, resume, threads, job_timeout, log, executor)
        finally:
            ray_executor.disconnect(started_ray)
    return _run_jobs(suite, out_dir, resume, threads, job_timeout, log, executor)


def _run_jobs(suite, out_dir: Path, resume: bool, threads, job_timeout, log, executor: str) -> dict:
    jobs = expand(suite, out_dir)
    others = jobs_left_out(suite, out_dir)
    pending = select_pending(jobs, out_dir, resume, log, others)
    frameworks = [fw for fw in suite.frameworks if any(j.framework == fw for j in pending)]
    cores = usable_cores()
    if threads is None:
        threads = max(1, cores // max(len(suite.frameworks), 1))
    board = JobBoard(pending)
    firsts = board.first_frameworks(frameworks, max(len(frameworks), cores // threads))
    log(f"suite {suite.name}: {len(jobs)} jobs, {len(jobs) - len(pending)} already done, {len(pending)} to run; "
        f"workers: {', '.join(frameworks) or 'none'} with {threads} thread(s) each"
        + (f", {len(firsts)} at a time" if executor == "local" and len(firsts) > len(frameworks) else "")
        + f" ({executor} executor)")
    if pending:
        starting.ensure(suite.runs, log)
    t0 = time.perf_counter()
    if executor == "ray":
        from parity.run import ray_executor

        with Progress(len(pending), log) as progress:
            ray_executor.run(pending, suite.name, out_dir, threads, job_timeout, progress, log)
        _no_job_without_result(pending, suite.name)
        return {"jobs": len(jobs), "ran": len(pending), "seconds": time.perf_counter() - t0, "threads": threads}
    with Progress(len(pending), log) as progress:
        pool = WorkerPool(board, suite.name, out_dir, threads, job_timeout, progress, log)
        pool.run(firsts)
    _no_job_without_result(pending, suite.name)
    return {"jobs": len(jobs), "ran": len(pending), "seconds": time.perf_counter() - t0, "threads": threads,
            "workers": pool.started}


def usable_cores() -> int:
    """The cores this process may run on (its affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _no_job_without_result(jobs: list[Job], suite_name: str) -> None:
    """A job that ended without a result file (lost by a bug) is recorded as failed, never silently absent."""
    for job in jobs:
        if not job.path.exists():
            write_result(job.path, failed_result(job.spec(suite_name), "runner error: the job ended without a result"))
