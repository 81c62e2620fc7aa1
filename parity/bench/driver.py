"""Throughput runs: one framework per worker process, one framework at a time.

``BenchWorker`` drives ``python -m parity.bench.worker FRAMEWORK THREADS`` (started
through ``parity.process``), which times the framework's steps with the one
timing loop (``parity.bench.timing``). A round is timed
inside the worker, with the device synchronised; the pytest plugin can also
time the request from outside (``benchmark.pedantic``), the pipe adding well
under a millisecond to rounds of tens of milliseconds or more. Frameworks are
measured one after the other, never at the same time, on the same thread count.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from parity import frameworks
from parity.bench.timing import CPU_VAR, SLOWDOWN_VAR
from parity.results import environment, write_json_atomic, write_text_atomic
from parity import process
from parity.hints import did_you_mean

MODES = {name: fw.bench_modes for name, fw in frameworks.FRAMEWORKS.items()}
GPU_MODES = {name: fw.gpu_modes for name, fw in frameworks.FRAMEWORKS.items()}   # listed only where a GPU is seen
DEFAULT_MODE = {name: fw.default_mode for name, fw in frameworks.FRAMEWORKS.items()}   # without asking
SCHEMA = 1
MAX_IMAGE_SIZE = 512   # the far domain (2500 images) is generated in memory: ~7 GB and ~30 s at 224 px


class BenchError(RuntimeError):
    """The throughput worker failed; one line saying where."""


class BenchUnavailable(BenchError):
    """The framework is not installed or fails to import (the other one can still be measured)."""


def known_modes(framework: str) -> tuple[str, ...]:
    return MODES[framework] + GPU_MODES[framework]


def mode_list(framework: str) -> str:
    return f"{framework} modes: " + ", ".join(MODES[framework] + tuple(f"{m} (GPU)" for m in GPU_MODES[framework]))


def check_settings(frameworks, *, arch: str, image_size: int, batch_size: int, modes=None) -> list[str]:
    """Problems with a throughput request, one line each, found before any worker starts."""
    from parity.data.synthetic import DOMAINS
    from parity.spec.archs import ARCHS

    problems = []
    spec = ARCHS.get(arch)
    if spec is None:
        problems.append(f"--arch: unknown model {arch!r}{did_you_mean(arch, ARCHS)}; allowed: {', '.join(ARCHS)}")
    low = spec.min_image_size if spec else 1
    if not low <= image_size <= MAX_IMAGE_SIZE:
        problems.append(f"--image-size: {image_size} is not allowed -- an integer from {low} to {MAX_IMAGE_SIZE}"
                        + (f" ({arch} needs at least {low} pixels)" if spec and image_size < low else ""))
    train_size = DOMAINS["far"].train_size
    if batch_size > train_size:
        problems.append(f"--batch-size: {batch_size} is not allowed -- at most {train_size}, "
                        "the training images of the far domain the benchmark reads")
    if modes is not None:
        wanted = list(modes)
        if not wanted:
            problems.append("--modes: give at least one mode; " + "; ".join(mode_list(fw) for fw in frameworks))
        known = {m for fw in frameworks for m in known_modes(fw)}
        for m in wanted:
            if m not in known:
                problems.append(f"--modes: unknown mode {m!r}{did_you_mean(m, sorted(known))}; "
                                + "; ".join(mode_list(fw) for fw in frameworks))
        if wanted and all(m in known for m in wanted):
            for fw in frameworks:
                if not any(m in known_modes(fw) for m in wanted):
                    problems.append(f"--modes: none of {', '.join(wanted)} is a {fw} mode (leave {fw} out with "
                                    f"--frameworks); {mode_list(fw)}")
    return problems




class BenchWorker:
    """One framework's throughput worker process; ``python`` may be another environment's interpreter."""

    def __init__(self, framework: str, threads: int, python: str | None = None, extra_env: dict | None = None,
                 cpu: int | None = None):
        """``cpu``: the one core the worker (every thread of it) runs on, set by the worker before it imports
        anything (``worker.CPU_VAR``)."""
        self.framework = framework
        self._stderr = tempfile.TemporaryFile(mode="w+b")   # read back only when the worker dies
        extra = {**(extra_env or {}), **({} if cpu is None else {CPU_VAR: str(cpu)})}
        # the test-only slowdown reaches a worker only when given in extra_env, on purpose
        self.proc = process.start("parity.bench.worker", framework, threads, python=python, threads=threads,
                                  extra_env=extra, drop_env=(SLOWDOWN_VAR, CPU_VAR), stderr=self._stderr,
                                  framework=framework)

    def _last_stderr_line(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            self._stderr.seek(max(0, self._stderr.tell() - 4096))
            lines = [ln.strip() for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        except (OSError, ValueError):
            return ""
        return f": {lines[-1][:300]}" if lines else ""

    def call(self, **msg):
        self.ask(**msg)
        return self.answer()

    def ask(self, **msg) -> None:
        """Send a request without waiting (two workers asked at once measure at the same time); ``answer``."""
        try:
            process.send(self.proc.stdin, **msg)
        except (BrokenPipeError, OSError):
            pass   # the worker is gone: answer() says how it ended

    def answer(self):
        """The reply to the last request; BenchError when the worker died or answered with an error."""
        try:
            line = self.proc.stdout.readline()
        except OSError:
            line = ""
        reply = process.decode(line) if line else None
        if reply is None:   # the worker died, or wrote something that is not a protocol line
            if self.proc.poll() is None:
                self.proc.kill()
            code = self.proc.wait()
            raise BenchError(f"{self.framework} throughput worker exited (code {code}){self._last_stderr_line()}")
        if "error" in reply:
            raise (BenchUnavailable if reply.get("unavailable") else BenchError)(f"{self.framework}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _selected_modes(framework: str, available: list[str], wanted) -> tuple[list[str], list[str]]:
    """(the worker's modes the user asked for, in the worker's order; those asked for that need a GPU it lacks)."""
    if wanted is None:
        return list(available), []
    lacking = [m for m in wanted if m in known_modes(framework) and m not in available]
    return [m for m in available if m in wanted], lacking


def run_throughput(frameworks, *, threads: int | None = None, rounds: int = 5, warmup: int = 2, steps: int = 10,
                   batch_size: int = 32, image_size: int = 32, arch: str = "resnet-tiny", modes=None,
                   loader: bool = True, overhead: bool = True, overhead_duet=None, log=print) -> dict:
    """Every mode x {train, inference} per framework, the loader figure, and the harness overhead: in-process
    (suite and minimal loop alternating in this worker at its threads) or, where ``overhead_duet(framework,
    size, log)`` is given and the framework runs on the CPU, as that duet measures it.

    ``modes`` (names, None = all) filters each framework's own list, so one list
    can name modes of both. ``loader``/``overhead`` False leave those rows out:
    a short GPU check on a big model does not need them. What cannot run here --
    a framework that is not installed, a GPU mode without a GPU -- is left out,
    logged and listed in ``settings``, so the rest is still measured and written;
    BenchError only when nothing at all could be measured.
    """
    threads = threads or os.cpu_count() or 1
    wanted = None if modes is None else list(modes)
    rows, overhead_rows, info, chosen, missing, lacking = [], [], {}, {}, {}, {}
    size = {"batch_size": batch_size, "image_size": image_size, "arch": arch}
    for fw in frameworks:
        duet = False
        with BenchWorker(fw, threads) as w:
            try:
                info[fw] = w.call(cmd="info")
            except BenchUnavailable as e:
                missing[fw] = str(e)
                log(f"throughput {fw}: skipped, not installed or fails to import ({e})")
                continue
            chosen[fw], gpu_only = _selected_modes(fw, w.call(cmd="modes"), wanted)
            if gpu_only:
                lacking[fw] = gpu_only
                log(f"throughput {fw}: skipped {', '.join(gpu_only)}, which needs a GPU this {fw} does not see")
            if not chosen[fw]:
                continue
            rows += _measure_modes(w, fw, chosen[fw], loader, log, rounds=rounds, warmup=warmup, steps=steps, **size)
            # a duet is of two CPU workers: on a GPU the two loops alternate in this worker
            duet = overhead_duet is not None and info[fw].get("device") == "cpu"
            if overhead and not duet:
                log(f"harness overhead {fw} ...")
                overhead_rows.append({**w.call(cmd="overhead", **size), "method": "in-process"})
        if overhead and duet:   # once this framework's worker is gone
            overhead_rows.append(overhead_duet(fw, size, log))
    if not rows:
        why = list(missing.values()) + [f"{fw}: {', '.join(m)} needs a GPU" for fw, m in lacking.items()]
        raise BenchError("nothing measured: " + ("; ".join(why) or "no framework given"))
    settings = {**size, "rounds": rounds, "warmup": warmup, "steps": steps,
                "modes": {fw: m for fw, m in chosen.items() if m}, "loader": loader, "overhead": overhead}
    if missing:
        settings["not_installed"] = missing
    if lacking:
        settings["needs_gpu"] = lacking
    return {"schema": SCHEMA, "env": {**environment(), "frameworks": info, "threads": threads},
            "settings": settings, "rows": rows, "overhead": overhead_rows}


def _measure_modes(w: BenchWorker, fw: str, modes: list[str], loader: bool, log, **settings) -> list[dict]:
    """One framework's rows from its worker: every mode x {train, inference}, and the loader row."""
    rows = []
    for mode in modes:
        for kind in ("train", "inference"):
            log(f"throughput {fw} {mode} {kind} ({settings['arch']}, {settings['image_size']} px, "
                f"batch {settings['batch_size']}) ...")
            rows.append(w.call(cmd="measure", mode=mode, kind=kind, **settings))
    if loader:
        mode = DEFAULT_MODE[fw] if DEFAULT_MODE[fw] in modes else modes[0]
        log(f"throughput {fw} {mode} train, batches through the loader ...")
        rows.append(w.call(cmd="measure", mode=mode, kind="train", loader=True, **settings))
    return rows


