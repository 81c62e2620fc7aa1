"""The real suite's shape: which columns run which rows, on which network and data, with which matched BN."""
from collections import Counter
from pathlib import Path

from parity import frameworks
from parity.run import matrix
from parity.spec.config_file import apply_overrides
from parity.spec.scenarios import REAL_KERAS_SCENARIOS, REAL_SCENARIOS, build_suite

OUT = Path("/nonexistent/real")


def test_tf_and_torch_run_every_row_and_the_keras_columns_theirs():
    suite = build_suite("real")
    jobs = matrix.expand(suite, OUT)
    columns = {}
    for job in jobs:
        columns.setdefault(job.run.scenario, set()).add(job.framework)
    assert set(columns) == set(REAL_SCENARIOS)
    for scenario, have in columns.items():
        keras = {fw for fw, rows in REAL_KERAS_SCENARIOS.items() if scenario in rows}
        assert have == {"tf", "torch"} | keras, scenario
    for keras in ("keras-torch", "keras-jax"):
        assert {s for s, have in columns.items() if keras in have} == {
            "momentum-native", "momentum-matched", "freeze-modes", "small-batch", "frozen-bn"}, keras
    per_run = Counter((j.run.key(), j.framework) for j in jobs)
    assert set(per_run.values()) == {5}   # five seeds each
    assert {j.run.dataset for j in jobs} == {"digits", "photos"}
    assert {(j.run.model, j.run.pretrained) for j in jobs} == {("efficientnet-lite0", "imagenet")}


def test_matched_epsilon_is_the_one_the_weights_were_trained_with():
    real = {r.variant: r.bn for r in build_suite("real").runs if r.scenario == "momentum-ablation"}
    assert (real["all-matched"].momentum, real["all-matched"].epsilon) == (0.9, 1e-3)   # EfficientNet-Lite (TF)
    assert (real["epsilon-native"].momentum, real["epsilon-native"].epsilon) == (0.9, None)
    quick = [r.bn for r in build_suite("quick").runs if r.scenario == "momentum-matched"]
    assert {(bn.momentum, bn.epsilon) for bn in quick} == {(0.9, 1e-5)}   # the ResNets (torch)


def test_narrowing_the_columns_keeps_each_scenario_s_own():
    suite = build_suite("real")
    apply_overrides(suite, {"frameworks": ["keras-jax"]})
    assert {j.run.scenario for j in matrix.expand(suite, OUT)} == set(REAL_KERAS_SCENARIOS["keras-jax"])
    left_out = matrix.jobs_left_out(suite, OUT)
    assert {j.framework for j in left_out} == set(frameworks.NAMES) - {"keras-jax"}
    assert {j.run.scenario for j in left_out if j.framework == "keras-torch"} == set(REAL_KERAS_SCENARIOS["keras-torch"])
