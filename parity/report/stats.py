"""Means, 95% confidence intervals, gaps and verdicts: statistics, not anecdotes.

Seeds pair the two frameworks (same seed = same data order, augmentation and
head), so the gap's CI is a paired t-interval over per-seed differences when
both sides have the same seeds, and Welch's interval otherwise.

Seeds also pair two runs of the suite (the regression gate: ``paired_change``),
and interleaved samples pair two environments' timings (``paired_ratio``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

PARITY_TOLERANCE_PP = 2.0   # |gap| a verdict of "parity" allows, in percentage points


def t95(df: float) -> float:
    """The two-sided 95% Student t quantile (scipy; Welch's fractional df included)."""
    if not df >= 1:
        return float("nan")
    return float(sps.t.ppf(0.975, df))


@dataclass
class Summary:
    mean: float
    ci_low: float
    ci_high: float
    n: int
    sd: float
    # every value the same (n >= 2): on a CPU, identical on every seed is real and is said as such,
    # not as an infinitely narrow interval (the CI fields then hold the mean)
    constant: bool = False

    def to_dict(self) -> dict:
        return {"mean": round(self.mean, 4), "ci_low": round(self.ci_low, 4),
                "ci_high": round(self.ci_high, 4), "n": self.n, "constant": self.constant}


def summarize(values: list[float], bounds: tuple[float, float] | None = None) -> Summary | None:
    """Mean with a t-based 95% CI, clipped to ``bounds`` where the quantity has them (0-100 for accuracy).

    One value gives a zero-width interval (n says so; ``cell`` prints "n=1: no CI"); equal values are ``constant``.
    """
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    n = len(vals)
    if n == 0:
        return None
    mean = sum(vals) / n
    if n == 1:
        return Summary(mean, mean, mean, 1, 0.0)
    if all(v == vals[0] for v in vals):
        return Summary(vals[0], vals[0], vals[0], n, 0.0, constant=True)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = t95(n - 1) * sd / math.sqrt(n)
    return Summary(mean, *_clip(mean - half, mean + half, bounds), n, sd)


def _clip(low: float, high: float, bounds: tuple[float, float] | None) -> tuple[float, float]:
    """An interval kept within the quantity's own bounds, where it has them."""
    return (max(low, bounds[0]), min(high, bounds[1])) if bounds else (low, high)


def cell(s: dict | None, digits: int = 1, sign: bool = False, n: int | None = None) -> str:
    """A table cell for a summary (``to_dict``): mean [CI], or how the seeds agreed when they all did.
    ``n``: the seeds behind it, where the summary does not say (a gap)."""
    if not s:
        return "—"
    f = f"{'+' if sign else ''}.{digits}f"
    if (n or s.get("n")) == 1:   # one seed: a value, not an interval
        return f"{s['mean']:{f}} (n=1: no CI)"
    if s.get("constant"):
        return f"{s['mean']:{f}} on every seed" if sign else f"{s['mean']:{f}} (identical seeds)"
    return f"{s['mean']:{f}} [{s['ci_low']:{f}}, {s['ci_high']:{f}}]"


def verdict_text(row: dict) -> str:
    """A row's verdict as tables print it: said to rest on different update rules where it does."""
    return f"{row['verdict']} (rules differ)" if row.get("unmatched") else row["verdict"]


def gap(side: dict[int, float], reference: dict[int, float], bounds: tuple[float, float] | None = None) -> Summary | None:
    """A column minus the reference column, each keyed by seed: paired over the seeds both have, Welch only
    without two of those."""
    side = {s: v for s, v in side.items() if v is not None and math.isfinite(v)}
    reference = {s: v for s, v in reference.items() if v is not None and math.isfinite(v)}
    if not side or not reference:
        return None
    common = sorted(set(side) & set(reference))
    if len(common) >= 2 or set(side) == set(reference):
        return summarize([side[s] - reference[s] for s in common], bounds)
    a, b = summarize(list(side.values())), summarize(list(reference.values()))
    mean = a.mean - b.mean
    va, vb = a.sd ** 2 / a.n, b.sd ** 2 / b.n
    se = math.sqrt(va + vb)
    if se == 0 or a.n < 2 or b.n < 2:   # both sides constant (or one value): no interval, and said so
        return Summary(mean, mean, mean, min(a.n, b.n), 0.0, constant=se == 0 and min(a.n, b.n) >= 2)
    df = (va + vb) ** 2 / ((va ** 2 / (a.n - 1) if a.n > 1 else 0) + (vb ** 2 / (b.n - 1) if b.n > 1 else 0))
    half = t95(df) * se
    return Summary(mean, *_clip(mean - half, mean + half, bounds), min(a.n, b.n), se)


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


# ------------------------------------------------------------------ two runs, paired seed by seed

@dataclass
class PairedChange:
    """current - baseline over the seeds both runs completed.

    ``constant``: every seed moved by exactly the same amount (zero variance). On
    a CPU a job is bit-reproducible, so that is a certain change (or, at 0, none),
    said as such rather than as a zero-width interval.
    """
    mean: float
    ci_low: float | None    # None with one seed: no interval
    ci_high: float | None
    n: int
    constant: bool

    def certain(self) -> bool:
        """The change is not 0: the paired 95% CI excludes 0, or every seed moved by the same non-zero amount."""
        if self.n < 2:
            return False
        if self.constant:
            return self.mean != 0
        return self.ci_low > 0 or self.ci_high < 0

    def text(self, digits: int = 2) -> str:
        if self.constant and self.n >= 2:
            return (f"{self.mean:+.{digits}f} on every one of {self.n} seeds" if self.mean
                    else f"unchanged on all {self.n} seeds")
        if self.n < 2:
            return f"{self.mean:+.{digits}f} (one seed: no CI)"
        return f"{self.mean:+.{digits}f} [{self.ci_low:+.{digits}f}, {self.ci_high:+.{digits}f}] over {self.n} seeds"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n,
                "constant": self.constant}


