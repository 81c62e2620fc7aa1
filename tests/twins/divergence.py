"""Find where two runs of the same network part ways.

When the TF and torch logits disagree, the first layer whose outputs differ is the
place to look (a padding offset shows up at a conv, an epsilon at a bn); every
later layer just inherits the error.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def max_abs_diff(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def first_divergence(outputs_a: Mapping[str, np.ndarray], outputs_b: Mapping[str, np.ndarray],
                     order: Sequence[str], atol: float, rtol: float = 0.0) -> str | None:
    """One line naming the first layer in `order` whose outputs differ by more than
    `atol + rtol * max|a|` (deep layers carry larger values, hence `rtol`), else None."""
    for name in order:
        if name not in outputs_a or name not in outputs_b:
            side = "first" if name not in outputs_a else "second"
            return f"{name}: missing from the {side} set of outputs"
        a, b = np.asarray(outputs_a[name]), np.asarray(outputs_b[name])
        if a.shape != b.shape:
            return f"{name}: shapes differ {a.shape} vs {b.shape}"
        diff = max_abs_diff(a, b)
        scale = float(np.max(np.abs(a))) if a.size else 0.0
        tol = atol + rtol * scale
        if not diff <= tol:  # also catches NaN
            return f"{name}: max abs diff {diff:.3g} > tolerance {tol:.3g} (max |value| {scale:.3g})"
    return None
