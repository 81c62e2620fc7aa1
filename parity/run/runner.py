"""Job matrix -> worker processes, one framework each -> one result file per job.

TF and torch never share a process: a worker (``parity.run.worker``) runs one
framework's jobs. Every framework starts with a worker of its own, side by side
with the same thread count (``_WorkerPool``); one that runs out of jobs hands its
cores to the framework with the most jobs left on the board (``JobBoard``), as
another worker of that framework, so the run ends when the work does, not when
the slower framework does. A worker that crashes, hangs past the job timeout or is killed costs one
job -- recorded as failed with its reason -- and is replaced for the rest. Result
files are written atomically, so ``--resume`` can trust every file that parses
and reruns the rest.
"""
from __future__ import annotations

import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from parity import frameworks, process
from parity.assets import starting
from parity.results import OutputUnwritable, ResultError, git_commit, read_job, write_result
from parity.run.job import failed_result, unresolved_settings
from parity.spec.config import RunConfig, SuiteConfig, run_to_dict, stored_settings

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


@dataclass
class Job:
    id: str
    framework: str
    seed: int
    run: RunConfig
    path: Path

    def spec(self, suite: str) -> dict:
        return {"id": self.id, "framework": self.framework, "seed": self.seed, "suite": suite,
                "run": run_to_dict(self.run), "path": str(self.path)}

    def label(self) -> str:
        return f"{self.framework:<5} {self.run.scenario}/{self.run.dataset}/{self.run.variant} seed {self.seed}"


def expand(suite: SuiteConfig, out_dir: Path) -> list[Job]:
    """scenario x dataset x variant (the suite's runs) x seed x framework, in a stable order."""
    jobs = []
    for run in suite.runs:
        for seed in suite.seeds:
            for fw in suite.frameworks_of(run):
                jid = f"{run.key()}__{fw}__s{seed}"
                if Path(jid).name != jid or jid.startswith("."):   # validation's SAFE_NAME rule keeps this out
                    raise ValueError(f"the job id {jid!r} is not a file name inside {out_dir / 'jobs'}")
                jobs.append(Job(jid, fw, seed, run, out_dir / "jobs" / f"{jid}.json"))
    ids = [j.id for j in jobs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"two runs share the id {dupes[0]!r}: give them different scenario/variant names")
    return jobs


def jobs_left_out(suite: SuiteConfig, out_dir: Path) -> list[Job]:
    """The suite's jobs not run this time: its other scenarios (--scenarios) in every column, and its other
    columns (--frameworks) for the runs chosen; with --resume their files stay."""
    columns = [*suite.frameworks, *suite.other_frameworks]
    out = []
    if suite.other_runs:
        out += expand(dataclasses.replace(suite, runs=suite.other_runs, frameworks=columns), out_dir)
    if suite.other_frameworks:
        out += expand(dataclasses.replace(suite, frameworks=suite.other_frameworks), out_dir)
    return out


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


class Progress:
    """One line per finished job (count, outcome, ETA from the jobs so far): the run's record in any log.

    On a terminal (or a given rich ``console``) rich's live bar stays below those lines and moves
    while a job trains, with the elapsed time and an estimate of what is left.
    """

    def __init__(self, total: int, log, console=None):
        self.total, self.done, self.log = total, 0, log
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()
        self.console = console
        self.bar = self.task = None

    def __enter__(self) -> Progress:
        """The live bar runs inside ``with`` only, so it always stops (cursor and stderr given back)."""
        if self.total and (self.console is not None or sys.stderr.isatty()):
            self.bar, self.task = _live_bar(self.total, self.console)
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            try:   # a closed terminal (SIGHUP) must not turn an interrupt into an internal error
                self.bar.stop()
            except (OSError, ValueError):
                pass
            self.bar = None

    def finished(self, job: Job, status: str, seconds: float, error: str | None, computed_by: str | None = None) -> None:
        with self.lock:
            self.done += 1
            elapsed = time.perf_counter() - self.t0
            eta = elapsed / self.done * (self.total - self.done)
            tail = "" if status == "ok" else f" -- {error}"
            same = f", the computation of {computed_by}" if computed_by else ""
            self.log(f"{self.done}/{self.total} {job.label()}: {status} ({seconds:.1f}s{same}), ETA {_fmt(eta)}{tail}")
            if self.bar is not None:
                self.bar.advance(self.task)


