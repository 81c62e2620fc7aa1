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
    channel = Channel()   # before any framework import: their prints go to stderr

    from parity import frameworks
    from parity.bench import timing
    from parity.bench.inputs import bench_inputs

    try:
        backend = frameworks.load(framework)
        backend.configure(threads, 0, deterministic=False)
        impl = frameworks.load(framework, "throughput")
        trainer = frameworks.load(framework, "train")
    except frameworks.FrameworkUnavailable as e:
        for _ in channel.requests():
            channel.send(error=str(e).removeprefix(f"{framework}: ")[:500], unavailable=True)
        return 0
    rounds_by_id: dict = {}
    inputs_cache: dict = {}

    def inputs(msg):
        key = (msg.get("arch", "resnet-tiny"), msg.get("batch_size", 32), msg.get("image_size", 32))
        if key not in inputs_cache:
            inputs_cache[key] = bench_inputs(*key)
        return inputs_cache[key]

    def new_round(msg):
        plan, init, batches, loader = inputs(msg)
        return timing.make_round(impl, plan, init, batches, msg["mode"], msg["kind"], steps=msg["steps"],
                                 loader=loader if msg.get("loader") else None), plan, batches

    def row(plan, batches, times, msg):
        result = timing.row(framework, impl, plan, batches, times, msg["mode"], msg["kind"], msg["steps"],
                            bool(msg.get("loader")))
        if os.environ.get(timing.SLOWDOWN_VAR):   # never silent: the row says it was slowed on purpose
            result["planted_slowdown"] = float(os.environ[timing.SLOWDOWN_VAR])
        return result

    for msg in channel.requests():
        try:
            cmd = msg["cmd"]
            if cmd == "info":
                result = {**backend.versions(), "device": impl.device_name()}
            elif cmd == "modes":
                result = impl.modes()
            elif cmd == "measure":
                one_round, plan, batches = new_round(msg)
                one_round = timing.planted_slowdown(one_round)
                times = [one_round() for _ in range(msg["warmup"] + msg["rounds"])][msg["warmup"]:]
                result = row(plan, batches, times, msg)
            elif cmd == "setup":
                rounds_by_id[msg["id"]] = new_round(msg)
                result = True
            elif cmd == "round":
                result = timing.planted_slowdown(rounds_by_id[msg["id"]][0])()
            elif cmd == "row":
                _, plan, batches = rounds_by_id[msg["id"]]
                result = row(plan, batches, msg["times"], msg)
            elif cmd == "overhead":
                plan, init, batches, _ = inputs(msg)
                result = timing.harness_overhead(framework, trainer, impl, plan, init, batches,
                                                 rounds=msg.get("rounds", timing.OVERHEAD_ROUNDS))
            else:
                raise ValueError(f"unknown command {cmd!r}")
            channel.send(result=result)
        except Exception as e:  # reported to the driver, one line
            channel.send(error=one_line(e))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
