"""bn-parity's framework-neutral core: specs, data, assets, the shared training loop, runs, benches, reports.

It never imports a framework or an implementation package; ``parity.frameworks`` is the
registry through which a worker process loads one (see the README, "How it works").
"""