def _live_bar(total: int, console=None):
    """rich's progress bar on stderr; the log's lines (printed to stderr) go above it while it is live."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar = Bar(TextColumn("jobs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("left"),
              TimeRemainingColumn(), console=console or Console(stderr=True), transient=True, redirect_stdout=False)
    task = bar.add_task("jobs", total=total)
    bar.start()
    return bar, task


def _fmt(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


# A framework gets one more worker when it has at least this many jobs left: starting one costs
# about a job's time (TF's import and first trace), so fewer would not pay for it.
MIN_JOBS_FOR_NEW_WORKER = 4


class JobBoard:
    """The pending jobs of every framework, handed out in groups to whichever worker of it asks.

    A group holds the jobs that may be one computation: same framework, seed and settings
    except their labels and the knob values a worker resolves against its framework's
    defaults (``parity.run.job.computation_key``). One worker takes a whole group, so its
    record of what it computed answers the repeats instead of a second worker training again.
    """

    def __init__(self, jobs: list[Job]):
        self.lock = threading.Lock()
        self.groups: dict[str, list[list[Job]]] = {}
        by_key: dict[tuple, list[Job]] = {}
        for job in jobs:
            key = (job.framework, job.seed, json.dumps(unresolved_settings(run_to_dict(job.run)), sort_keys=True))
            if key not in by_key:
                by_key[key] = []
                self.groups.setdefault(job.framework, []).append(by_key[key])
            by_key[key].append(job)
        self.unavailable: set[str] = set()

    def mark_unavailable(self, framework: str) -> None:
        with self.lock:
            self.unavailable.add(framework)

    def take(self, framework: str) -> list[Job] | None:
        with self.lock:
            groups = self.groups.get(framework)
            return groups.pop(0) if groups else None

    def _left(self) -> dict[str, int]:
        """Jobs left per framework that can still run (not marked unavailable)."""
        with self.lock:
            return {fw: sum(len(g) for g in groups) for fw, groups in self.groups.items()
                    if fw not in self.unavailable}

    def left(self, framework: str) -> int:
        return self._left().get(framework, 0)

    def first_frameworks(self, frameworks: list[str], slots: int) -> list[str]:
        """The framework each of at most ``slots`` workers starts with: in turn, never more than one per group."""
        with self.lock:
            groups = {fw: len(self.groups.get(fw, [])) for fw in frameworks}
        firsts: list[str] = []
        while len(firsts) < slots and any(groups.values()):
            for fw in frameworks:
                if groups[fw] and len(firsts) < slots:
                    firsts.append(fw)
                    groups[fw] -= 1
        return firsts

    def needing_a_worker(self) -> str | None:
        """The framework with the most jobs left, if a new worker of it would pay for itself."""
        left = self._left()
        best = max(left, key=left.get, default=None)
        return best if best is not None and left[best] >= MIN_JOBS_FOR_NEW_WORKER else None


class FrameworkWorker:
    """Runs one framework's jobs from the board in a worker process, replacing the process when it dies."""

    def __init__(self, framework: str, board: JobBoard, suite: str, out_dir: Path, threads: int,
                 job_timeout: float, progress: Progress, stop: threading.Event, name: str | None = None):
        self.framework, self.board, self.suite = framework, board, suite
        self.name = name or f"{framework}-worker"   # its log and pid files in OUT/logs
        self.out_dir, self.threads, self.job_timeout = out_dir, threads, job_timeout
        self.progress, self.stop = progress, stop
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.unavailable: str | None = None
        self.computed_by: str | None = None   # the last job's, as the worker said

    # -- the worker process ------------------------------------------------------------------
    def _start(self) -> None:
        logs = self.out_dir / "logs"
        try:
            logs.mkdir(parents=True, exist_ok=True)
            stderr = open(logs / f"{self.name}.log", "a")
        except OSError as e:
            raise OutputUnwritable(logs / f"{self.name}.log", e.strerror or str(e)) from e
        self.proc = process.start("parity.run.worker", self.framework, self.threads, threads=self.threads,
                                  framework=self.framework, stderr=stderr, start_new_session=True)
        stderr.close()
        try:
            (logs / f"{self.name}.pid").write_text(str(self.proc.pid))
        except OSError as e:
            raise OutputUnwritable(logs / f"{self.name}.pid", e.strerror or str(e)) from e
        self.lines = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc, self.lines), daemon=True).start()

    @staticmethod
    def _read(proc, lines: queue.Queue) -> None:
        for line in proc.stdout:
            msg = process.decode(line)
            if msg is not None:
                lines.put(msg)
        lines.put(None)   # end of stream: the worker exited

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()

    def _exit_reason(self) -> str:
        self.proc.wait()
        return process.exit_reason(self.proc.returncode)

    # -- the job loop ------------------------------------------------------------------------
    def jobs(self):
        """The board's groups of this framework, one job at a time, until none is left."""
        while (group := self.board.take(self.framework)) is not None:
            yield from group

    def run(self) -> None:
        """Every job gets a result file, whatever happens to the worker or to this thread's own code."""
        for job in self.jobs():
            if self.stop.is_set():
                return
            t0 = time.time()
            try:
                self._run_one(job)
            except OutputUnwritable:
                self.kill()
                raise   # the pool stops the run
            except Exception as e:   # a bug here must cost this job, never the rest silently
                self.kill()
                if not _fresh_ok_result(job, t0):   # a result the worker already wrote stands
                    reason = f"runner error: {process.one_line(e)}"
                    self._record_failed(job, reason, 0.0)   # OutputUnwritable if it cannot: the run stops
                    self._report(job, "failed", 0.0, reason)
        self._close()

    def _report(self, job: Job, status: str, seconds: float, error: str | None, computed_by: str | None = None) -> None:
        """Progress is a courtesy: a closed terminal (a broken pipe) must not cost a result."""
        try:
            self.progress.finished(job, status, seconds, error, computed_by)
        except (OSError, ValueError):
            pass

    def _run_one(self, job: Job) -> None:
        if self.unavailable:
            self._record_failed(job, self.unavailable, 0.0)
            return
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        t0 = time.perf_counter()
        try:
            process.send(self.proc.stdin, **job.spec(self.suite), worker=self.name)
        except (BrokenPipeError, OSError):
            pass   # the worker already died; the read below sees the end of the stream
        self.computed_by = None
        status, error = self._wait_done(job, t0)
        if status is None:
            return  # stopped by the user: the job stays pending for --resume
        self._report(job, status, time.perf_counter() - t0, error, self.computed_by)

    def _close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def _wait_done(self, job: Job, t0: float) -> tuple[str | None, str | None]:
        while True:
            if self.stop.is_set():
                self.kill()
                return None, None
            remaining = self.job_timeout - (time.perf_counter() - t0)
            if remaining <= 0:
                done = self._finished_meanwhile(job, time.time() - (time.perf_counter() - t0))
                self.kill()   # late (or hung after writing): the next job gets a fresh worker
                if done:   # the result was written just before the deadline: it stands
                    return done
                reason = f"timed out after {self.job_timeout:.0f}s"
                self._record_failed(job, reason, time.perf_counter() - t0)
                return "failed", reason
            try:
                msg = self.lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if msg is None:
                if self.stop.is_set():   # killed because the user stopped the run: leave the job pending
                    return None, None
                reason = self._exit_reason()
                self._record_failed(job, reason, time.perf_counter() - t0)
                return "failed", reason
            event = msg.get("event")
            if event == "unavailable":
                self.unavailable = f"{self.framework} not installed: {msg.get('reason')}"
                self.board.mark_unavailable(self.framework)
                self._record_failed(job, self.unavailable, 0.0)
                return "failed", self.unavailable
            if event == "done" and msg.get("job") == job.id:
                if msg.get("status") == "unwritten":   # the worker could not write the result file
                    raise OutputUnwritable(job.path, msg.get("error") or "unknown error")
                if msg.get("restart"):   # the worker asked to be replaced (e.g. after running out of memory)
                    self._close()
                self.computed_by = msg.get("computed_by")   # answered from the worker's record of that job
                return msg.get("status", "failed"), msg.get("error")

    def _finished_meanwhile(self, job: Job, started: float) -> tuple[str, str | None] | None:
        """At the deadline: a `done` already queued, or a result file this attempt wrote (not an older
        run's, which --resume may have left there) before the worker could say so."""
        while True:
            try:
                msg = self.lines.get_nowait()
            except queue.Empty:
                break
            if msg and msg.get("event") == "done" and msg.get("job") == job.id:
                if msg.get("status") == "unwritten":
                    raise OutputUnwritable(job.path, msg.get("error") or "unknown error")
                self.computed_by = msg.get("computed_by")
                return msg.get("status", "failed"), msg.get("error")
        return ("ok", None) if _fresh_ok_result(job, started) else None

    def _record_failed(self, job: Job, reason: str, seconds: float) -> None:
        write_result(job.path, failed_result(job.spec(self.suite), reason, wall_s=round(seconds, 3)))


