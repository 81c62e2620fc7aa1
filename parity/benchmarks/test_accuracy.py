"""Accuracy parity: run a suite through the real runner and assert what should hold.

Smoke size (default): the documented default difference still opens a gap on
the far domain. Full size (``--benchmark --parity-suite quick``): matched
scenarios are at parity, native momenta give the gap, re-injection closes it,
and nothing regressed against ``--parity-baseline``.
"""
from pathlib import Path

import pytest

from parity.report import aggregate, compare, gate_text, tables
from parity.run.runner import run_suite
from parity.spec.scenarios import build_suite


@pytest.fixture(scope="module")
def table(parity_options, tmp_path_factory):
    out = Path(parity_options.out) if parity_options.out else tmp_path_factory.mktemp("parity") / parity_options.suite
    run_suite(build_suite(parity_options.suite), out, resume=bool(parity_options.out), log=print)
    return tables.write_report(out, parity_options.suite), out


def _row(table, scenario, dataset, variant, metric="eval_acc"):
    for r in table["rows"]:
        if (r["scenario"], r["dataset"], r["variant"], r["metric"]) == (scenario, dataset, variant, metric):
            return r
    pytest.skip(f"{scenario}/{dataset}/{variant} is not in this suite")


def test_no_job_failed(table):
    """The rule `parity run` exits 1 by: a failed job (or one with non-finite metrics) is never a result."""
    data, _ = table
    failed = aggregate.failed_jobs(data)
    assert not failed, failed[:3]


def test_native_momentum_opens_a_gap_on_the_far_domain(table):
    data, _ = table
    row = _row(data, "momentum-native", "far", "native")
    print(f"\nmomentum-native far: tf {row['tf']['mean']:.1f} torch {row['torch']['mean']:.1f} "
          f"gap {row['gap']['mean']:+.1f} ({row['verdict']})")
    assert row["gap"]["mean"] <= -10
    if row["tf"]["n"] >= 3:
        assert row["verdict"] == "gap"


@pytest.mark.parametrize("scenario,dataset,variant", [("momentum-matched", "far", "matched"),
                                                      ("momentum-matched", "near", "matched"),
                                                      ("reinject-bn", "far", "reinject-0.9")])
def test_matched_settings_are_at_parity(table, scenario, dataset, variant):
    """With >= 2 seeds the verdict; at smoke size (one seed, no interval) the gap itself, within the tolerance."""
    from parity.report.stats import PARITY_TOLERANCE_PP

    data, _ = table
    row = _row(data, scenario, dataset, variant)
    print(f"\n{scenario} {dataset} {variant}: gap {row['gap']['mean']:+.2f} pp over {row['tf']['n']} seed(s) "
          f"({row['verdict']})")
    if row["tf"]["n"] >= 2:
        assert row["verdict"] == "parity", row
    else:
        assert abs(row["gap"]["mean"]) <= PARITY_TOLERANCE_PP, row


def test_no_regression_against_the_baseline(table, parity_options):
    if not parity_options.baseline:
        pytest.skip("no --parity-baseline given")
    _, out = table
    result = compare.compare_dirs(parity_options.baseline, out)
    print("\n" + gate_text.markdown(result))
    assert not result["regressions"], result["regressions"]
