"""Means, t-based 95% CIs, paired and Welch gaps, verdicts."""
import math

import numpy as np
import pytest

from parity.report import stats
from parity.report.stats import Summary, gap, summarize, t95, verdict


def test_t_quantiles():
    """scipy's quantiles: the printed tables' values, no jump to 1.96 past 30 df, fractional df exact."""
    assert t95(1) == pytest.approx(12.706, abs=5e-4) and t95(2) == pytest.approx(4.303, abs=5e-4)
    assert t95(30) == pytest.approx(2.042, abs=5e-4)
    assert t95(31) == pytest.approx(2.0395, abs=5e-4) and t95(31) > 2.0   # the old table jumped to 1.96
    assert t95(1000) == pytest.approx(1.9623, abs=5e-4)
    assert 3.182 < t95(2.5) < 4.303 and t95(2.5) != pytest.approx((4.303 + 3.182) / 2, abs=1e-3)
    assert math.isnan(t95(0.5))


def test_summarize_known_values():
    s = summarize([80.0, 82.0, 84.0])
    half = 4.302653 * 2.0 / math.sqrt(3)           # sd 2, t(2) = 4.302653
    assert (s.n, s.mean, s.sd) == (3, 82.0, pytest.approx(2.0))
    assert s.ci_low == pytest.approx(82.0 - half) and s.ci_high == pytest.approx(82.0 + half)
    assert s.to_dict() == {"mean": 82.0, "ci_low": round(82.0 - half, 4), "ci_high": round(82.0 + half, 4), "n": 3,
                           "constant": False}


def test_identical_seeds_are_said_as_such_not_as_a_zero_width_interval():
    same = summarize([97.2, 97.2, 97.2, 97.2, 97.2])
    assert same.constant and same.n == 5 and same.mean == 97.2
    assert stats.cell(same.to_dict()) == "97.2 (identical seeds)"
    moved = gap({s: 90.0 for s in range(5)}, {s: 93.0 for s in range(5)})   # every seed moved by -3
    assert moved.constant and stats.cell(moved.to_dict(), sign=True) == "-3.0 on every seed"
    assert stats.verdict(moved) == "gap"
    assert stats.cell(summarize([80.0, 82.0, 84.0]).to_dict()) == "82.0 [77.0, 87.0]"


def test_accuracy_intervals_stay_within_0_and_100():
    """The README once quoted 89.3 [76.6, 102.0]: a bounded quantity gets a bounded interval."""
    s = summarize([99.0, 80.0, 89.0], bounds=(0.0, 100.0))
    assert s.ci_high == 100.0 and s.ci_low > 0
    assert summarize([99.0, 80.0, 89.0]).ci_high > 100.0      # without bounds it would not


def test_summarize_edge_cases():
    assert summarize([]) is None
    assert summarize([None, float("nan")]) is None
    one = summarize([70.0])
    assert (one.mean, one.ci_low, one.ci_high, one.n) == (70.0, 70.0, 70.0, 1)
    s = summarize([1.0, None, 3.0, float("inf")])           # missing and non-finite values are dropped
    assert s.n == 2 and s.mean == 2.0


def test_gap_is_paired_when_the_seeds_match():
    tf = {0: 80.0, 1: 82.0, 2: 84.0}
    torch = {0: 70.0, 1: 71.0, 2: 72.0}                     # per-seed differences 10, 11, 12
    g = gap(tf, torch)
    half = 4.302653 * 1.0 / math.sqrt(3)
    assert g.n == 3 and g.mean == pytest.approx(11.0)
    assert g.ci_low == pytest.approx(11.0 - half) and g.ci_high == pytest.approx(11.0 + half)
    # pairing removes the seed-to-seed variation that Welch keeps
    welch = gap(tf, {3: 70.0, 4: 71.0, 5: 72.0})
    assert welch.mean == pytest.approx(11.0)
    assert welch.ci_high - welch.ci_low > g.ci_high - g.ci_low


def test_gap_is_paired_over_the_seeds_both_sides_completed():
    tf = {0: 80.0, 1: 82.0, 2: 84.0}
    torch = {0: 70.0, 1: 71.0, 2: 73.0, 3: 99.0}            # seed 3 failed on the TF side
    g = gap(tf, torch)
    assert g.n == 3 and g.mean == pytest.approx((10 + 11 + 11) / 3)


