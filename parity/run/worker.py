"""A worker process: one framework, many jobs, results written by the worker itself.

Started by ``parity.run.supervise.FrameworkWorker`` as ``python -m parity.run.worker FRAMEWORK THREADS``.
Reads one job (JSON) per line on stdin, writes each result file atomically and
answers on the protocol channel (the original stdout) with JSON lines:
``{"event": "progress"|"done", ...}``. Everything the frameworks print goes to
stderr, which the runner sends to a log file.
"""
from __future__ import annotations

import errno
import os
import sys
import traceback

from parity.process import Channel, DriverGone, one_line


def _inject_fault(job: dict) -> None:
    """Fault injection for the reliability tests: PARITY_INJECT_FAULT=KIND:TEXT hits jobs whose id holds TEXT;
    several faults are separated by ";" (``raise:__s1;abort:__s3``).

    KIND is abort (SIGABRT, as a segfault would end the process), oom (a MemoryError
    under a lowered address-space limit), hang (sleeps past any timeout) or raise.
    """
    for spec in filter(None, os.environ.get("PARITY_INJECT_FAULT", "").split(";")):
        kind, _, text = spec.partition(":")
        if text in job["id"]:
            _FAULTS[kind]()


def _abort() -> None:
    os.abort()


def _out_of_memory() -> None:
    import resource

    import numpy as np

    limit = 2 * 1024 ** 3
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    np.ones(limit, np.uint8)   # cannot fit: MemoryError


def _hang() -> None:
    import time

    time.sleep(3600)


def _raise() -> None:
    raise RuntimeError("injected fault")


_FAULTS = {"abort": _abort, "oom": _out_of_memory, "hang": _hang, "raise": _raise}


def main(argv: list[str]) -> int:
    framework, threads = argv[0], int(argv[1])
    channel = Channel()   # before any framework import: their prints go to stderr
    try:
        return _serve(channel, framework, threads)
    except DriverGone:   # nobody reads a result any more: write none (a resumed run reruns the job)
        return 0


def _serve(channel: Channel, framework: str, threads: int) -> int:
    from parity.frameworks import FrameworkUnavailable, load
    from parity.run.job import execute, failed_result
    from parity.train.plan import Diverged

    try:
        backend = load(framework)
    except FrameworkUnavailable as e:
        channel.send(event="unavailable", reason=str(e))
        return 3
    channel.send(event="ready", framework=framework)
    computed: dict = {}   # the computations this process ran, for jobs that repeat one (job.computation_key)
    for job in channel.requests():
        threads_job = dict(job, threads=threads)
        try:
            _inject_fault(job)
            result = execute(threads_job, backend,
                             progress=lambda f, jid=job["id"]: channel.send(event="progress", job=jid, fraction=f),
                             computed=computed)
        except Diverged as e:
            result = failed_result(job, f"diverged: {e}")
        except MemoryError as e:  # the process's memory may be in a bad state: ask for a fresh one
            result = failed_result(job, f"out of memory: MemoryError: {e}"[:500])
            if _written(channel, job, result):
                channel.send(event="done", job=job["id"], status="failed", error=result["error"], restart=True)
            return 4
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):   # the disk, not the job: the driver stops the run
                channel.send(event="done", job=job["id"], status="unwritten", error=one_line(e))
                return 5
            traceback.print_exc()
            result = failed_result(job, one_line(e))
        except Exception as e:  # one job's error must not end the worker
            traceback.print_exc()
            result = failed_result(job, one_line(e))
        if not _written(channel, job, result):
            return 5
        channel.send(event="done", job=job["id"], status=result["status"], error=result.get("error"),
                     computed_by=result.get("computed_by"))
    return 0


def _written(channel: Channel, job: dict, result: dict) -> bool:
    """Write the result file; if the folder cannot take it (a full disk), say so and let the driver stop."""
    from parity.results import write_json_atomic

    try:
        write_json_atomic(job["path"], result)
        return True
    except OSError as e:
        channel.send(event="done", job=job["id"], status="unwritten", error=one_line(e))
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
