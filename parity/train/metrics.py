"""Every metric, computed once, in numpy, from each framework's logits.

Both frameworks hand back float32 logits as numpy arrays; accuracy and the
cross-entropy (a float64 log-softmax) are computed here, so a gap between two
columns can never come from two ways of measuring.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np


def correct(logits: np.ndarray, labels: np.ndarray) -> int:
    """How many rows' largest logit is the label."""
    return int(np.sum(np.argmax(logits, 1) == labels))


def cross_entropy_sum(logits: np.ndarray, labels: np.ndarray) -> float:
    """Summed cross-entropy of the rows, via a float64 log-softmax."""
    z = logits.astype(np.float64) - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].sum())


def evaluate(predict: Callable[[np.ndarray], np.ndarray], batches: Iterable) -> dict:
    """Accuracy (%) and mean loss over the batches, from ``predict``'s logits (BN in inference mode)."""
    loss_sum, hits, seen = 0.0, 0, 0
    for x, y in batches:
        logits = predict(x)
        loss_sum += cross_entropy_sum(logits, y)
        hits += correct(logits, y)
        seen += len(y)
    return {"eval_loss": loss_sum / seen, "eval_acc": 100.0 * hits / seen}
