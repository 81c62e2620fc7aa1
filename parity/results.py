"""Result files: the schema, atomic writes, validated reads, the environment fingerprint.

A job file is written once, atomically (temporary file + rename), so a crash or
Ctrl-C never leaves half a result; a file that does not parse or has another
schema is reported as such and never silently used.
"""
from __future__ import annotations

import functools
import json
import math
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import TypedDict

import jsonschema   # at the top: an environment without it fails upgrade-check's import probe, not after its jobs

from parity.paths import CODE_ROOT

SCHEMA = 1
JOB_KEYS = ("schema", "id", "scenario", "variant", "dataset", "framework", "seed", "status")
FINAL_METRICS = ("train_loss", "train_acc", "eval_loss", "eval_acc")
_NUM, _NUM_OR_NULL, _STR = {"type": "number"}, {"type": ["number", "null"]}, {"type": "string"}
_STR_OR_NULL = {"type": ["string", "null"]}
# What a job file holds, as far as any reader (report, compare, run --resume) takes it: anything else is a
# named problem, never a traceback or a silent "not run". Metrics may be NaN (the tables name those).
_EPOCH = {"type": "object", "required": ["epoch", *FINAL_METRICS],
          "properties": {"epoch": {"type": "integer"}, "phase": _STR, "lr": _NUM, "elapsed_s": _NUM,
                         "bn_updated": {"type": "boolean"}, "recalibrated": {"type": "boolean"},
                         **{m: _NUM for m in FINAL_METRICS},
                         "bn_mean_dist": _NUM_OR_NULL, "bn_var_dist": _NUM_OR_NULL,
                         "bn_layers": {"type": "object", "additionalProperties": {
                             "type": "array", "items": _NUM, "minItems": 2, "maxItems": 2}}}}
_FINAL = {"type": "object", "properties": {**{m: _NUM for m in FINAL_METRICS},
                                           "bn_mean_dist": _NUM_OR_NULL, "bn_var_dist": _NUM_OR_NULL}}
JOB_SCHEMA = {
    "type": "object",
    "required": list(JOB_KEYS),
    "properties": {
        "schema": {"const": SCHEMA}, "id": _STR, "suite": _STR_OR_NULL, "scenario": _STR, "variant": _STR,
        "dataset": _STR, "framework": _STR, "seed": {"type": "integer", "minimum": 0}, "status": _STR,
        "error": _STR_OR_NULL, "computed_by": _STR_OR_NULL, "worker": _STR_OR_NULL,
        "config": {"type": "object"}, "plan": {"type": "object"},
        "env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
        "native_defaults": {"type": "object", "additionalProperties": _NUM_OR_NULL},
        "history": {"type": "array", "items": _EPOCH},
        "final": {"anyOf": [_FINAL, {"type": "null"}]},
        "unmatched": {"type": "array", "items": _STR},
        "wall_s": _NUM, "steps_per_epoch": {"type": ["integer", "null"]},
        "renorm_trace": {"type": ["array", "null"]}, "zoo_bn": {"type": ["object", "null"]},
    },
    # a finished job carries its metrics
    "if": {"properties": {"status": {"const": "ok"}}},
    "then": {"required": ["final", "plan", "history"],
             "properties": {"final": {"type": "object", "required": list(FINAL_METRICS)},
                            "plan": {"type": "object", "required": ["bn_momentum"],
                                     "properties": {"bn_momentum": _NUM, "precision": _STR}}}},
}


