"""What a throughput measurement is fed: a plan, starting weights and batches from the shared loader.

The timing loop itself is ``parity.bench.timing``; each framework only converts the
batches (``to_device``) and runs its steps.
"""
from __future__ import annotations

import itertools

from parity.data import Loader, load_dataset, make_loaders
from parity.train.initial import init_head
from parity.train.plan import TrainPlan
from parity.spec.config import BNConfig


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
                     optimizer="sgd", lr=0.01, lr_schedule="constant", sgd_momentum=0.9,
                     bn=BNConfig(momentum=0.9, epsilon=1e-5))
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