def paired_change(diffs: list[float]) -> PairedChange | None:
    """Mean of per-seed differences with a paired t 95% CI (scipy); None without a finite difference."""
    vals = np.array([float(d) for d in diffs if d is not None and math.isfinite(d)])
    if len(vals) == 0:
        return None
    mean = float(vals.mean())
    if len(vals) == 1:
        return PairedChange(mean, None, None, 1, False)
    if float(vals.max() - vals.min()) <= 1e-9 * max(1.0, float(np.abs(vals).max())):
        return PairedChange(mean, mean, mean, len(vals), True)
    low, high = sps.ttest_1samp(vals, 0.0).confidence_interval(0.95)
    return PairedChange(mean, float(low), float(high), len(vals), False)


# ------------------------------------------------------------------ two environments' timings, paired

@dataclass
class PairedRatio:
    """B/A throughput over interleaved pairs: the trimmed-mean ratio, a bootstrap 95% CI, a signed-rank p."""
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int

    def verdict(self, threshold: float) -> str:
        """faster / slower: beyond the practical threshold, the 99% CI excluding 1 and the signed-rank
        test agreeing (p < 0.01); same: the whole CI within +-threshold; unknown: neither (more pairs
        may settle it). 99%, not 95%: the gate looks several times as pairs accumulate, over several
        rows; simulated with this machine's noise (10% per sample), 95% gave 7-9 false alarms in 100
        A/A comparisons of two rows, 99% gave 1."""
        if self.n >= 2 and self.p_value < ALPHA:
            if self.ratio < 1 - threshold and self.ci_high < 1:
                return "slower"
            if self.ratio > 1 + threshold and self.ci_low > 1:
                return "faster"
        if self.n >= 2 and 1 - threshold <= self.ci_low and self.ci_high <= 1 + threshold:
            return "same"
        return "unknown"

    def text(self) -> str:
        return (f"{100 * (self.ratio - 1):+.1f}% [{100 * (self.ci_low - 1):+.1f}, {100 * (self.ci_high - 1):+.1f}] "
                f"over {self.n} pairs")

    def to_dict(self) -> dict:
        return {"ratio": self.ratio, "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value,
                "n": self.n}


TRIM = 0.2   # each tail's share left out of the trimmed mean of log ratios
ALPHA = 0.01   # the timing verdicts' significance level (a 99% CI)


def _trimmed(logs, axis=-1):
    return sps.trim_mean(logs, TRIM, axis=axis)


def log_ratio_spread(a: list[float], b: list[float]) -> float:
    """How much the pairs' log ratios log(b/a) scatter: their median absolute deviation (a disturbed pair or
    two cannot move it). Of two measures of the same pairs, the one that scatters less is the one noise
    moves less; a constant change B/A moves every log ratio alike and leaves this alone."""
    logs = np.log(np.asarray(b, float) / np.asarray(a, float))
    return float(np.median(np.abs(logs - np.median(logs))))


def steadier_measure(samples: dict[str, tuple[list[float], list[float]]]) -> str:
    """Of {measure: (a's values, b's values)} over the same pairs, the measure whose log ratios scatter least
    (``log_ratio_spread``); the first one named wins a tie."""
    if not samples:
        raise ValueError("steadier_measure: no measure to choose from")
    return min(samples, key=lambda m: (log_ratio_spread(*samples[m]), list(samples).index(m)))


def paired_ratio(a: list[float], b: list[float]) -> PairedRatio:
    """Ratio b/a of paired positive measurements (throughputs, or times).

    Works on log ratios: the point estimate is their 20% trimmed mean (a disturbed
    pair or two cannot move it, and it wastes less of the data than the median),
    the 99% CI a percentile bootstrap of that trimmed mean, the p-value Wilcoxon's
    signed-rank test against 0 -- all from scipy.stats. The exact signed-rank p
    is at best 2/2^n, so fewer than 8 pairs can never call a change.
    """
    if len(a) != len(b) or not a:
        raise ValueError("paired_ratio: two lists of the same, non-zero length")
    logs = np.log(np.asarray(b, float) / np.asarray(a, float))
    est = float(np.exp(_trimmed(logs)))
    if len(logs) < 2 or np.ptp(logs) == 0:
        p = 1.0 if len(logs) < 2 or logs[0] == 0 else 2.0 ** (1 - len(logs))
        return PairedRatio(est, est, est, p, len(logs))
    boot = sps.bootstrap((logs,), _trimmed, confidence_level=1 - ALPHA, method="percentile", n_resamples=4999,
                         random_state=np.random.default_rng(0))
    p = float(sps.wilcoxon(logs).pvalue)
    return PairedRatio(est, float(np.exp(boot.confidence_interval.low)), float(np.exp(boot.confidence_interval.high)),
                       p, len(logs))
