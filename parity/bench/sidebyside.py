"""Two environments' throughput measured side by side: the only timings the gate judges.

Timings made minutes apart on a shared machine drift by more than any upgrade
worth catching (measured here: 5% between back-to-back runs of the same code,
+150% and more while another process was busy). So the two environments are
measured interleaved in one session -- pair after pair, the order alternating
(A B, B A, ...) so a steady drift hits both -- each sample a fresh worker
process started with that environment's own interpreter, on the same model,
batches and thread count, running this checkout's code. Per row the verdict is
the ratio B/A over the pairs (``stats.paired_ratio``): faster, slower, same or
unknown against a practical threshold; while a row is unknown, more pairs, up
to a cap.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from parity import frameworks
from parity.bench.driver import DEFAULT_MODE, BenchWorker
from parity.report.stats import paired_ratio
from parity import process

SCHEMA = 1
THRESHOLD = 0.05
MIN_PAIRS, MAX_PAIRS = 8, 12   # the signed-rank test needs 8 pairs to call anything at p < 0.01


class EnvError(ValueError):
    """An environment that cannot be used: one line, exit 2, before anything runs."""


@dataclass(frozen=True)
class PythonEnv:
    """A Python environment with its own framework versions: a label and its interpreter."""
    label: str
    python: str
    extra_env: dict = field(default_factory=dict)   # test-only switches (PARITY_BENCH_SLOWDOWN)


def resolve(spec: str) -> PythonEnv:
    """``[LABEL=]PATH`` where PATH is a virtual environment folder or its python; the label defaults
    to the folder's name without ``.venv-`` (``.venv`` itself is ``venv``)."""
    label, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
    p = Path(path).expanduser()
    python = p / "bin" / "python" if p.is_dir() else p
    if not p.exists():
        raise EnvError(f"environment {spec!r}: {p} does not exist (make env NAME=... builds one)")
    if not python.exists() or not os.access(python, os.X_OK):
        raise EnvError(f"environment {spec!r}: no Python interpreter at {python}")
    if not label:
        folder = p if p.is_dir() else p.parent.parent
        label = folder.name.removeprefix(".venv-").removeprefix(".") or "env"
    if not label.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise EnvError(f"environment {spec!r}: the label {label!r} must be letters, digits, '-', '_' or '.'")
    return PythonEnv(label, str(python.absolute()))


_VERSIONS = """
import importlib.metadata as md, json, sys
out = {"python": sys.version.split()[0]}
for dist in DISTS + ["numpy", "scipy"]:
    try:
        out[dist] = md.version(dist)
    except md.PackageNotFoundError:
        pass
import parity.results, parity.report.html  # this checkout's code must import there (job files, report)
print(json.dumps(out))
""".replace("DISTS", repr(sorted({d for dists in frameworks.version_keys().values() for d in dists})))
# a framework imports when its implementation does (through the registry, as a worker would)
_IMPORT = "from parity import frameworks; frameworks.load({name!r})"


def check(env: PythonEnv, frameworks, timeout: float = 300) -> dict:
    """The environment's package versions, after importing each framework in a process of its own.

    EnvError (one line) when the interpreter does not run, this checkout's code
    does not import there, or a framework asked for is missing or broken.
    """
    return dict(_check(env.label, env.python, tuple(sorted(env.extra_env.items())), tuple(frameworks), timeout))


@functools.lru_cache(maxsize=None)   # one process checks an interpreter once
def _check(label: str, python: str, extra: tuple, frameworks: tuple, timeout: float) -> dict:
    env = PythonEnv(label, python, dict(extra))
    def run(code: str, framework: str | None = None) -> subprocess.CompletedProcess:
        try:
            return process.run_code(code, python=env.python, timeout=timeout, extra_env=env.extra_env,
                                    framework=framework)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise EnvError(f"environment {env.label} ({env.python}): {type(e).__name__}: {e}") from None

    def last_line(proc) -> str:
        lines = [ln for ln in (proc.stderr or "").splitlines() if ln.strip()]
        return lines[-1].strip()[:300] if lines else f"exit code {proc.returncode}"

    proc = run(_VERSIONS)
    if proc.returncode != 0:
        raise EnvError(f"environment {env.label} ({env.python}) cannot run bn-parity: {last_line(proc)}")
    try:
        versions = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise EnvError(f"environment {env.label} ({env.python}) answered no version list: is it a Python "
                       "interpreter?") from None
    for fw in frameworks:
        proc = run(_IMPORT.format(name=fw), framework=fw)
        if proc.returncode != 0:
            raise EnvError(f"environment {env.label}: {fw} is missing or broken there: {last_line(proc)}")
    return versions


def _sample(env: PythonEnv, framework: str, cases: list[dict], threads: int, settings: dict) -> dict:
    """One fresh worker in ``env``: every case once; case key -> images/s of its best round.

    The best round, not the median: on a shared machine noise only ever adds
    time, and the best of 8 rounds varied 2-7% between fresh workers here where
    their median varied 15-30%.
    """
    out = {}
    with BenchWorker(framework, threads, python=env.python, extra_env=env.extra_env) as w:
        for case in cases:
            row = w.call(cmd="measure", **case, **settings)
            out[_case_key(framework, case)] = row["images_per_s"]["max"]
    return out