def _settings_line(data: dict) -> str:
    """What was measured: the model, image and batch size (read from the rows of files older than ``settings``)."""
    st = dict(data.get("settings") or {})
    first = (data.get("rows") or data.get("overhead") or [{}])[0]
    for key in ("arch", "image_size", "batch_size"):
        st.setdefault(key, first.get(key))
    text = (f"Model: {st['arch'] or '?'}, image size {st['image_size'] or '?'} px, "
            f"batch size {st['batch_size'] or '?'}")
    if "steps" in st:
        text += f"; steps per round: {st['steps']}; timed rounds: {st['rounds']} (after {st['warmup']} warm-up)"
    return text + f". Threads per framework: {data.get('env', {}).get('threads')}."


def markdown(data: dict) -> str:
    settings = data.get("settings") or {}
    out = ["# Throughput", "", _settings_line(data), "",
           "Images/s, median [min, max] over timed rounds; spread = (max - min) / median.", ""]
    for fw, reason in (settings.get("not_installed") or {}).items():
        out += [f"Not measured: {reason}", ""]
    for fw, names in (settings.get("needs_gpu") or {}).items():
        out += [f"Not measured: {fw} {', '.join(names)} (needs a GPU {fw} does not see here).", ""]
    out += ["| framework | mode | kind | batches | images/s | spread | device |", "|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        ips = r["images_per_s"]
        out.append(f"| {r['framework']} | {r['mode']} | {r['kind']} | {'loader' if r['loader'] else 'in memory'} | "
                   f"{ips['median']:.0f} [{ips['min']:.0f}, {ips['max']:.0f}] | {r['spread_pct']:.1f}% | {r['device']} |")
    if settings.get("loader") is False:
        out += ["", "Batches through the loader: not measured (--skip-loader)."]
    out += ["", "## Harness overhead", ""]
    if settings.get("overhead") is False:
        out.append("Not measured (--skip-overhead).")
    else:
        out += ["The suite's train loop vs a minimal hand-written loop on the same batches, in pairs: suite/minimal "
                "time ratio (trimmed mean) with a 99% CI over the pairs (goal +-2%: met = the whole CI inside, "
                "not met = the CI above it, unsettled = too wide to say). Method in-process: the two loops' rounds "
                "alternating in one worker at its threads; duet: each loop in a single-threaded worker of its own, "
                "at once, a core each (swapped per start), glibc's malloc thresholds fixed (the throughput rows "
                "above keep the default malloc), judged on the measure (wall or CPU time) that scatters less.", "",
                "| framework | method | suite s/round | minimal s/round | overhead [99% CI] | pairs | goal |",
                "|---|---|---|---|---|---|---|"]
        for o in data["overhead"]:
            ci = o.get("ci_pct")
            cell = f"{o['overhead_pct']:+.1f}%" + (f" [{ci[0]:+.1f}, {ci[1]:+.1f}]" if ci else "")
            goal = o.get("goal", "—")
            goal = f"**{goal}**" if goal == "not met" else goal
            method = o.get("method", "in-process") + (f" ({o['measure']})" if o.get("measure") else "")
            out.append(f"| {o['framework']} | {method} | {o['suite_s']:.4f} | {o['minimal_s']:.4f} | {cell} | "
                       f"{o.get('pairs', '—')} | {goal} |")
    return "\n".join(out) + "\n"


def write(data: dict, out_dir: str | Path) -> None:
    """throughput.json, throughput.md and plots/throughput.png (bars with min-max whiskers)."""
    from parity.report import plots

    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    try:
        figures = plots.throughput(data, out_dir / "plots")
    except ImportError:   # a bare GPU machine may lack matplotlib: the tables are what matters
        figures = []
    write_json_atomic(out_dir / "throughput.json", data)
    text = markdown(data)
    if figures:
        text += f"\n![throughput](plots/{figures[0].name})\n"
    write_text_atomic(out_dir / "throughput.md", text)
