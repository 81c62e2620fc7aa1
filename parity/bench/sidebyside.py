"""Two environments' throughput measured side by side: the only timings the gate judges.

Two methods. ``duet`` (Bulej et al., ICPE 2020): A's and B's workers run at the same time, each single-
threaded on a core of its own (the cores swapped from one start to the next, so a faster core favours
neither), both measuring every case at once: noise from the host hits both, and each pair's ratio is of two
simultaneous measurements; glibc's malloc fixed in both (``timing.STEADY_MALLOC``). ``sequential``, for one
core or multi-threaded rows, as described next.

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
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from parity import frameworks
from parity.bench.driver import DEFAULT_MODE, BenchError, BenchWorker
from parity.bench.timing import STEADY_MALLOC, summarize
from parity import process
from parity.report.stats import paired_ratio, steadier_measure

SCHEMA = 1
METHODS = ("duet", "sequential")
METHOD_TEXT = {"duet": "A and B at once, one core and one thread each, glibc's malloc thresholds fixed, a fresh pair "
                       "of workers per pair",
               "sequential": "A B / B A alternating, a fresh worker per sample, at every core's threads"}
# what a sample holds per case: images per wall-clock second, and per CPU second of the worker process
# (the time it computed, not the time it waited for the host), each of the worker's best round
MEASURES = ("wall", "cpu")
# each method's practical threshold, from its calibration on a 2-core machine (README, results/throughput-gate)
THRESHOLDS = {"duet": 0.03, "sequential": 0.05}
MIN_PAIRS, MAX_PAIRS = 8, 12   # the signed-rank test needs 8 pairs to call anything at p < 0.01
# The harness overhead's goal (+-2%) is narrower than the gate's threshold: up to twice the pairs.
OVERHEAD_MAX_PAIRS = 24


class DuetRefused(BenchError):
    """A duet asked of a framework that computes on a GPU: its two workers would share the device."""


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


def _rates(row: dict) -> dict:
    """A worker's measurement row -> each measure of its best round (cpu: None from a worker that lacks it)."""
    return {"wall": row["images_per_s"]["max"], "cpu": (row.get("cpu_images_per_s") or {}).get("max")}


def _sample(env: PythonEnv, framework: str, cases: list[dict], threads: int, settings: dict) -> dict:
    """One fresh worker in ``env``: every case once; case key -> its measures (``_rates``).

    The best round, not the median: on a shared machine noise only ever adds
    time, and the best of 8 rounds varied 2-7% between fresh workers here where
    their median varied 15-30%.
    """
    out = {}
    with BenchWorker(framework, threads, python=env.python, extra_env=env.extra_env) as w:
        for case in cases:
            out[_case_key(framework, case)] = _rates(w.call(cmd="measure", **case, **settings))
    return out


def default_method() -> str:
    """The side-by-side method to use here: a duet where two cores are free for it, else sequential."""
    return "duet" if duet_cores() else "sequential"


def duet_cores() -> tuple[int, int] | None:
    """The two cores a duet runs on (the first two this process may use), or None with fewer than two."""
    if not hasattr(os, "sched_getaffinity"):   # not Linux: no pinning, no duet
        return None
    cores = sorted(os.sched_getaffinity(0))
    return (cores[0], cores[1]) if len(cores) >= 2 else None


def _duet_samples(a: PythonEnv, b: PythonEnv, framework: str, cases: list[dict], settings: dict,
                  cores: tuple[int, int], per_start: int,
                  sides: tuple[dict, dict] = ({}, {})) -> list[tuple[dict, dict]]:
    """A and B at once: a fresh single-threaded worker each, A on ``cores[0]`` and B on ``cores[1]``, both
    started before either measures; each case's rounds timed in lockstep (one round of each at a time, so
    neither ever runs alone), ``per_start`` samples over: that many (A's sample, B's sample) pairs. ``sides``:
    what each worker's case adds (the harness overhead: the suite's loop in one, the minimal one in the other).
    Both run with ``STEADY_MALLOC``, each saying so through ``info``."""
    workers = [BenchWorker(framework, 1, python=env.python, extra_env={**env.extra_env, **STEADY_MALLOC}, cpu=core)
               for env, core in zip((a, b), cores)]
    try:
        for w in workers:
            w.ask(cmd="info")
        for w, core in zip(workers, cores):   # each on its own core, as asked, computing there
            info = w.answer()
            if info.get("device") != "cpu":
                raise DuetRefused(f"{framework} runs on {info.get('device')}: a duet times CPU workers "
                                  "(--method sequential)")
            if info.get("cpus") != [core]:
                raise BenchError(f"{framework}: a duet worker is not pinned to core {core}")
            _check_malloc(framework, info.get("malloc") or {})
        pairs = [({}, {}) for _ in range(per_start)]
        for case in cases:
            key = _case_key(framework, case)
            _both(workers, sides, cmd="setup", id=key, **case, **settings)
            images = settings["steps"] * settings["batch_size"]
            for pair in pairs:
                times = [_both(workers, cmd="round_times", id=key) for _ in range(settings["warmup"] + settings["rounds"])]
                for side, sample in enumerate(pair):
                    timed = [t[side] for t in times[settings["warmup"]:]]
                    sample[key] = _rates(summarize(framework, [wall for wall, _ in timed], images,
                                                   [cpu for _, cpu in timed]))
        return pairs
    finally:
        for w in workers:
            w.close()