def _case_key(framework: str, case: dict) -> str:
    return f"{framework}/{case['mode']}/{case['kind']}" + ("/loader" if case.get("loader") else "")


def compare_environments(a: PythonEnv, b: PythonEnv, frameworks, *, modes: dict | None = None,
                         kinds=("train", "inference"), threads: int | None = None, threshold: float = THRESHOLD,
                         min_pairs: int = MIN_PAIRS, max_pairs: int = MAX_PAIRS, rounds: int = 6, warmup: int = 1,
                         steps: int = 8, arch: str = "resnet-tiny", image_size: int = 32, batch_size: int = 32,
                         log=print) -> dict:
    """B against A, per framework x mode x kind: images/s per sample, the paired ratio, a verdict."""
    threads = threads or os.cpu_count() or 1
    settings = {"rounds": rounds, "warmup": warmup, "steps": steps, "arch": arch, "image_size": image_size,
                "batch_size": batch_size}
    t_start = time.time()
    rows = []
    for fw in frameworks:
        fw_modes = (modes or {}).get(fw) or [DEFAULT_MODE[fw]]
        cases = [{"mode": m, "kind": k} for m in fw_modes for k in kinds]
        samples: dict[str, list[dict]] = {a.label: [], b.label: []}
        verdicts: dict = {}
        pair = 0
        while True:
            order = (a, b) if pair % 2 == 0 else (b, a)
            for env in order:
                samples[env.label].append(_sample(env, fw, cases, threads, settings))
            pair += 1
            if pair >= min_pairs and ((pair - min_pairs) % 2 == 0 or pair >= max_pairs):   # fewer looks, fewer false alarms
                verdicts = {}
                for case in cases:
                    key = _case_key(fw, case)
                    r = paired_ratio([s[key] for s in samples[a.label]], [s[key] for s in samples[b.label]])
                    verdicts[key] = (r, r.verdict(threshold))
                unknown = [k for k, (_, v) in verdicts.items() if v == "unknown"]
                log(f"side-by-side {fw}: {pair} pairs; " + "; ".join(f"{k} {r.text()} {v}"
                                                                       for k, (r, v) in verdicts.items()))
                if not unknown or pair >= max_pairs:
                    break
            else:
                log(f"side-by-side {fw}: pair {pair} measured")
        for case in cases:
            key = _case_key(fw, case)
            r, v = verdicts[key]
            rows.append({"key": key, "framework": fw, **case, "verdict": v, **r.to_dict(),
                         "a": [s[key] for s in samples[a.label]], "b": [s[key] for s in samples[b.label]]})
    return {"schema": SCHEMA, "kind": "side-by-side", "a": a.label, "b": b.label,
            "pythons": {a.label: a.python, b.label: b.python}, "threshold": threshold,
            "settings": {**settings, "threads": threads, "min_pairs": min_pairs, "max_pairs": max_pairs,
                         "order": "alternating A B / B A, a fresh worker per sample"},
            "seconds": round(time.time() - t_start, 1), "rows": rows}


def findings(data: dict) -> dict:
    """slower rows are regressions, faster ones improvements, unknown ones said as such."""
    out = {"regressions": [], "improvements": [], "unknown": []}
    for r in data["rows"]:
        text = (f"throughput {r['key']}: {data['b']} / {data['a']} = {100 * (r['ratio'] - 1):+.1f}% "
                f"[{100 * (r['ci_low'] - 1):+.1f}, {100 * (r['ci_high'] - 1):+.1f}] over {r['n']} interleaved pairs "
                f"(threshold {100 * data['threshold']:g}%): {r['verdict']}")
        if r["verdict"] == "slower":
            out["regressions"].append(text)
        elif r["verdict"] == "faster":
            out["improvements"].append(text)
        elif r["verdict"] == "unknown":
            out["unknown"].append(text + f" (still unknown after {r['n']} pairs)")
    return out


def markdown(data: dict) -> str:
    st = data["settings"]
    out = [f"## Throughput side by side: {data['b']} vs {data['a']}", "",
           f"{st['arch']}, {st['image_size']} px, batch {st['batch_size']}, {st['threads']} threads; each sample "
           f"a fresh worker, its best of {st['rounds']} timed rounds of {st['steps']} steps after {st['warmup']} warm-up; "
           f"samples interleaved ({st['order']}), {st['min_pairs']} to {st['max_pairs']} pairs; "
           f"{data['seconds']:.0f} s in all. Ratio = {data['b']} / {data['a']} images/s: 20% trimmed mean of the pairs' log ratios, "
           f"99% bootstrap CI, Wilcoxon signed-rank p (< 0.01 to call a change); verdict against +-{100 * data['threshold']:g}%.", "",
           f"| row | {data['a']} images/s | {data['b']} images/s | ratio [99% CI] | p | pairs | verdict |",
           "|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        verdict = f"**{r['verdict']}**" if r["verdict"] in ("slower", "faster") else r["verdict"]
        out.append(f"| {r['key']} | {med(r['a']):.0f} | {med(r['b']):.0f} | {r['ratio']:.3f} "
                   f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {r['p_value']:.3f} | {r['n']} | {verdict} |")
    return "\n".join(out) + "\n"
