"""The one timing loop: rounds of steps between two device synchronisations, and what rounds become.

Each framework's ``throughput`` module (a ``contract.Throughput``) supplies the
steps of an execution mode and ``sync``, which waits for its device (TF reads the
last result back; torch synchronises CUDA); the clock, the rounds, the interleaving
of the harness-overhead pairs and the rows are here, once for every framework.
"""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable, NamedTuple

from parity.bench.inputs import round_batches

SLOWDOWN_VAR = "PARITY_BENCH_SLOWDOWN"
CPU_VAR = "PARITY_BENCH_CPU"   # the core a duet worker runs on (sidebyside), set by the worker first thing
OVERHEAD_GOAL_PCT = 2.0
# A duet worker's glibc malloc, fixed: left adaptive, one single-threaded TF process maps and unmaps its large
# tensors every step and the next keeps them on its heap, a speed of its own per process that no pairing
# removes (README, "Checking a framework upgrade"). 32 MiB is the largest mmap threshold mallopt(3) documents
# on 64-bit: tensors above it (far larger models than the benchmark's) are still mapped each step.
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


class RoundTime(NamedTuple):
    """A timed round: the wall-clock seconds, and the CPU seconds the worker process spent in them (the time it
    was not waiting for the host: what another process on the machine moves least)."""
    wall: float
    cpu: float


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def make_round(impl, plan, init, batches: list, mode: str, kind: str = "train", *, steps: int = 10,
               loader=None) -> Callable[[], RoundTime]:
    """A callable running ``steps`` train or inference steps of ``impl`` and returning the time they took."""
    to_device, train_step, infer_step = impl.steps(plan, init, mode)
    step = train_step if kind == "train" else infer_step
    next_batch = round_batches(batches, loader, to_device)

    def one_round() -> RoundTime:
        impl.sync()
        wall0, cpu0 = _clocks()
        out = None
        for _ in range(steps):
            out = step(*next_batch())
        impl.sync(out)
        wall1, cpu1 = _clocks()
        return RoundTime(wall1 - wall0, cpu1 - cpu0)

    return one_round


def planted_slowdown(one_round):
    """Test-only: with PARITY_BENCH_SLOWDOWN=0.15 every timed round takes 15% longer, the process computing
    (not sleeping) after it for 15% of the round's wall-clock time, so the side-by-side comparison can be
    shown to catch a slowdown of known size. A single-threaded worker on a core of its own (a duet) spends
    about as much more CPU time; with more threads the CPU time grows by less (one thread computes). Unset
    (always, outside such a check): the round itself."""
    fraction = float(os.environ.get(SLOWDOWN_VAR) or 0)
    if fraction <= 0:
        return one_round

    def slowed() -> RoundTime:
        wall0, cpu0 = _clocks()
        spent = one_round()
        until = time.perf_counter() + fraction * spent.wall
        while time.perf_counter() < until:
            pass
        wall1, cpu1 = _clocks()
        return RoundTime(wall1 - wall0, cpu1 - cpu0)

    return slowed


def summarize(framework: str, times: list[float], images_per_round: int, cpu_times: list[float] | None = None,
              **fields) -> dict:
    """One throughput row: images/s min/median/max over the timed rounds and their spread; with ``cpu_times``
    also images per CPU second of the worker process (``cpu_images_per_s``)."""
    rates = sorted(images_per_round / t for t in times)
    median = statistics.median(rates)
    row = {"framework": framework, **fields, "rounds": len(times),
           "images_per_s": {"min": rates[0], "median": median, "max": rates[-1]},
           "spread_pct": 100.0 * (rates[-1] - rates[0]) / median}
    if cpu_times:
        cpu_rates = sorted(images_per_round / t for t in cpu_times if t > 0)
        if cpu_rates:
            row["cpu_images_per_s"] = {"min": cpu_rates[0], "median": statistics.median(cpu_rates),
                                       "max": cpu_rates[-1]}
    return row


