"""Result files: the schema, atomic writes, validated reads, the environment fingerprint.

A job file is written once, atomically (temporary file + rename), so a crash or
Ctrl-C never leaves half a result; a file that does not parse or has another
schema is reported as such and never silently used.
"""
from __future__ import annotations

import functools
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

from parity.paths import CODE_ROOT

SCHEMA = 1
JOB_KEYS = ("schema", "id", "scenario", "variant", "dataset", "framework", "seed", "status")


class ResultError(ValueError):
    """A result file that cannot be used; one line naming the file and the cause."""


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary name never ends in .json, so no reader mistakes it for a result.
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, sort_keys=False, default=_jsonable)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)   # mkstemp makes it private; results are for reading
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _jsonable(o):
    try:
        import numpy as np
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def read_json(path: str | os.PathLike, what: str, schema: int | None = None, error=None):
    """A JSON object from a file, or ``error`` (ResultError) with one line: missing, truncated, wrong schema."""
    error = error or ResultError
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not a complete JSON {what} ({e.__class__.__name__}: {e})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: not a {what} (expected a JSON object)")
    if schema is not None and data.get("schema") != schema:
        raise error(f"{path}: {what} schema {data.get('schema')!r}, this parity reads schema {schema}")
    return data


def read_job(path: str | os.PathLike) -> dict:
    """Load and validate one job file; ResultError if it is truncated, foreign or of another schema."""
    path = Path(path)
    data = read_json(path, "result file")
    if not isinstance(data, dict):
        raise ResultError(f"{path}: not a job result (expected a JSON object)")
    if data.get("schema") != SCHEMA:
        raise ResultError(f"{path}: result schema {data.get('schema')!r}, this parity reads schema {SCHEMA}")
    missing = [k for k in JOB_KEYS if k not in data]
    if missing:
        raise ResultError(f"{path}: not a job result (missing {', '.join(missing)})")
    if data["status"] == "ok" and "final" not in data:
        raise ResultError(f"{path}: status ok but no final metrics")
    return data


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The checkout's commit, read once per process: a worker's jobs name the code it loaded at its start,
    not a commit made while it ran."""
    try:
        here = CODE_ROOT
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment() -> dict:
    """Framework-neutral facts about the machine; workers add framework versions."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "commit": git_commit(),
    }
