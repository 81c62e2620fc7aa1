"""Means, 95% confidence intervals, gaps and verdicts: statistics, not anecdotes.

Seeds pair the two frameworks (same seed = same data order, augmentation and
head), so the gap's CI is a paired t-interval over per-seed differences when
both sides have the same seeds, and Welch's interval otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# Two-sided 95% Student t quantiles, df = 1..30; beyond that the normal's 1.96 is close enough.
_T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042]

PARITY_TOLERANCE_PP = 2.0   # |gap| a verdict of "parity" allows, in percentage points


def t95(df: float) -> float:
    if df < 1:
        return float("nan")
    if df <= 30:
        lo = _T95[int(math.floor(df)) - 1]
        hi = _T95[min(int(math.ceil(df)), 30) - 1]
        return lo + (hi - lo) * (df - math.floor(df))
    return 1.96


@dataclass
class Summary:
    mean: float
    ci_low: float
    ci_high: float
    n: int
    sd: float

    def to_dict(self) -> dict:
        return {"mean": round(self.mean, 4), "ci_low": round(self.ci_low, 4),
                "ci_high": round(self.ci_high, 4), "n": self.n}


def summarize(values: list[float]) -> Summary | None:
    """Mean with a t-based 95% CI; one value gives a zero-width interval (n says so)."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(vals)
    if n == 0:
        return None
    mean = sum(vals) / n
    if n == 1:
        return Summary(mean, mean, mean, 1, 0.0)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    return Summary(mean, mean - half, mean + half, n, sd)


def gap(tf: dict[int, float], torch: dict[int, float]) -> Summary | None:
    """TF minus torch, keyed by seed: paired over the seeds both sides have, Welch only without two of those."""
    tf = {s: v for s, v in tf.items() if v is not None and math.isfinite(v)}
    torch = {s: v for s, v in torch.items() if v is not None and math.isfinite(v)}
    if not tf or not torch:
        return None
    common = sorted(set(tf) & set(torch))
    if len(common) >= 2 or set(tf) == set(torch):
        return summarize([tf[s] - torch[s] for s in common])
    a, b = summarize(list(tf.values())), summarize(list(torch.values()))
    mean = a.mean - b.mean
    va, vb = a.sd ** 2 / a.n, b.sd ** 2 / b.n
    se = math.sqrt(va + vb)
    if se == 0 or a.n < 2 or b.n < 2:
        return Summary(mean, mean, mean, min(a.n, b.n), 0.0)
    df = (va + vb) ** 2 / ((va ** 2 / (a.n - 1) if a.n > 1 else 0) + (vb ** 2 / (b.n - 1) if b.n > 1 else 0))
    half = t95(df) * se
    return Summary(mean, mean - half, mean + half, min(a.n, b.n), se)


def verdict(g: Summary | None, tolerance: float = PARITY_TOLERANCE_PP) -> str:
    """An equivalence test: parity when the whole CI lies within +-tolerance; gap when the CI
    excludes 0 and |mean| > tolerance; inconclusive otherwise (a wide CI, or a difference too
    small to matter that the CI cannot place inside the tolerance).

    One seed gives no interval, so never a verdict beyond inconclusive.
    """
    if g is None:
        return "failed"
    if g.n < 2:
        return "inconclusive"
    if -tolerance <= g.ci_low and g.ci_high <= tolerance:
        return "parity"
    if (g.ci_low > 0 or g.ci_high < 0) and abs(g.mean) > tolerance:
        return "gap"
    return "inconclusive"
