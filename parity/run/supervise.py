"""Worker supervision: each framework's worker process fed from the board, replaced when it crashes, hangs
past the job timeout or is killed (that job recorded as failed with its reason), and the pool that hands a
finished framework's cores to the one with most jobs left."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

from parity import process
from parity.results import OutputUnwritable, ResultError, read_job, write_result
from parity.run.board import JobBoard
from parity.run.job import failed_result
from parity.run.matrix import Job
from parity.run.progress import Progress


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


class WorkerPool:
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
