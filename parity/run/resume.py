"""Which jobs still need running: with --resume, every valid finished job of the same settings, versions
and code is kept; without it, old results are set aside, never deleted."""
from __future__ import annotations

import time
from pathlib import Path

from parity import frameworks
from parity.results import ResultError, git_commit, read_job
from parity.run.matrix import Job
from parity.spec.config import run_to_dict, stored_settings


def select_pending(jobs: list[Job], out_dir: Path, resume: bool, log, others: list[Job] = ()) -> list[Job]:
    """With --resume keep every valid finished job; without it, set old results aside (never delete them).

    ``others``: the suite's jobs not run this time (``--scenarios``, ``--frameworks``): their files stay
    in the folder (and in its report), under the same one-environment rule.
    """
    jobs_dir = out_dir / "jobs"
    for stale in jobs_dir.glob(".tmp-*") if jobs_dir.is_dir() else []:
        stale.unlink()   # a temporary file from a process that was killed mid-write
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if not resume:
        if jobs_dir.exists() and any(jobs_dir.glob("*.json")):
            old = out_dir / f"jobs.previous-{stamp}"
            jobs_dir.rename(old)
            log(f"previous results moved to {old} (use --resume to continue a run instead)")
        return list(jobs)
    # One folder, one environment: finished jobs of other framework versions are refused before
    # anything moves (the user most likely pointed at the wrong folder or environment).
    wanted = {job.path.name for job in [*jobs, *others]}
    versions = frameworks.installed_versions()
    finished: dict[str, dict | ResultError] = {}   # each result file read once: a result or why it is unreadable
    for job in [*jobs, *others]:   # an unreadable file of ``others`` is left as it is (the report lists it)
        if job.path.exists():
            try:
                finished[job.id] = read_job(job.path)
            except ResultError as e:
                finished[job.id] = e
        result = finished.get(job.id)
        if isinstance(result, dict) and result.get("status") == "ok":
            _check_same_versions(result, job, versions)
    # Results of jobs this suite no longer has (other seeds, removed runs) would enter the report.
    for path in sorted(jobs_dir.glob("*.json")) if jobs_dir.is_dir() else []:
        if path.name not in wanted:
            aside = out_dir / f"jobs.not-in-suite-{stamp}"
            aside.mkdir(exist_ok=True)
            path.rename(aside / path.name)
            log(f"{path.name} is not part of this suite: moved to {aside}")
    pending = []
    commit = git_commit()
    for job in jobs:
        result = finished.get(job.id)
        if result is None:
            pending.append(job)
            continue
        if isinstance(result, ResultError):
            log(f"rerunning {job.id}: {result}")
            pending.append(job)
            continue
        if result["status"] != "ok":
            pending.append(job)
            continue
        if stored_settings(result.get("config")) != run_to_dict(job.run):
            log(f"rerunning {job.id}: its settings changed since it ran")
            pending.append(job)
        elif not _same_commit((result.get("env") or {}).get("commit"), commit):
            log(f"rerunning {job.id}: made by the code at {result['env']['commit']}, this checkout is {commit}")
            pending.append(job)
    return pending


class ResumeMismatch(RuntimeError):
    """--resume on a folder whose finished jobs were made by other framework versions."""


def _check_same_versions(result: dict, job: Job, here: dict) -> None:
    """The report shows one environment, and a comparison pairs like with like: never mix versions."""
    env = result.get("env") or {}
    for key, have in here.items():
        was = env.get(key)
        if was and have and str(was).split("+")[0] != str(have).split("+")[0]:
            raise ResumeMismatch(f"--resume: {job.path.parent.parent} holds jobs made with {key} {was} "
                                 f"({job.path.name}), this environment has {have}: run without --resume "
                                 "(the old results are set aside) or give another --out")


def _same_commit(was: str | None, now: str | None) -> bool:
    """Short hashes of different lengths name one commit when one is a prefix of the other; unknown = same."""
    if not was or not now:
        return True
    return was.startswith(now) or now.startswith(was)