def test_gap_is_welch_when_the_seeds_differ():
    tf = {0: 80.0, 1: 82.0, 2: 84.0}                        # var 4, n 3
    torch = {3: 70.0, 4: 71.0, 5: 72.0, 6: 73.0}            # var 5/3, n 4, no seed in common
    g = gap(tf, torch)
    va, vb = 4.0 / 3, (5.0 / 3) / 4
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / 2 + vb ** 2 / 3)
    assert 3 < df < 4                                       # fractional df: scipy's t takes it as it is
    assert g.mean == pytest.approx(82.0 - 71.5)
    assert g.n == 3 and g.sd == pytest.approx(se)
    assert g.ci_high - g.mean == pytest.approx(t95(df) * se)
    assert g.mean - g.ci_low == pytest.approx(t95(df) * se)


def test_gap_with_a_missing_side_or_one_seed():
    assert gap({}, {0: 1.0}) is None and gap({0: 1.0}, {}) is None
    g = gap({0: 80.0}, {1: 70.0, 2: 72.0})                  # Welch with n=1 on one side: no interval
    assert g.n == 1 and g.ci_low == g.ci_high == g.mean == pytest.approx(9.0)


def _s(mean, half, n=3):
    return Summary(mean, mean - half, mean + half, n, 1.0)


@pytest.mark.parametrize("g,expected", [
    (_s(5.0, 1.0), "gap"),                 # CI above 0
    (_s(-5.0, 1.0), "gap"),                # CI below 0
    (_s(0.5, 1.0), "parity"),              # the whole CI within +-2 pp
    (_s(-1.0, 1.0), "parity"),             # the tolerance is inclusive
    (_s(0.13, 0.05), "parity"),            # excludes 0, but too small to matter
    (_s(0.5, 7.0), "inconclusive"),        # covers 0 but too wide to call parity
    (_s(3.0, 4.0), "inconclusive"),        # CI covers 0 and the mean is beyond the tolerance
    (_s(1.5, 1.0), "inconclusive"),        # excludes 0 but neither inside nor beyond the tolerance
    (_s(10.0, 0.0, n=1), "inconclusive"),  # one seed: no interval, never a verdict
    (None, "failed"),
], ids=["gap-positive", "gap-negative", "parity", "parity-at-tolerance", "tiny-difference", "wide-ci",
        "wide-ci-large-mean", "straddles-tolerance", "n1", "failed"])
def test_verdicts(g, expected):
    assert verdict(g) == expected


def test_verdicts_from_gaps():
    assert verdict(gap({0: 80.0, 1: 82.0, 2: 84.0}, {0: 70.0, 1: 71.0, 2: 72.0})) == "gap"
    assert verdict(gap({0: 80.0, 1: 81.0, 2: 79.0}, {0: 80.2, 1: 80.9, 2: 79.1})) == "parity"
    assert verdict(gap({0: 80.0, 1: 81.0, 2: 79.0}, {0: 80.5, 1: 80.0, 2: 79.5})) == "inconclusive"  # CI +-2.2
    assert verdict(gap({0: 80.0}, {0: 70.0})) == "inconclusive"
    assert verdict(gap({0: 0.10, 1: 0.12}, {0: 0.101, 1: 0.121}), tolerance=0.05) == "parity"
    assert stats.PARITY_TOLERANCE_PP == 2.0


# ---------------------------------------------------------------- the regression gate's statistics

def test_paired_change_certainty():
    from parity.report.stats import paired_change

    same = paired_change([-2.0, -2.0, -2.0])                 # every seed moved by the same amount
    assert same.constant and same.certain() and "on every one of 3 seeds" in same.text()
    assert not paired_change([0.0, 0.0]).certain()           # identical on every seed: no change
    varied = paired_change([-3.0, -2.0, -4.0, -2.5, -3.5])
    assert varied.certain() and varied.ci_high < 0
    # the interval is scipy's paired t: mean +- t(0.975, 4) * sd / sqrt(5), t = 2.776
    assert varied.ci_low == pytest.approx(-3.0 - 2.776 * math.sqrt(0.625) / math.sqrt(5), abs=1e-3)
    assert not paired_change([-3.0, 3.0, -3.0, 3.0, 0.0]).certain()   # seeds disagree: CI holds 0
    one = paired_change([-25.0])
    assert one.n == 1 and one.ci_low is None and not one.certain() and "one seed" in one.text()
    assert paired_change([None, float("nan")]) is None


def _simulated_verdicts(factor, noise, pairs=12, runs=200):
    import numpy as np

    from parity.report.stats import paired_ratio

    rng = np.random.default_rng(0)
    out = []
    for _ in range(runs):
        a = np.exp(rng.normal(0, noise, pairs))
        b = factor * np.exp(rng.normal(0, noise, pairs))
        out.append(paired_ratio(list(a), list(b)).verdict(0.05))
    return {v: out.count(v) for v in ("slower", "faster", "same", "unknown")}


