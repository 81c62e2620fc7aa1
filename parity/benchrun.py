"""Throughput runs: one framework per worker process, one framework at a time.

``BenchWorker`` drives ``python -m parity.benchrun FRAMEWORK THREADS``, which
holds the framework's timing loops (``*_impl/throughput.py``). A round is timed
inside the worker, with the device synchronised; the pytest plugin can also
time the request from outside (``benchmark.pedantic``), the pipe adding well
under a millisecond to rounds of tens of milliseconds or more. Frameworks are
measured one after the other, never at the same time, on the same thread count.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from parity.results import environment, write_json_atomic, write_text_atomic

MODES = {"tf": ("eager", "function", "xla"), "torch": ("eager", "eager-channels-last", "compile")}
DEFAULT_MODE = {"tf": "function", "torch": "eager"}   # what a user gets without asking
SCHEMA = 1


class BenchError(RuntimeError):
    """The throughput worker failed; one line saying where."""


class BenchWorker:
    def __init__(self, framework: str, threads: int):
        env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3",
                   OMP_NUM_THREADS=str(threads))
        self.framework = framework
        self.proc = subprocess.Popen([sys.executable, "-m", "parity.benchrun", framework, str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)

    def call(self, **msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"{self.framework} throughput worker exited (code {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise BenchError(f"{self.framework}: {reply['error']}")
        return reply["result"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def run_throughput(frameworks, *, threads: int | None = None, rounds: int = 5, warmup: int = 2, steps: int = 10,
                   batch_size: int = 32, image_size: int = 32, arch: str = "resnet-tiny", log=print) -> dict:
    """Every mode x {train, inference} per framework, the loader figure, and the harness overhead."""
    threads = threads or os.cpu_count() or 1
    rows, overhead, info = [], [], {}
    for fw in frameworks:
        with BenchWorker(fw, threads) as w:
            info[fw] = w.call(cmd="info")
            for mode in w.call(cmd="modes"):
                for kind in ("train", "inference"):
                    log(f"throughput {fw} {mode} {kind} ...")
                    rows.append(w.call(cmd="measure", mode=mode, kind=kind, rounds=rounds, warmup=warmup,
                                       steps=steps, batch_size=batch_size, image_size=image_size, arch=arch))
            log(f"throughput {fw} {DEFAULT_MODE[fw]} train, batches through the loader ...")
            rows.append(w.call(cmd="measure", mode=DEFAULT_MODE[fw], kind="train", rounds=rounds, warmup=warmup,
                               steps=steps, batch_size=batch_size, image_size=image_size, arch=arch, loader=True))
            log(f"harness overhead {fw} ...")
            overhead.append(w.call(cmd="overhead", batch_size=batch_size, image_size=image_size, arch=arch))
    return {"schema": SCHEMA, "env": {**environment(), "frameworks": info, "threads": threads},
            "rows": rows, "overhead": overhead}


def markdown(data: dict) -> str:
    out = ["# Throughput", "",
           "Images/s, median [min, max] over timed rounds; spread = (max - min) / median. Threads per framework: "
           f"{data['env'].get('threads')}.", "",
           "| framework | mode | kind | batches | images/s | spread | device |", "|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        ips = r["images_per_s"]
        out.append(f"| {r['framework']} | {r['mode']} | {r['kind']} | {'loader' if r['loader'] else 'in memory'} | "
                   f"{ips['median']:.0f} [{ips['min']:.0f}, {ips['max']:.0f}] | {r['spread_pct']:.1f}% | {r['device']} |")
    out += ["", "## Harness overhead", "",
            "The suite's train loop vs a minimal hand-written loop, same model, batches and process (goal <= 3%).", "",
            "| framework | suite s/round | minimal s/round | overhead |", "|---|---|---|---|"]
    for o in data["overhead"]:
        out.append(f"| {o['framework']} | {o['suite_s']:.4f} | {o['minimal_s']:.4f} | {o['overhead_pct']:+.1f}% |")
    return "\n".join(out) + "\n"


def write(data: dict, out_dir: str | Path) -> None:
    """throughput.json, throughput.md and plots/throughput.png (bars with min-max whiskers)."""
    from parity import plots

    out_dir = Path(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)
    figures = plots.throughput(data, out_dir / "plots")
    write_json_atomic(out_dir / "throughput.json", data)
    text = markdown(data)
    if figures:
        text += f"\n![throughput](plots/{figures[0].name})\n"
    write_text_atomic(out_dir / "throughput.md", text)


# ------------------------------------------------------------------------------- the worker side

def _worker(framework: str, threads: int) -> int:
    import importlib

    from parity.bench import bench_inputs

    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    backend = importlib.import_module(f"{framework}_impl.backend")
    backend.configure(threads, 0, deterministic=False)
    impl = importlib.import_module(f"{framework}_impl.throughput")
    rounds_by_id: dict = {}
    inputs_cache: dict = {}

    def inputs(msg):
        key = (msg.get("arch", "resnet-tiny"), msg.get("batch_size", 32), msg.get("image_size", 32))
        if key not in inputs_cache:
            inputs_cache[key] = bench_inputs(*key)
        return inputs_cache[key]

    for line in sys.stdin:
        msg = json.loads(line)
        try:
            cmd = msg["cmd"]
            if cmd == "info":
                result = {**backend.versions(), "device": impl.device_name()}
            elif cmd == "modes":
                result = impl.modes()
            elif cmd == "measure":
                plan, init, batches, loader = inputs(msg)
                result = impl.measure(plan, init, batches, msg["mode"], msg["kind"], rounds=msg["rounds"],
                                      warmup=msg["warmup"], steps=msg["steps"],
                                      loader=loader if msg.get("loader") else None)
            elif cmd == "setup":   # for timing rounds from outside (the pytest plugin)
                plan, init, batches, loader = inputs(msg)
                rounds_by_id[msg["id"]] = (impl.make_round(plan, init, batches, msg["mode"], msg["kind"],
                                                           steps=msg["steps"],
                                                           loader=loader if msg.get("loader") else None),
                                           plan, batches)
                result = True
            elif cmd == "round":
                result = rounds_by_id[msg["id"]][0]()
            elif cmd == "row":
                _, plan, batches = rounds_by_id[msg["id"]]
                result = impl.row(plan, batches, msg["times"], msg["mode"], msg["kind"], msg["steps"],
                                  bool(msg.get("loader")))
            elif cmd == "overhead":
                plan, init, batches, _ = inputs(msg)
                result = impl.harness_overhead(plan, init, batches)
            else:
                raise ValueError(f"unknown command {cmd!r}")
            proto.write(json.dumps({"result": result}) + "\n")
        except Exception as e:  # reported to the driver, one line
            proto.write(json.dumps({"error": " ".join(f"{type(e).__name__}: {e}".split())[:500]}) + "\n")
        proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1], int(sys.argv[2])))