def row(framework: str, impl, plan, batches: list, times: list[float], mode: str, kind: str, steps: int,
        loader: bool, cpu_times: list[float] | None = None) -> dict:
    """The throughput row for a list of round times (wall; and CPU where measured)."""
    return summarize(framework, times, steps * len(batches[0][1]), cpu_times, mode=mode, kind=kind, loader=loader,
                     device=impl.device_name(), threads=impl.threads(), batch_size=len(batches[0][1]),
                     image_size=plan.image_size, arch=plan.arch, steps_per_round=steps)


OVERHEAD_ROUNDS = 24   # the benchmark's pairs; the smoke-size test asks for a few


LOOPS = ("suite", "minimal")   # the two sides of the harness overhead


def loop_round(which: str, trainer, impl, plan, init, batches: list) -> Callable[[], RoundTime]:
    """A timed round over ``batches`` of the suite's train loop (``loop.train_one_epoch`` on a prepared phase)
    or of the framework's minimal hand-written one, on a model of its own: a side of the harness overhead."""
    model = trainer.build(plan, init)
    if which == "minimal":
        body = impl.minimal_round(model, plan, batches)
    else:
        from parity.train import loop

        phase = trainer.prepare_phase(model, plan, "train", plan.lr)

        def body():
            loop.train_one_epoch(phase, iter(batches), base_lr=plan.lr, schedule="constant", step0=0,
                                 total_steps=len(batches))

    def one_round() -> RoundTime:
        impl.sync()
        wall0, cpu0 = _clocks()
        body()
        impl.sync()
        wall1, cpu1 = _clocks()
        return RoundTime(wall1 - wall0, cpu1 - cpu0)

    return one_round


def harness_overhead(framework: str, trainer, impl, plan, init, batches: list, *,
                     rounds: int = OVERHEAD_ROUNDS) -> dict:
    """The suite's train loop vs a minimal hand-written loop, in this process (``loop_round``).

    Same batches and process; rounds alternate so drift in the machine's speed hits
    both, and each round starts and ends synchronised. The first round of each is warm-up.
    (Two workers at once, a core each: ``sidebyside.harness_overhead_duet``.)
    """
    round_of = {which: loop_round(which, trainer, impl, plan, init, batches) for which in LOOPS}
    times: dict[str, list[float]] = {which: [] for which in LOOPS}
    for r in range(rounds + 1):
        for which in (LOOPS if r % 2 else LOOPS[::-1]):
            spent = round_of[which]()
            if r:
                times[which].append(spent.wall)
    return overhead_row(framework, times["suite"], times["minimal"], batch_size=len(batches[0][1]),
                        steps=len(batches), threads=impl.threads(), arch=plan.arch, image_size=plan.image_size,
                        device=impl.device_name())


def overhead_goal(low_pct: float, high_pct: float) -> str:
    """The goal's verdict from the overhead's CI (percent): met (the whole CI within +-2%), not met (the whole
    CI above +2%: the suite's loop certainly slower), unsettled (too wide to say)."""
    if -OVERHEAD_GOAL_PCT <= low_pct and high_pct <= OVERHEAD_GOAL_PCT:
        return "met"
    return "not met" if low_pct > OVERHEAD_GOAL_PCT else "unsettled"


def overhead_row(framework: str, suite_times: list[float], minimal_times: list[float], **fields) -> dict:
    """The suite's train loop against a minimal hand-written one, rounds interleaved in pairs.

    The ratio is suite/minimal time per pair, judged like two environments' timings
    (``stats.paired_ratio``): a trimmed mean, a 99% CI over the pairs, and the goal
    of +-2%: met (the whole CI inside), not met (the CI above it), or unsettled.
    """
    from parity.report.stats import paired_ratio

    r = paired_ratio(minimal_times, suite_times)
    low, high = 100.0 * (r.ci_low - 1), 100.0 * (r.ci_high - 1)
    goal = overhead_goal(low, high)
    return {"framework": framework, **fields, "ratio": r.ratio, "overhead_pct": 100.0 * (r.ratio - 1.0),
            "ci_pct": [low, high], "pairs": r.n, "goal_pct": OVERHEAD_GOAL_PCT, "goal": goal,
            "suite_s": statistics.median(suite_times), "minimal_s": statistics.median(minimal_times)}
