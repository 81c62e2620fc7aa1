"""Run the job matrix on a Ray cluster: one Ray task per job, one framework per process.

Each task asks for what its job needs (``num_cpus`` = the thread count, or one
GPU on a GPU suite) and, on whichever node Ray places it, starts the same
``parity.run.worker`` process the local executor uses, so TF and torch still never
share a process. The task returns the result; the driver writes it atomically
into its own output folder as each job finishes, so ``--resume`` works across
executors. A task whose worker or node dies is retried by Ray up to
``MAX_RETRIES`` times; after that the job is recorded as failed with Ray's reason.

Ray is optional (``pip install .[ray]``); nothing here imports it at module level.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from parity import process

MAX_RETRIES = 2
CONNECT_TIMEOUT_S = 10   # a cluster's head answers a TCP connection at once when it is up


class RayUnavailable(RuntimeError):
    """Ray is not installed or the cluster cannot be reached; one line for the user."""


def run_job(spec: dict, framework: str, threads: int, timeout: float, attempts_dir: str | None) -> dict:
    """Body of the Ray task: the job in a fresh worker process; returns the result dict."""
    from parity.run.job import failed_result

    attempt = 1
    if attempts_dir:
        marker = Path(attempts_dir) / spec["id"]
        marker.parent.mkdir(parents=True, exist_ok=True)
        attempt = len(marker.read_text().split()) + 1 if marker.exists() else 1
        with open(marker, "a") as f:
            f.write(f"{os.getpid()}\n")
    with tempfile.TemporaryDirectory(prefix="parity-ray-") as tmp:
        local = dict(spec, path=str(Path(tmp) / "result.json"))
        proc = process.start("parity.run.worker", framework, threads, threads=threads, framework=framework, stderr=subprocess.DEVNULL)   # it dies with this process: process.die_with_driver
        t0 = time.perf_counter()
        path = Path(local["path"])
        try:
            out, _ = proc.communicate(process.encode(**local), timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            out = None
        if path.exists():   # written before the deadline (or before the worker died): it stands
            result = json.loads(path.read_text())
        elif out is None:
            result = failed_result(spec, f"timed out after {timeout:.0f}s")
        else:
            unavailable = [m for m in map(process.decode, out.splitlines()) if m and m.get("event") == "unavailable"]
            if unavailable:   # the same reason the local runner records
                result = failed_result(spec, f"{framework} not installed: {unavailable[0].get('reason')}")
            else:
                result = failed_result(spec, process.exit_reason(proc.returncode))
        import socket

        result["executor"] = {"name": "ray", "node": socket.gethostname(), "attempt": attempt,
                              "seconds": round(time.perf_counter() - t0, 3)}
        return result


def connect(address: str | None) -> bool:
    """Join the cluster at ``address`` (or start a local Ray) before any result moves; True if this
    process started Ray (and so must shut it down: ``disconnect``). A caller that already joined one
    (``parity.run.runner.run_suite`` used as a library) keeps it: ``address`` is then not used."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable("--executor ray needs Ray: pip install '.[ray]' (or pip install ray)") from None
    if ray.is_initialized():
        return False
    check_address(address)
    try:
        if address:
            ray.init(address=address, log_to_driver=False, include_dashboard=False)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, log_to_driver=False, include_dashboard=False)
    except Exception as e:  # a cluster that cannot be reached: one line, no traceback
        raise RayUnavailable(f"cannot connect to Ray at {address or 'a new local instance'}: "
                             f"{' '.join(str(e).split())[:200]}") from None
    return True


def disconnect(started_here: bool) -> None:
    if started_here:
        import ray

        ray.shutdown()


def check_address(address: str | None) -> None:
    """A HOST:PORT where nothing answers is said at once (ray.init waits on it for many minutes)."""
    import socket

    if not address or address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RayUnavailable(f"--address: {address!r} is not allowed -- auto, local, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise RayUnavailable(f"cannot connect to Ray at {address}: nothing answers there "
                             f"({e.strerror or type(e).__name__})") from None


def run(jobs, suite_name: str, out_dir: Path, threads: int, job_timeout: float, progress, log,
        gpus_per_job: float | None = None) -> None:
    """Submit every job, write each result as it comes back, retry dead workers through Ray (``connect`` first)."""
    import ray

    from parity.run.job import failed_result
    from parity.results import OutputUnwritable, write_result

    resources = ray.cluster_resources()
    if gpus_per_job is None:   # a cluster with GPUs gives every job one of them
        gpus_per_job = 1 if resources.get("GPU", 0) >= 1 else 0
    log(f"ray: {resources.get('CPU', 0):.0f} CPUs, {resources.get('GPU', 0):.0f} GPUs; each job asks for "
        f"{threads} CPU(s)" + (f" and {gpus_per_job} GPU" if gpus_per_job else ""))
    task = ray.remote(num_cpus=threads, num_gpus=gpus_per_job, max_retries=MAX_RETRIES)(run_job)
    attempts = str(out_dir / "logs" / "ray-attempts")
    refs = {task.remote(job.spec(suite_name), job.framework, threads, job_timeout, attempts): job for job in jobs}
    waiting = list(refs)
    try:
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1, timeout=1.0)
            for ref in done:
                job = refs[ref]
                try:
                    result = ray.get(ref)
                except Exception as e:  # retries exhausted: Ray's reason, one line
                    reason = " ".join(str(e).split())[:300]
                    result = failed_result(job.spec(suite_name),
                                           f"ray: {type(e).__name__} after {MAX_RETRIES} retries: {reason}")
                write_result(job.path, result)
                progress.finished(job, result["status"], (result.get("executor") or {}).get("seconds", 0.0),
                                  result.get("error"))
    except (KeyboardInterrupt, OutputUnwritable):   # stopped, or no result can be written any more
        for ref in waiting:
            ray.cancel(ref, force=True)
        raise