def _fresh_ok_result(job: Job, since: float) -> bool:
    """An ok result file for this job, written at or after ``since`` (wall-clock seconds)."""
    try:
        if job.path.stat().st_mtime < since - 1.0:   # 1 s of slack for the file system's clock
            return False
        result = read_job(job.path)
    except (ResultError, OSError):
        return False
    return result.get("id") == job.id and result.get("status") == "ok"


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
        pool = _WorkerPool(board, suite.name, out_dir, threads, job_timeout, progress, log)
        pool.run(firsts)
    _no_job_without_result(pending, suite.name)
    return {"jobs": len(jobs), "ran": len(pending), "seconds": time.perf_counter() - t0, "threads": threads,
            "workers": pool.started}


class _WorkerPool:
    """One thread per starting framework (``run(firsts)``); each runs that framework's worker, then
    starts another for the framework with most jobs left, until the board is empty."""

    def __init__(self, board: JobBoard, suite: str, out_dir: Path, threads: int, job_timeout: float,
                 progress: Progress, log):
        self.board, self.suite, self.out_dir, self.threads = board, suite, out_dir, threads
        self.job_timeout, self.progress, self.log = job_timeout, progress, log
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.workers: list[FrameworkWorker] = []
        self.started: dict[str, int] = {}   # framework -> worker processes started for it
        self.unwritable: OutputUnwritable | None = None   # the first result that could not be written

    def _new_worker(self, framework: str) -> FrameworkWorker | None:
        with self.lock:
            if self.stop.is_set():
                return None
            n = self.started[framework] = self.started.get(framework, 0) + 1
            worker = FrameworkWorker(framework, self.board, self.suite, self.out_dir, self.threads,
                                     self.job_timeout, self.progress, self.stop,
                                     name=f"{framework}-worker" + (f"-{n}" if n > 1 else ""))
            self.workers.append(worker)
            return worker

    def _slot(self, framework: str | None) -> None:
        first = True
        while framework is not None and (worker := self._new_worker(framework)) is not None:
            if not first:
                try:   # a courtesy, like the progress lines: a closed terminal must not end this slot
                    self.log(f"{framework}: another worker for its {self.board.left(framework)} jobs left")
                except (OSError, ValueError):
                    pass
            try:
                worker.run()
            except OutputUnwritable as e:   # no later result could be written either: stop every slot
                with self.lock:
                    self.unwritable = self.unwritable or e
                self._stop_all()
                return
            framework, first = self.board.needing_a_worker(), False

    def _stop_all(self) -> None:
        with self.lock:
            self.stop.set()
            workers = list(self.workers)
        for w in workers:
            w.kill()

    def run(self, firsts: list[str]) -> None:
        threads_ = [threading.Thread(target=self._slot, args=(fw,), name=f"slot-{i}", daemon=True)
                    for i, fw in enumerate(firsts)]
        for t in threads_:
            t.start()
        try:
            while any(t.is_alive() for t in threads_):
                for t in threads_:
                    t.join(timeout=0.2)
        except KeyboardInterrupt:
            self._stop_all()
            for t in threads_:
                t.join(timeout=10)
            raise
        if self.unwritable:
            raise self.unwritable


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
