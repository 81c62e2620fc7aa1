"""A throughput worker: one framework, requests on stdin, one JSON reply per request.

Started by ``parity.bench.driver.BenchWorker`` as ``python -m parity.bench.worker
FRAMEWORK THREADS`` (``parity.process`` owns the start and the line protocol).
Commands: ``info``, ``modes``, ``measure`` (warm-up rounds, timed rounds, one row),
``setup`` / ``round`` / ``row`` (rounds timed from outside, by the pytest plugin) and
``overhead``. A framework that does not import answers every request with the
reason, so the driver can leave it out and measure the others.
"""
from __future__ import annotations

import os
import sys

from parity.process import Channel, one_line


def main(framework: str, threads: int) -> int:
    _pin_to_core()
    channel = Channel()   # before any framework import: their prints go to stderr

    from parity import frameworks

    try:
        backend = frameworks.load(framework)
        backend.configure(threads, 0, deterministic=False)
        session = _Session(framework, backend, frameworks.load(framework, "throughput"),
                           frameworks.load(framework, "train"))
    except frameworks.FrameworkUnavailable as e:
        for _ in channel.requests():
            channel.send(error=str(e).removeprefix(f"{framework}: ")[:500], unavailable=True)
        return 0
    for msg in channel.requests():
        try:
            command = _Session.COMMANDS.get(msg["cmd"])
            if command is None:
                raise ValueError(f"unknown command {msg['cmd']!r}")
            channel.send(result=getattr(session, command)(msg))
        except Exception as e:  # reported to the driver, one line
            channel.send(error=one_line(e))
    return 0


def _pin_to_core() -> None:
    """A duet worker runs on the one core its driver named, set before any thread starts: every thread the
    framework starts later inherits it."""
    from parity.bench.timing import CPU_VAR

    if os.environ.get(CPU_VAR):
        os.sched_setaffinity(0, {int(os.environ[CPU_VAR])})


def _cpus() -> list[int] | None:
    """The cores this worker may run on (None where the system does not say)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


class _Session:
    """One framework's measurements, a method per command of the driver's protocol; the inputs of each
    (model, size, batch) are built once, and a round set up by ``setup`` is timed by ``round`` calls."""
    COMMANDS = {"info": "info", "modes": "modes", "measure": "measure", "setup": "setup", "round": "round",
                "round_times": "round_times", "row": "row_of_times", "overhead": "overhead"}

    def __init__(self, framework: str, backend, impl, trainer):
        self.framework, self.backend, self.impl, self.trainer = framework, backend, impl, trainer
        self.inputs_cache: dict = {}
        self.rounds_by_id: dict = {}

    def inputs(self, msg):
        from parity.bench.inputs import bench_inputs

        key = (msg.get("arch", "resnet-tiny"), msg.get("batch_size", 32), msg.get("image_size", 32))
        if key not in self.inputs_cache:
            self.inputs_cache[key] = bench_inputs(*key)
        return self.inputs_cache[key]

    def new_round(self, msg):
        from parity.bench import timing

        plan, init, batches, loader = self.inputs(msg)
        return timing.make_round(self.impl, plan, init, batches, msg["mode"], msg["kind"], steps=msg["steps"],
                                 loader=loader if msg.get("loader") else None), plan, batches

    def row(self, plan, batches, times, msg, cpu_times=None) -> dict:
        from parity.bench import timing

        result = timing.row(self.framework, self.impl, plan, batches, times, msg["mode"], msg["kind"],
                            msg["steps"], bool(msg.get("loader")), cpu_times)
        if os.environ.get(timing.SLOWDOWN_VAR):   # never silent: the row says it was slowed on purpose
            result["planted_slowdown"] = float(os.environ[timing.SLOWDOWN_VAR])
        return result

    def info(self, msg) -> dict:
        malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k in ("GLIBC_TUNABLES", "LD_PRELOAD")}
        return {**self.backend.versions(), "device": self.impl.device_name(), "cpus": _cpus(), "malloc": malloc}

    def modes(self, msg) -> list:
        return self.impl.modes()

    def measure(self, msg) -> dict:
        """Warm-up and timed rounds in this worker, one after the other: the row."""
        from parity.bench import timing

        one_round, plan, batches = self.new_round(msg)
        one_round = timing.planted_slowdown(one_round)
        times = [one_round() for _ in range(msg["warmup"] + msg["rounds"])][msg["warmup"]:]
        return self.row(plan, batches, [t.wall for t in times], msg, [t.cpu for t in times])

    def setup(self, msg) -> bool:
        """A round to time by ``round``/``round_times``: of an execution mode (``mode``, ``kind``), or of one side
        of the harness overhead (``loop``: suite or minimal)."""
        self.rounds_by_id[msg["id"]] = self.new_loop_round(msg) if msg.get("loop") else self.new_round(msg)
        return True

    def new_loop_round(self, msg):
        from parity.bench import timing

        plan, init, batches, _ = self.inputs(msg)
        batches = batches[:msg["steps"]]
        return timing.loop_round(msg["loop"], self.trainer, self.impl, plan, init, batches), plan, batches

    def round(self, msg) -> float:
        """One round's wall-clock seconds (pytest-benchmark's clock is the driver's; this is the worker's)."""
        return self.round_times(msg)[0]

    def round_times(self, msg) -> list[float]:
        """One round set up by ``setup``: its wall-clock and CPU seconds (a duet times both workers' rounds
        in lockstep, one round each at a time)."""
        from parity.bench import timing

        return list(timing.planted_slowdown(self.rounds_by_id[msg["id"]][0])())

    def row_of_times(self, msg) -> dict:
        _, plan, batches = self.rounds_by_id[msg["id"]]
        return self.row(plan, batches, msg["times"], msg)

    def overhead(self, msg) -> dict:
        from parity.bench import timing

        plan, init, batches, _ = self.inputs(msg)
        return timing.harness_overhead(self.framework, self.trainer, self.impl, plan, init,
                                       batches[:msg.get("steps", len(batches))],
                                       rounds=msg.get("rounds", timing.OVERHEAD_ROUNDS))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