def test_paired_ratio_verdicts_on_simulated_pairs():
    """12 pairs, 5% noise per sample (the inference rows here). Measured with this seed: A/A 1 false
    alarm in 200 (faster), 30 same; 15% slower caught 199/200; 5% slower 60/200 (the threshold)."""
    aa = _simulated_verdicts(1.0, 0.05)
    slow = _simulated_verdicts(0.85, 0.05)
    print(f"\nA/A: {aa}; 15% slower: {slow}")
    assert aa["slower"] + aa["faster"] <= 3          # measured 1 of 200; headroom 3
    assert slow["slower"] >= 190                    # measured 199 of 200
    assert slow["faster"] == 0 and slow["same"] == 0


def test_paired_ratio_needs_8_pairs_to_call_a_change():
    from parity.report.stats import paired_ratio

    for n in (2, 7):
        r = paired_ratio([1000.0] * n, [500.0 + i for i in range(n)])   # every pair half as fast
        assert r.ratio < 0.6 and r.verdict(0.05) == "unknown", (n, r)
    r = paired_ratio([1000.0] * 8, [500.0 + i for i in range(8)])
    assert r.verdict(0.05) == "slower" and r.p_value < 0.01
    assert paired_ratio([1000.0] * 8, [1000.0 + i for i in range(8)]).verdict(0.05) == "same"


def test_one_seed_is_a_value_not_an_interval():
    """n=1 was printed `72.3 [72.3, 72.3]`: a zero-width interval that looked like certainty."""
    one = summarize([72.3]).to_dict()
    assert stats.cell(one) == "72.3 (n=1: no CI)"
    assert stats.cell({"mean": -24.8, "ci_low": -24.8, "ci_high": -24.8, "constant": False}, sign=True, n=1) \
        == "-24.8 (n=1: no CI)"
    assert stats.cell(summarize([70.0, 74.0]).to_dict()).startswith("72.0 [")


def test_loss_rows_are_bounded_at_zero_like_accuracy():
    """Two seeds of eval loss gave an interval reaching below zero; the tables bound it as accuracy is."""
    from parity.report.aggregate import build_rows

    jobs = [{"scenario": "s", "dataset": "far", "variant": "v", "framework": fw, "seed": seed, "status": "ok",
             "plan": {"bn_momentum": 0.9}, "history": [],
             "final": {"train_loss": 0.1, "train_acc": 90.0, "eval_loss": loss, "eval_acc": 88.0}}
            for fw in ("tf", "torch") for seed, loss in ((0, 0.05), (1, 1.4))]
    row = next(r for r in build_rows(jobs) if r["metric"] == "eval_loss")
    print(row["tf"])
    assert row["tf"]["ci_low"] == 0.0 and row["tf"]["ci_high"] > 1.4


def test_the_gate_judges_the_measure_noise_moves_less():
    """Simulated 12 pairs of one 8% slowdown seen through two measures: wall time with 10% noise per sample,
    CPU time with 2%. The spread of the log ratios picks CPU time, and its ratio calls the slowdown where
    wall time's is unsure; a constant change does not move the spread. A tie goes to the measure named first."""
    from parity.report.stats import log_ratio_spread, paired_ratio, steadier_measure

    rng = np.random.default_rng(1)
    base = 1000 * np.exp(rng.normal(0, 0.05, 12))
    noisy = {"wall": (list(base * np.exp(rng.normal(0, 0.10, 12))), list(0.92 * base * np.exp(rng.normal(0, 0.10, 12)))),
             "cpu": (list(base * np.exp(rng.normal(0, 0.02, 12))), list(0.92 * base * np.exp(rng.normal(0, 0.02, 12))))}
    spreads = {m: log_ratio_spread(*v) for m, v in noisy.items()}
    verdicts = {m: paired_ratio(*v).verdict(0.05) for m, v in noisy.items()}
    print(f"\nspreads {spreads}; verdicts {verdicts}")
    assert steadier_measure(noisy) == "cpu" and verdicts["cpu"] == "slower"
    a, b = noisy["cpu"]
    assert math.isclose(log_ratio_spread(a, [0.5 * x for x in b]), spreads["cpu"], rel_tol=1e-9)
    assert steadier_measure({"wall": (a, b), "cpu": (a, b)}) == "wall"