def _check_malloc(framework: str, seen: dict) -> None:
    """A duet worker must run with ``STEADY_MALLOC``: glibc's tunables would take precedence over it, and a
    preloaded library (jemalloc, tcmalloc) may replace glibc's malloc altogether."""
    if (any(seen.get(k) != v for k, v in STEADY_MALLOC.items()) or "glibc.malloc." in seen.get("GLIBC_TUNABLES", "")
            or seen.get("LD_PRELOAD")):
        raise BenchError(f"{framework}: a duet worker runs with malloc settings {seen}, not {STEADY_MALLOC} (does "
                         "its interpreter reset the environment, or GLIBC_TUNABLES or LD_PRELOAD change malloc?)")


def _both(workers: list[BenchWorker], sides: tuple[dict, ...] | None = None, **msg) -> list:
    """The same request to every worker at once (each with its ``sides`` entry added); their answers."""
    for w, side in zip(workers, sides or [{}] * len(workers)):
        w.ask(**msg, **side)
    return [w.answer() for w in workers]


def _case_key(framework: str, case: dict) -> str:
    return f"{framework}/{case['mode']}/{case['kind']}" + ("/loader" if case.get("loader") else "")


def compare_environments(a: PythonEnv, b: PythonEnv, frameworks, *, modes: dict | None = None,
                         kinds=("train", "inference"), threads: int | None = None, threshold: float | None = None,
                         min_pairs: int = MIN_PAIRS, max_pairs: int = MAX_PAIRS, rounds: int = 6, warmup: int = 1,
                         steps: int = 8, arch: str = "resnet-tiny", image_size: int = 32, batch_size: int = 32,
                         method: str = "sequential", per_start: int = 1, log=print) -> dict:
    """B against A, per framework x mode x kind: each measure per sample, the paired ratio of the measure
    that scatters least (``stats.steadier_measure``), a verdict. ``method``: duet (single-threaded, two
    cores) or sequential; ``per_start``: pairs per worker start (duet)."""
    if method not in METHODS or per_start < 1:
        raise ValueError(f"method {method!r}, per_start {per_start}: one of {', '.join(METHODS)}, and >= 1")
    threshold = THRESHOLDS[method] if threshold is None else threshold
    cores = duet_cores() if method == "duet" else None
    if method == "duet" and (cores is None or threads not in (None, 1)):
        raise ValueError("duet needs two cores and one thread per worker")
    threads = 1 if method == "duet" else threads or os.cpu_count() or 1
    settings = {"rounds": rounds, "warmup": warmup, "steps": steps, "arch": arch, "image_size": image_size,
                "batch_size": batch_size}
    t_start = time.time()
    rows = []
    for fw in frameworks:
        cases = [{"mode": m, "kind": k} for m in (modes or {}).get(fw) or [DEFAULT_MODE[fw]] for k in kinds]

        def new_pairs(start: int, fw=fw, cases=cases) -> list[tuple[dict, dict]]:
            if method == "duet":   # the cores swapped from start to start
                return _duet_samples(a, b, fw, cases, settings, cores if start % 2 == 0 else cores[::-1], per_start)
            first, second = ((a, b) if start % 2 == 0 else (b, a))   # the order alternated from pair to pair
            done = {env.label: _sample(env, fw, cases, threads, settings) for env in (first, second)}
            return [(done[a.label], done[b.label])]

        verdicts = _gather(new_pairs, [_case_key(fw, c) for c in cases], threshold,
                           MEASURES if method == "duet" else ("wall",), min_pairs, max_pairs,
                           lambda m, fw=fw: log(f"side-by-side {fw}: {m}"))
        rows += [{"key": k, "framework": fw, **c, **verdicts[k]} for c in cases for k in [_case_key(fw, c)]]
    order = ("at once, one core each (swapped per start), one thread" if method == "duet"
             else "alternating A B / B A")
    return {"schema": SCHEMA, "kind": "side-by-side", "a": a.label, "b": b.label,
            "pythons": {a.label: a.python, b.label: b.python}, "threshold": threshold,
            "settings": {**settings, "threads": threads, "min_pairs": min_pairs, "max_pairs": max_pairs,
                         "method": method, "per_start": per_start if method == "duet" else 1,
                         "malloc": STEADY_MALLOC if method == "duet" else None,
                         "order": f"{order}, a fresh worker per {per_start if method == 'duet' else 1} sample(s)"},
            "seconds": round(time.time() - t_start, 1), "rows": rows}


