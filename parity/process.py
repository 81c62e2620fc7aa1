"""Every child process the suite starts, and the line protocol its workers speak.

One place decides how a child is started (which interpreter, this checkout's code on
its path when the interpreter is another environment's, the frameworks' environment
variables, the thread count) and how a driver and a worker talk: one JSON object per
line, requests on the worker's stdin, replies on the worker's *original* stdout.
A worker calls ``Channel()`` first: from then on anything a framework prints goes to
stderr, so a stray print can never corrupt the protocol.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import IO, Iterator

from parity import frameworks
from parity.paths import CODE_ROOT


def code_pythonpath() -> str:
    """PYTHONPATH for a child in another environment: this checkout first, then what was there."""
    return os.pathsep.join(p for p in (str(CODE_ROOT), os.environ.get("PYTHONPATH")) if p)


def child_env(*, python: str | None = None, threads: int | None = None, extra: dict | None = None,
              drop: tuple[str, ...] = (), framework: str | None = None) -> dict[str, str]:
    """The environment of a child: ours, the frameworks' variables (``framework``'s, for its worker),
    pinned threads, this checkout's code."""
    env = dict(os.environ, **frameworks.process_env(framework), PYTHONUNBUFFERED="1")
    for name in drop:
        env.pop(name, None)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if python:   # another environment's interpreter (or ours, named): this checkout's code first
        env["PYTHONPATH"] = code_pythonpath()
    env.update(extra or {})
    return env


def command(module: str, *args, python: str | None = None) -> list[str]:
    """``python -m module args...`` with our interpreter unless another environment's is given."""
    return [python or sys.executable, "-m", module, *map(str, args)]


def start(module: str, *args, python: str | None = None, threads: int | None = None, extra_env: dict | None = None,
          drop_env: tuple[str, ...] = (), stderr: IO | int | None = None, framework: str | None = None,
          **popen) -> subprocess.Popen:
    """A long-lived child: by default a worker with pipes for the line protocol (``framework``'s worker gets
    that framework's variables); stderr where the caller says."""
    popen.setdefault("stdin", subprocess.PIPE)
    popen.setdefault("stdout", subprocess.PIPE)
    extra = {**(extra_env or {}), DRIVER_PID_VAR: str(os.getpid())}
    return subprocess.Popen(command(module, *args, python=python), stderr=stderr, text=True,
                            env=child_env(python=python, threads=threads, extra=extra, drop=drop_env,
                                          framework=framework), **popen)


def run(module: str, *args, python: str | None = None, capture: bool = True, timeout: float | None = None,
        framework: str | None = None, **kwargs) -> subprocess.CompletedProcess:
    """A child that runs to completion (a probe, a conversion, pretraining); ``framework``'s variables if given."""
    return subprocess.run(command(module, *args, python=python), capture_output=capture, text=True,
                          timeout=timeout, env=child_env(python=python, framework=framework), **kwargs)


def run_code(code: str, *, python: str | None = None, timeout: float | None = None,
             extra_env: dict | None = None, framework: str | None = None) -> subprocess.CompletedProcess:
    """``python -c code`` (a version query in another environment), output captured."""
    return subprocess.run([python or sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=child_env(python=python, extra=extra_env, framework=framework))


def exit_reason(code: int | None) -> str:
    """Why a child process ended, in words (a signal by name where it has one, e.g. not a realtime signal)."""
    if code is not None and code < 0:
        try:
            return f"worker killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"worker killed by signal {-code}"
    return f"worker exited with code {code}"


# ------------------------------------------------------------------------ the line protocol

def encode(**msg) -> str:
    """One protocol line."""
    return json.dumps(msg) + "\n"


def send(stream: IO, **msg) -> None:
    stream.write(encode(**msg))
    stream.flush()


def decode(line: str) -> dict | None:
    """One protocol line -> dict; None for a line that is not one (never an exception)."""
    try:
        msg = json.loads(line)
    except json.JSONDecodeError:
        return None
    return msg if isinstance(msg, dict) else None


DRIVER_PID_VAR = "PARITY_DRIVER_PID"   # set by ``start`` for its worker: the process it must not outlive


class DriverGone(BaseException):
    """The driver closed the channel (it exited or was killed). A BaseException: no job's ``except Exception``
    may turn it into a result file, since nobody is left to read one."""


def die_with_driver() -> None:
    """Linux: ask the kernel to kill this process when the one that started it dies (PR_SET_PDEATHSIG), so a
    SIGKILLed driver leaves no worker computing on; exit now if it is already gone."""
    driver = os.environ.get(DRIVER_PID_VAR)
    if sys.platform != "linux" or not driver:
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != driver:   # died before the request took effect
        os._exit(0)


class Channel:
    """The worker's end: replies on the original stdout, requests from stdin; stdout itself becomes stderr."""

    def __init__(self) -> None:
        die_with_driver()
        self._out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)

    def send(self, **msg) -> None:
        try:
            send(self._out, **msg)
        except BrokenPipeError:
            raise DriverGone from None
        except ValueError:   # a closed file; any other ValueError (e.g. a message JSON cannot hold) is a bug
            if self._out.closed:
                raise DriverGone from None
            raise

    def requests(self) -> Iterator[dict]:
        for line in sys.stdin:
            if line.strip():
                yield json.loads(line)


def one_line(e: BaseException, limit: int = 500) -> str:
    """An exception as the one line a protocol reply or a failed job carries."""
    return " ".join(f"{type(e).__name__}: {e}".split())[:limit]
