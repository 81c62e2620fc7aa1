"""Throughput through pytest-benchmark, one framework worker at a time.

Each round runs in the framework's own worker process (``parity.bench.worker``);
pytest-benchmark times the request with ``benchmark.pedantic`` (where it is disabled, as
under pytest-xdist, the test calls the rounds itself) and the row the worker computes
from its own synchronised timings goes to ``extra_info``.
"""
import os
import sys

import pytest

from parity import frameworks
from parity.bench.driver import BenchWorker
from parity.bench.sidebyside import PythonEnv, duet_cores, harness_overhead_duet

SIZES = {"batch_size": 32, "image_size": 32, "arch": "resnet-tiny"}


@pytest.fixture(scope="module")
def worker():
    """One live worker, replaced when the framework changes, so frameworks never run at once."""
    current = {}

    def get(framework):
        missing = frameworks.missing_modules(framework)
        if missing:   # e.g. keras-jax without the [jax] extra: skipped with the reason, as the runner's column
            pytest.skip(f"{framework}: {', '.join(missing)} not installed")
        if framework not in current:
            for w in current.values():
                w.close()
            current.clear()
            current[framework] = BenchWorker(framework, os.cpu_count() or 1)
        return current[framework]

    yield get
    for w in current.values():
        w.close()


def test_throughput(benchmark, parity_options, worker, throughput_case):
    framework, mode, kind = throughput_case
    full = parity_options.full
    rounds, warmup, steps = (5, 2, 10) if full else (2, 1, 2)
    w = worker(framework)
    case = "-".join(throughput_case)
    w.call(cmd="setup", id=case, mode=mode, kind=kind, steps=steps, **SIZES)
    inner = []
    if benchmark.disabled:   # e.g. under pytest-xdist (make test): the rounds still run, timed by the worker
        for _ in range(rounds + warmup):
            inner.append(w.call(cmd="round", id=case))
    else:
        benchmark.pedantic(lambda: inner.append(w.call(cmd="round", id=case)), rounds=rounds, warmup_rounds=warmup,
                           iterations=1)
    row = w.call(cmd="row", id=case, times=inner[warmup:], mode=mode, kind=kind, steps=steps)
    benchmark.extra_info.update(row)
    print(f"\n{case}: {row['images_per_s']['median']:.0f} images/s (spread {row['spread_pct']:.1f}%)")
    assert row["images_per_s"]["median"] > 0 and len(inner) == rounds + warmup


@pytest.mark.parametrize("framework", frameworks.NAMES)
def test_harness_overhead(parity_options, worker, framework, record_property):
    """The suite's train loop against a minimal hand-written loop (goal: within +-2%): in pairs interleaved in
    the worker at smoke size, as a duet with --benchmark where two cores allow.

    Printed at smoke size; asserted with --benchmark, where this is the figure the README quotes.
    """
    # smoke size: that it runs and reports, not the figure (4 pairs of 2 steps instead of 24 of 8: in make test
    # the four columns' took 147 s with 4 pairs of 8 steps)
    rounds = {} if parity_options.full else {"rounds": 4, "steps": 2}
    if parity_options.full and duet_cores() and worker(framework).call(cmd="info")["device"] == "cpu":
        # full size: the duet, the suite's and the minimal loop at once on a core each (what decides the goal)
        row = harness_overhead_duet(PythonEnv("this", sys.executable), framework, **SIZES)
    else:
        row = worker(framework).call(cmd="overhead", **SIZES, **rounds)
    record_property("overhead_pct", row["overhead_pct"])
    lo, hi = row["ci_pct"]
    print(f"\n{framework}: suite / minimal loop time = {row['ratio']:.3f} ({row['overhead_pct']:+.1f}% "
          f"[{lo:+.1f}, {hi:+.1f}] over {row['pairs']} pairs; goal +-{row['goal_pct']:g}%: {row['goal']})")
    assert row["suite_s"] > 0 and row["minimal_s"] > 0
    # a certain overhead above the goal fails; noise too wide to settle it is printed. The Keras backends'
    # columns are printed only: their suite step reads and writes every Keras variable around the guide's
    # step (keras-jax at resnet-tiny, 2026-11-27: +3.3% [-1.8, +7.6] on a quiet machine, +16% [+4, +30] on a
    # busy one; keras-torch +0.5% [-3.6, +5.4]), which their
    # accuracy jobs' wall time carries and their throughput figures (the guide's loop) do not
    if parity_options.full and framework in frameworks.DEFAULT_NAMES:
        assert row["goal"] != "not met", row