def _gather(new_pairs, keys: list[str], threshold: float, judged: tuple, min_pairs: int, max_pairs: int,
            log) -> dict:
    """Pairs of samples from ``new_pairs(start)`` (start 0, 1, ...) until every row's verdict is decided or
    ``max_pairs`` are in, judged at ``min_pairs`` and every second pair after (fewer looks, fewer false
    alarms): each row's verdict (``judge``)."""
    a_samples, b_samples, start = [], [], 0
    while True:
        for sa, sb in new_pairs(start)[:max_pairs - len(a_samples)]:
            a_samples.append(sa)
            b_samples.append(sb)
        start += 1
        pair = len(a_samples)
        if pair < min_pairs or ((pair - min_pairs) % 2 and pair < max_pairs):
            log(f"pair {pair} measured")
            continue
        verdicts = {k: _judge(a_samples, b_samples, k, threshold, judged) for k in keys}
        log(f"{pair} pairs; " + "; ".join(f"{k} {v['ratio_text']} {v['verdict']} ({v['measure']})"
                                          for k, v in verdicts.items()))
        if pair >= max_pairs or all(v["verdict"] != "unknown" for v in verdicts.values()):
            return verdicts


def harness_overhead_duet(env: PythonEnv, framework: str, *, minimal_env: PythonEnv | None = None,
                          min_pairs: int = MIN_PAIRS, max_pairs: int = OVERHEAD_MAX_PAIRS,
                          per_start: int = 1, rounds: int = 6, warmup: int = 1, steps: int = 8,
                          arch: str = "resnet-tiny", image_size: int = 32, batch_size: int = 32, log=print) -> dict:
    """The harness overhead as a duet: the suite's train loop in one worker and the minimal hand-written loop
    in another, at once, a core each (swapped per start), one thread each; per pair minimal / suite images
    per second = suite / minimal time, over pairs gathered as two environments' are (at +-2%, until decided),
    and the goal's verdict from its CI as in-process (``timing.overhead_goal``). ``minimal_env``: the minimal loop's
    environment where it is not ``env`` (a test plants a slowdown in one side)."""
    from parity.bench.timing import OVERHEAD_GOAL_PCT, overhead_goal

    cores = duet_cores()
    if cores is None:
        raise ValueError("a duet needs two cores")
    settings = {"rounds": rounds, "warmup": warmup, "steps": steps, "arch": arch, "image_size": image_size,
                "batch_size": batch_size}
    case, key = {"mode": "loop", "kind": "train"}, f"{framework}/harness-overhead"
    t_start = time.time()

    def new_pairs(start: int) -> list[tuple[dict, dict]]:   # A: the suite's loop, B: the minimal loop
        samples = _duet_samples(env, minimal_env or env, framework, [case], settings,
                                cores if start % 2 == 0 else cores[::-1], per_start,
                                sides=({"loop": "suite"}, {"loop": "minimal"}))
        return [({key: sa[_case_key(framework, case)]}, {key: sb[_case_key(framework, case)]}) for sa, sb in samples]

    v = _gather(new_pairs, [key], OVERHEAD_GOAL_PCT / 100, MEASURES, min_pairs, max_pairs,
                lambda m: log(f"harness overhead {framework} (duet): {m}"))[key]
    low, high = 100 * (v["ci_low"] - 1), 100 * (v["ci_high"] - 1)
    images, walls = steps * batch_size, v["measures"]["wall"]
    return {"framework": framework, "method": "duet", "arch": arch, "image_size": image_size,
            "batch_size": batch_size, "steps": steps, "suite_s": images / statistics.median(walls["a"]),
            "minimal_s": images / statistics.median(walls["b"]), "ratio": v["ratio"],
            "overhead_pct": 100 * (v["ratio"] - 1),
            "ci_pct": [low, high], "pairs": v["n"], "measure": v["measure"],
            "goal_pct": OVERHEAD_GOAL_PCT, "goal": overhead_goal(low, high), "verdict": v["verdict"], "threads": 1,
            "settings": {**settings, "per_start": per_start, "malloc": STEADY_MALLOC},
            "seconds": round(time.time() - t_start, 1),
            "measures": v["measures"]}


