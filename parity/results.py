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
# The type of every field a reader (report, compare, run --resume) takes from a job file: anything else is a
# named problem, never a traceback or a silent "not run". Metrics may be NaN (the tables name those).
_NUMBER = (int, float)
_FIELD_TYPES = {"schema": int, "id": str, "scenario": str, "variant": str, "dataset": str, "framework": str,
                "seed": int, "status": str}
_OPTIONAL_TYPES = {"config": dict, "env": dict, "plan": dict, "native_defaults": dict, "history": list,
                   "final": (dict, type(None)), "error": (str, type(None)), "wall_s": _NUMBER,
                   "computed_by": (str, type(None)), "unmatched": list}
FINAL_METRICS = ("train_loss", "train_acc", "eval_loss", "eval_acc")
MAX_FILE_BYTES = 64 * 2**20   # a job file is ~10-100 KB; anything near this is not one


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
        if path.stat().st_size > MAX_FILE_BYTES:
            raise error(f"{path}: {path.stat().st_size:,} bytes, more than a {what} holds ({MAX_FILE_BYTES:,})")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: not a complete JSON {what} ({e.__class__.__name__}: {e})") from None
    except RecursionError:
        raise error(f"{path}: nested too deep to be a {what}") from None
    except OSError as e:   # a folder, a symlink loop, no permission
        raise error(f"{path}: unreadable {what} ({e.strerror or type(e).__name__})") from None
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
    problem = _job_problem(data)
    if problem:
        raise ResultError(f"{path}: {problem}")
    return data


def _job_problem(data: dict) -> str | None:
    """What makes a parsed job file unusable (a field of the wrong type, an unknown column, an ok job without
    its metrics), or None."""
    from parity import frameworks

    for key, kind in {**_FIELD_TYPES, **{k: t for k, t in _OPTIONAL_TYPES.items() if k in data}}.items():
        value = data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            return f"{key} is {_short(value)}, not {_kind_name(kind)}"
    if data["framework"] not in frameworks.NAMES:
        return f"framework {data['framework']!r} is none of this suite's columns ({', '.join(frameworks.NAMES)})"
    if any(not isinstance(h, dict) for h in data.get("history", [])):
        return "history holds something other than epoch records"
    if data["status"] == "ok":
        final = data.get("final")
        if not isinstance(final, dict):
            return "status ok but no final metrics"
        for name in FINAL_METRICS:
            value = final.get(name)
            if not isinstance(value, _NUMBER) or isinstance(value, bool):
                return f"status ok but final.{name} is {_short(value)}, not a number"
    return None


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _kind_name(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "a string", dict: "an object", list: "a list",
             type(None): "null"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


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
