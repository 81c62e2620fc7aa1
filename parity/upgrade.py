"""``parity upgrade-check BASE_ENV NEW_ENV``: a framework upgrade checked with one command, one gate.

BASE_ENV and NEW_ENV are Python environments with different framework versions
(``make env NAME=...`` builds one beside ``.venv``), given as ``[LABEL=]PATH``.
In each: the defaults audit and the ``upgrade`` suite (resumable: a rerun keeps
finished jobs), each run by that environment's own interpreter on this
checkout's code; then both environments' throughput side by side (interleaved
pairs, ``parity.bench.sidebyside``); then one report -- markdown, JSON, HTML -- whose
exit code is the gate: 0 clean, 1 a regression or a changed default, 2 bad
input (a missing or broken environment, found before anything runs).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from parity import frameworks
from parity.bench import sidebyside
from parity.bench.driver import BenchError
from parity.report import compare, gate_text
from parity.results import ResultError, environment, read_job, write_json_atomic, write_text_atomic
from parity import process

SUITE = "upgrade"


class UpgradeError(RuntimeError):
    """A step could not run; one line."""


class ChildCrashed(UpgradeError):
    """A step's parity process ended with an internal error (exit 70): a bug, reported as one."""


class ChildUnwritable(RuntimeError):
    """A child parity could not write its output (exit 74): a full disk, not bad input."""


def check_child_exit(code: int, step: str, env, log_file: Path) -> None:
    if code == 70:
        raise ChildCrashed(f"{step} in {env.label} ended with an internal error (exit 70); see {log_file}")
    if code == 74:
        raise ChildUnwritable(f"{step} in {env.label} could not write its output (exit 74, a full disk?); free "
                              f"space and run the same command again: finished jobs are kept (see {log_file})")


def check_folder(folder: Path, versions: dict) -> None:
    """A result folder reused with --resume must hold jobs of this environment's versions only."""
    jobs = folder / "jobs"
    for path in sorted(jobs.glob("*.json")) if jobs.is_dir() else []:
        try:
            env = read_job(path).get("env", {})
        except ResultError:
            continue   # the run reruns it
        for key, dists in frameworks.version_keys().items():
            have = next((versions[d] for d in dists if d in versions), None)
            if key in env and have is not None and str(env[key]).split("+")[0] != have.split("+")[0]:
                raise sidebyside.EnvError(
                    f"{folder} holds jobs made with {key} {env[key]} ({path.name}), this environment has {have}: "
                    "give another --out or label, or remove that folder")