def overhead_duet_here(framework: str, size: dict, log) -> dict:
    """``harness_overhead_duet`` in this Python, at ``size`` (arch, image size, batch size): what
    ``driver.run_throughput`` is handed for its overhead row."""
    log(f"harness overhead {framework}, duet (the suite's and the minimal loop at once, a core each) ...")
    return harness_overhead_duet(PythonEnv("this", sys.executable), framework, **size, log=log)


def _judge(a_samples: list[dict], b_samples: list[dict], key: str, threshold: float, judged: tuple) -> dict:
    """One row's figures from its samples (``judge``)."""
    values = {m: ([s[key][m] for s in a_samples], [s[key][m] for s in b_samples]) for m in MEASURES}
    return judge(values, threshold, judged)


def judge(values: dict[str, tuple[list, list]], threshold: float, judged: tuple) -> dict:
    """One row's figures: every measure's values (A's, B's), and of the ``judged`` ones every sample has the
    steadier one, its paired ratio and verdict. Only a duet (one thread, a core each) judges CPU time: with
    more threads, images per CPU second is how efficiently, not how fast, and the sequential gate's
    calibration is of wall time. (Also how a calibration's recorded pairs are judged at other thresholds.)"""
    values = {m: v for m, v in values.items() if all(x is not None and x > 0 for x in v[0] + v[1])}
    measure = steadier_measure({m: values[m] for m in judged if m in values} or {"wall": values["wall"]})
    ratios = {m: paired_ratio(*v) for m, v in values.items()}   # a bootstrap each: once per measure
    r = ratios[measure]
    return {"verdict": r.verdict(threshold), "measure": measure, **r.to_dict(), "ratio_text": r.text(),
            "a": values[measure][0], "b": values[measure][1],
            "measures": {m: {"a": va, "b": vb, **ratios[m].to_dict()} for m, (va, vb) in values.items()}}


def findings(data: dict) -> dict:
    """slower rows are regressions, faster ones improvements, unknown ones said as such."""
    out = {"regressions": [], "improvements": [], "unknown": []}
    for r in data["rows"]:
        text = (f"throughput {r['key']}: {data['b']} / {data['a']} = {100 * (r['ratio'] - 1):+.1f}% "
                f"[{100 * (r['ci_low'] - 1):+.1f}, {100 * (r['ci_high'] - 1):+.1f}] over {r['n']} "
                f"{data['settings'].get('method', 'sequential')} pairs, {r.get('measure', 'wall')} time "
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
           f"samples interleaved ({st['order']}{', glibc malloc thresholds fixed' if st.get('malloc') else ''}), "
           f"{st['min_pairs']} to {st['max_pairs']} pairs; "
           f"{data['seconds']:.0f} s in all. Ratio = {data['b']} / {data['a']} images/s: 20% trimmed mean of the pairs' log ratios, "
           f"99% bootstrap CI, Wilcoxon signed-rank p (< 0.01 to call a change); verdict against +-{100 * data['threshold']:g}%, "
           "judged on the measure whose log ratios scatter least (wall: images per second; cpu: per CPU second of "
           "the worker).", "",
           f"| row | measure | {data['a']} images/s | {data['b']} images/s | ratio [99% CI] | p | pairs | verdict |",
           "|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        verdict = f"**{r['verdict']}**" if r["verdict"] in ("slower", "faster") else r["verdict"]
        out.append(f"| {r['key']} | {r.get('measure', 'wall')} | {med(r['a']):.0f} | {med(r['b']):.0f} | {r['ratio']:.3f} "
                   f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}] | {r['p_value']:.3f} | {r['n']} | {verdict} |")
    return "\n".join(out) + "\n"
