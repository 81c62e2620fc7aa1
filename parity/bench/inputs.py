"""Framework-neutral pieces of the throughput and overhead measurements.

The timing loops live in ``tf_impl/throughput.py`` and ``torch_impl/throughput.py``
(each framework syncs its own device); this module supplies the inputs both
use -- a tiny-model plan, in-memory batches from the shared loader -- and the
one way a list of round times becomes a result row.
"""
from __future__ import annotations

import itertools
import os
import statistics
import time

from parity.data import Loader, load_dataset, make_loaders
from parity.train.initial import init_head
from parity.train.plan import TrainPlan


def bench_inputs(arch: str = "resnet-tiny", batch_size: int = 32, image_size: int = 32, n_batches: int = 8,
                 seed: int = 0):
    """(plan, init tensors, in-memory batches, the loader) for a throughput measurement on the far domain."""
    from parity.spec.archs import get_arch
    from parity.train.initial import init_network

    ds = load_dataset("far", image_size)
    train, _ = make_loaders(ds, batch_size, seed)
    batches = [b for _, b in zip(range(n_batches), train.batches(0))]
    spec = get_arch(arch)
    init = init_network(spec, ds.num_classes, seed)
    init.update(init_head(seed, spec.feature_dim, ds.num_classes))
    plan = TrainPlan(arch=arch, num_classes=ds.num_classes, image_size=image_size, seed=seed, epochs=1,
                     optimizer="sgd", lr=0.01, lr_schedule="constant", sgd_momentum=0.9, bn_momentum=0.9,
                     bn_epsilon=1e-5, freeze="none")
    return plan, init, batches, train


def batch_stream(loader: Loader):
    """Endless batches from a loader, epoch after epoch (the 'with loader' figure)."""
    epoch = 0
    while True:
        yield from loader.batches(epoch)
        epoch += 1


def round_batches(batches: list, loader: Loader | None, to_device):
    """What a timed step gets next: the batches already converted and cycled, or pulled through the loader."""
    if loader is None:
        ready = itertools.cycle([to_device(x, y) for x, y in batches])
        return lambda: next(ready)
    stream = batch_stream(loader)
    return lambda: to_device(*next(stream))


SLOWDOWN_VAR = "PARITY_BENCH_SLOWDOWN"


def planted_slowdown(one_round):
    """Test-only: with PARITY_BENCH_SLOWDOWN=0.15 every timed round takes 15% longer (a real sleep
    after the round, proportional to it), so the side-by-side comparison can be shown to catch a
    slowdown of known size. Unset (always, outside such a check): the round itself."""
    fraction = float(os.environ.get(SLOWDOWN_VAR) or 0)
    if fraction <= 0:
        return one_round

    def slowed() -> float:
        t0 = time.perf_counter()
        time.sleep(fraction * one_round())
        return time.perf_counter() - t0

    return slowed


def summarize(framework: str, times: list[float], images_per_round: int, **fields) -> dict:
    """One throughput row: images/s min/median/max over the timed rounds and their spread."""
    rates = sorted(images_per_round / t for t in times)
    median = statistics.median(rates)
    return {"framework": framework, **fields, "rounds": len(times),
            "images_per_s": {"min": rates[0], "median": median, "max": rates[-1]},
            "spread_pct": 100.0 * (rates[-1] - rates[0]) / median}


OVERHEAD_GOAL_PCT = 2.0


def overhead_row(framework: str, suite_times: list[float], minimal_times: list[float], **fields) -> dict:
    """The suite's train loop against a minimal hand-written one, rounds interleaved in pairs.

    The ratio is suite/minimal time per pair, judged like two environments' timings
    (``stats.paired_ratio``): a trimmed mean, a 99% CI over the pairs, and the goal
    of +-2%: met (the whole CI inside), not met (the CI above it), or unsettled.
    """
    from parity.report.stats import paired_ratio

    r = paired_ratio(minimal_times, suite_times)
    low, high = 100.0 * (r.ci_low - 1), 100.0 * (r.ci_high - 1)
    goal = ("met" if -OVERHEAD_GOAL_PCT <= low and high <= OVERHEAD_GOAL_PCT
            else "not met" if low > OVERHEAD_GOAL_PCT else "unsettled")   # unsettled: the CI is too wide to say
    return {"framework": framework, **fields, "ratio": r.ratio, "overhead_pct": 100.0 * (r.ratio - 1.0),
            "ci_pct": [low, high], "pairs": r.n, "goal_pct": OVERHEAD_GOAL_PCT, "goal": goal,
            "suite_s": statistics.median(suite_times), "minimal_s": statistics.median(minimal_times)}