def _child(env: sidebyside.PythonEnv, args: list[str], log_path: Path, log) -> int:
    """``python -m parity ARGS`` in the environment; stderr lines go to our log (progress), stdout to a file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as out:
        proc = process.start("parity", *args, python=env.python, extra_env=env.extra_env, stdin=None, stdout=out,
                             stderr=subprocess.PIPE)
        for line in proc.stderr:
            if line.strip():
                log(f"[{env.label}] {line.rstrip()}")
        return proc.wait()


def check_environments(base: str, new: str, out: Path, frameworks=frameworks.DEFAULT_NAMES):
    """(base env, new env, {label: versions}); EnvError for a missing or broken environment, two equal
    labels, or an --out folder holding jobs of other versions. Reads only."""
    a, b = sidebyside.resolve(base), sidebyside.resolve(new)
    if a.label == b.label:
        raise sidebyside.EnvError(f"both environments are labelled {a.label!r}: name them, e.g. old=PATH new=PATH")
    versions = {}
    for env in (a, b):   # silent: a problem is the one line the user sees
        versions[env.label] = sidebyside.check(env, frameworks)
        check_folder(out / env.label, versions[env.label])
    return a, b, versions


def _side_by_side(a, b, frameworks, method: str | None, log, **options) -> dict:
    """The throughput side by side by ``method`` (None: a duet where two cores are free). A duet refused
    because a framework computes on a GPU falls back to sequential unless it was asked for by name."""
    chosen = method or sidebyside.default_method()
    log(f"throughput side by side ({chosen}: {sidebyside.METHOD_TEXT[chosen]}) ...")
    try:
        return sidebyside.compare_environments(a, b, frameworks, method=chosen, log=log, **options)
    except sidebyside.DuetRefused as e:
        if method:
            raise UpgradeError(f"throughput side by side: {e}") from None
        log(f"throughput side by side: {e}; sequential instead")
        return _side_by_side(a, b, frameworks, "sequential", log, **options)
    except (BenchError, ValueError) as e:   # ValueError: a duet asked for where it cannot run
        raise UpgradeError(f"throughput side by side: {e}") from None


def run_upgrade_check(base: str, new: str, out: Path, *, frameworks=frameworks.DEFAULT_NAMES, seeds: int | None = None,
                      scenarios: str | None = None, throughput: bool = True, bench_modes: dict | None = None, threshold: float | None = None,
                      method: str | None = None,
                      min_pairs: int = sidebyside.MIN_PAIRS, max_pairs: int = sidebyside.MAX_PAIRS,
                      acc_threshold: float = compare.ACC_THRESHOLD_PP, loss_threshold: float = compare.LOSS_THRESHOLD,
                      log=print) -> tuple[dict, int]:
    """Everything, in order; returns (the report's data, the exit code). EnvError before anything runs
    (``check_environments`` may be called first, before the output folder is made)."""
    a, b, versions = check_environments(base, new, out, frameworks)
    log(f"environments checked: {a.label} ({a.python}), {b.label} ({b.python})")
    report_dir = out / f"{a.label}-vs-{b.label}"
    for env in (a, b):
        folder = out / env.label
        log(f"[{env.label}] defaults audit ...")
        code = _child(env, ["audit", "--out", str(folder / "defaults.json"), "--frameworks", ",".join(frameworks)],
                      folder / "audit.txt", log)
        check_child_exit(code, "the defaults audit", env, folder / "audit.txt")
        if code != 0:
            raise UpgradeError(f"the defaults audit failed in {env.label} (exit {code}); see {folder / 'audit.txt'}")
        log(f"[{env.label}] the {SUITE} suite (resumable) ...")
        args = ["run", "--suite", SUITE, "--out", str(folder), "--resume", "--frameworks", ",".join(frameworks)]
        args += (["--seeds", str(seeds)] if seeds else []) + (["--scenarios", scenarios] if scenarios else [])
        code = _child(env, args, folder / "run.txt", log)
        if code == 130:
            raise KeyboardInterrupt
        check_child_exit(code, f"the {SUITE} suite", env, folder / "run.txt")
        if code not in (0, 1) or not (folder / "jobs").is_dir():   # 1 with jobs: some failed, the gate reads them
            raise UpgradeError(f"the {SUITE} suite could not run in {env.label} (exit {code}); see {folder / 'run.txt'}")
    try:
        result = compare.compare_dirs(out / a.label, out / b.label, acc_threshold, loss_threshold)
    except ResultError as e:
        raise UpgradeError(f"the results could not be compared: {e}") from None
    result["labels"] = {"base": a.label, "new": b.label}
    result["versions"] = versions
    result["throughput"] = None
    result["unknown"] = []
    if throughput:
        data = _side_by_side(a, b, frameworks, method, log, modes=bench_modes, threshold=threshold,
                             min_pairs=min_pairs, max_pairs=max_pairs)
        write_json_atomic(report_dir / "throughput.json", data)
        write_text_atomic(report_dir / "throughput.md", sidebyside.markdown(data))
        found = sidebyside.findings(data)
        result["throughput"] = data
        result["regressions"] += found["regressions"]
        result["improvements"] += found["improvements"]
        result["unknown"] = found["unknown"]
    result["not_comparable"] = []   # each folder's own timings are not used; the side-by-side figures are
    result["machine"] = environment()
    write(result, report_dir)
    return result, (0 if gate_text.is_clean(result) else 1)


def markdown(result: dict) -> str:
    labels, versions = result["labels"], result["versions"]
    text = gate_text.markdown(result, title=f"parity upgrade-check {labels['base']} -> {labels['new']}")
    keys = sorted(set(versions[labels["base"]]) | set(versions[labels["new"]]))
    head = ["", "### Versions", "", f"| package | {labels['base']} | {labels['new']} |", "|---|---|---|"]
    head += [f"| {k} | {versions[labels['base']].get(k, '—')} | {versions[labels['new']].get(k, '—')} |"
             for k in keys]
    extra = []
    if result.get("unknown"):
        extra += ["### Throughput not settled (not a regression; more pairs may settle it)", ""]
        extra += [f"- {u}" for u in result["unknown"]] + [""]
    if result.get("throughput"):
        extra.append(sidebyside.markdown(result["throughput"]).replace("## ", "### ", 1))
    else:
        extra.append("Throughput: not measured (--skip-throughput).\n")
    return text + "\n".join(head) + "\n\n" + "\n".join(extra)


def write(result: dict, report_dir: Path) -> None:
    from parity.report import html

    report_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(report_dir / "upgrade.json", {"schema": 1, **result})
    write_text_atomic(report_dir / "upgrade.md", markdown(result))
    write_text_atomic(report_dir / "upgrade.html", html.render_gate(result, clean=gate_text.is_clean(result),
                                                                     summary=gate_text.summary_line(result),
                                                                     sections=gate_text.SECTIONS))