class JobResult(TypedDict, total=False):
    """A job file: written by ``parity.run.job`` (base_result, execute, failed_result), read by ``read_job`` for
    the report, the gate and a resume. JOB_KEYS are in every file, and base_result's suite, config and error;
    the rest in a finished job's (a failed one may carry wall_s; older files may lack later keys).
    ``tests/run/test_runner.py`` holds a real run's files to these keys."""
    schema: int
    id: str
    suite: str | None
    scenario: str
    variant: str
    dataset: str
    framework: str
    seed: int
    status: str                     # "ok" or "failed"
    error: str | None               # why it failed
    config: dict                    # the run (spec.config.run_to_dict); stored_settings reads older ones
    plan: dict                      # the resolved plan (TrainPlan.to_dict: flat keys, bn_momentum, ...)
    env: dict                       # versions, threads, device, CPU (``environment``)
    native_defaults: dict           # the framework's own defaults, the config's conventions
    history: list[dict]             # one entry per epoch: metrics, lr, BN distances
    final: dict | None              # FINAL_METRICS and the BN distances after training
    unmatched: list[str]            # update rules the frameworks apply differently (spec.knobs)
    computed_by: str | None         # None: trained by this job; else the job whose training it shares
    worker: str | None              # the worker process that ran it
    wall_s: float
    steps_per_epoch: int | None
    renorm_trace: list | None
    zoo_bn: dict | None
    data_fingerprint: str           # of every batch the job saw, in order
    dataset_digest: str
    pretrained_checksum: str
    init_checksum: str              # of the starting weights
    final_weights_checksum: str     # of the trained weights: what "bit-identical" compares
    executor: dict                  # --executor ray: the task's name, node, attempt and seconds


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


def read_job(path: str | os.PathLike) -> JobResult:
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


def non_finite_metrics(job: dict, metrics) -> dict[str, object]:
    """metric -> value for each of ``metrics`` a job's final results hold as anything but a finite number
    (absent: None): such a job is no result, whatever its status says."""
    final = job.get("final") or {}
    return {m: final.get(m) for m in metrics
            if not (isinstance(final.get(m), (int, float)) and math.isfinite(final[m]))}


def provenance_difference(a: dict, b: dict, lenient: bool = False) -> tuple[str, object, object] | None:
    """(what, a's, b's) for the first of the data and the starting weights two jobs do not share, or None:
    the one check that two jobs are one experiment. ``lenient``: what ``a`` (an older file) does not
    record is not held against the pair."""
    for key, what in (("data_fingerprint", "data fingerprints"), ("init_checksum", "starting weights")):
        if a.get(key) != b.get(key) and not (lenient and a.get(key) is None):
            return what, a.get(key), b.get(key)
    return None


def _job_problem(data: dict) -> str | None:
    """What makes a parsed job file unusable (a field of another type, an unknown column, an ok job without
    its metrics, settings this code cannot read), or None."""
    from parity import frameworks
    from parity.spec.config import run_from_dict

    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(JOB_SCHEMA).iter_errors(data))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "the file"
        text = " ".join(f"{where}: {error.message}".split())   # one line, whatever the file's keys hold
        return text if len(text) <= 200 else text[:197] + "..."
    if data["framework"] not in frameworks.NAMES:
        return f"framework {data['framework']!r} is none of this suite's columns ({', '.join(frameworks.NAMES)})"
    if "config" in data:
        try:
            run_from_dict(data["config"])
        except (TypeError, ValueError) as e:
            return f"config: settings this code cannot read ({' '.join(str(e).split())[:160]})"
    return None


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
    """The CPU's name, with its family/model/stepping and widest vector unit where /proc/cpuinfo gives them:
    a virtual machine may give several CPU models one name ("AMD EPYC"), and floats differ in the last
    bits between models, so the name alone cannot say why a rerun is not bit-identical."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().split("\n\n")[0].splitlines()
                    if ":" in line)
    except OSError:
        info = {}
    info = {k.strip(): v.strip() for k, v in info.items()}
    name = info.get("model name") or platform.processor() or platform.machine()
    flags = set(info.get("flags", "").split())
    simd = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), None)
    ident = [f"{k.split()[-1]} {info[k]}" for k in ("cpu family", "model", "stepping") if info.get(k)]
    detail = ", ".join(filter(None, [" ".join(ident), simd]))
    return f"{name} ({detail})" if detail else name


def environment() -> dict:
    """Framework-neutral facts about the machine; workers add framework versions."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "commit": git_commit(),
    }


class OutputUnwritable(RuntimeError):
    """A result could not be written into the output folder (a full disk, a folder made read-only or removed):
    every later job would be lost the same way, so the run stops; the finished jobs stay for --resume."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"cannot write {path}: {reason}")


def write_result(path: Path, result: dict) -> None:
    """A job's result file; OutputUnwritable (which stops the run) if the folder cannot take it."""
    try:
        write_json_atomic(path, result)
    except OSError as e:
        raise OutputUnwritable(path, e.strerror or str(e)) from e
