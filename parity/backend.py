"""The interface both implementations satisfy, and the one place that imports them.

A backend module (``tf_impl.backend`` / ``torch_impl.backend``) provides
``NAME``, ``versions()``, ``native_defaults()``, ``configure(threads, seed)``
and ``fit(plan, init, train_loader, eval_loader, stats_batches, progress)``.
Only worker processes call ``load``; one process never loads both.
"""
from __future__ import annotations

import importlib

MODULES = {"tf": "tf_impl.backend", "torch": "torch_impl.backend"}


class BackendUnavailable(RuntimeError):
    """The framework is not installed or fails to import."""


def load(name: str):
    if name not in MODULES:
        raise ValueError(f"unknown framework {name!r}; allowed: {', '.join(MODULES)}")
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as e:
        raise BackendUnavailable(f"{name}: not installed or broken ({e})") from e
