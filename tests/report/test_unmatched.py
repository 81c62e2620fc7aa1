"""Nothing silently unmatched: a row built on two different update rules says so (issue 17, item 2).

Adam's epsilon form, the SGD momentum form under a changing learning rate and the coupling of SGD's
and Adam's weight decay differ between Keras' and torch's own optimizers whatever their settings
(measured: tests/twins/test_optim_parity.py, test_train_step_parity.py and the audit). A run matches
them with ``match_rules``; every job and row that depends on one it leaves unmatched carries the label.
"""
import pytest

from parity.report import aggregate, stats, tables
from parity.spec.config import BNConfig, RunConfig, run_to_dict
from parity.spec.validate import validate_run
from parity.spec.knobs import unmatched_rules


@pytest.mark.parametrize("settings,expected", [
    ({}, []),
    ({"lr_schedule": "cosine"}, ["sgd_momentum_form"]),
    ({"lr_schedule": "cosine", "sgd_momentum": 0.0}, []),          # no buffer, no difference
    ({"lr_warmup_steps": 5}, ["sgd_momentum_form"]),               # a warm-up changes the rate too
    ({"optimizer": "adam"}, ["adam_epsilon"]),
    ({"optimizer": "adam", "lr_schedule": "cosine"}, ["adam_epsilon"]),
    ({"optimizer": "adam", "adam_epsilon": 1e-7, "match_rules": ["adam_epsilon"]}, []),
    ({"optimizer": "adamw"}, ["adam_epsilon"]),                    # AdamW's decay is decoupled on both sides
    ({"weight_decay": 5e-4}, ["weight_decay_form"]),
    ({"weight_decay": 5e-4, "lr_schedule": "cosine", "match_rules": ["weight_decay_form"]}, ["sgd_momentum_form"]),
    ({"weight_decay": 5e-4, "lr_schedule": "cosine", "match_rules": ["weight_decay_form", "sgd_momentum_form"]}, []),
    ({"optimizer": "adam", "weight_decay": 0.01}, ["adam_epsilon", "weight_decay_form"]),
])
def test_which_runs_depend_on_an_unmatched_rule(settings, expected):
    assert unmatched_rules(RunConfig(**settings)) == expected


def _jobs(run: RunConfig, acc: float = 80.0) -> list[dict]:
    return [{"scenario": run.scenario, "dataset": run.dataset, "variant": run.variant, "framework": fw, "seed": s,
             "status": "ok", "config": run_to_dict(run), "data_fingerprint": "x", "init_checksum": "y",
             "final": {"eval_acc": acc, "train_acc": acc, "eval_loss": 0.5}} for fw in ("tf", "torch") for s in (0, 1)]


def test_a_row_on_different_rules_is_labelled_in_every_table():
    adam = RunConfig(dataset="far", optimizer="adam", scenario="opt", variant="adam", bn=BNConfig(momentum=0.9))
    sgd = RunConfig(dataset="far", scenario="opt", variant="sgd", bn=BNConfig(momentum=0.9))
    rows = aggregate.build_rows(_jobs(adam) + _jobs(sgd))
    by_variant = {r["variant"]: r for r in rows if r["metric"] == "eval_acc"}
    assert by_variant["adam"]["unmatched"] == ["adam_epsilon"] and by_variant["sgd"]["unmatched"] == []
    assert by_variant["adam"]["verdict"] == "parity"                 # what was measured stays what it is
    assert stats.verdict_text(by_variant["adam"]) == "parity (rules differ)"
    table = {"suite": "t", "rows": rows, "env": {}}
    md = tables.markdown(table)
    assert "| parity (rules differ) |" in md and md.count("(rules differ)") == 3   # eval, train, loss tables
    assert "opt / far / adam: update rules differ between the frameworks" in md
    assert "Keras adds epsilon to sqrt(v)" in md
    assert "parity (rules differ)" in tables.terminal(table)


@pytest.mark.needs("torch")
def test_a_job_records_the_rules_it_could_not_match():
    from parity.frameworks import load
    from parity.run.job import execute

    run = RunConfig(dataset="far", epochs=1, train_images=64, optimizer="adam", lr=1e-3, scenario="opt",
                    bn=BNConfig(momentum=0.9, epsilon=1e-5))
    job = {"id": "adam", "framework": "torch", "seed": 0, "run": run_to_dict(run), "threads": 1}
    result = execute(job, load("torch"))
    assert result["status"] == "ok" and result["unmatched"] == ["adam_epsilon"]


@pytest.mark.parametrize("settings,message", [
    ({"match_rules": ["adam_epsilon"]}, "run.match_rules: 'adam_epsilon' does not apply to optimizer 'sgd'"),
    ({"optimizer": "adam", "match_rules": ["adam_epsilon"]}, "'adam_epsilon' needs adam_epsilon set"),
    ({"match_rules": ["sgd_momentum"]}, "rule names are adam_epsilon, sgd_momentum_form, weight_decay_form "
                                        "(did you mean 'sgd_momentum_form'?)"),
    ({"match_rules": "sgd_momentum_form"}, "run.match_rules: 'sgd_momentum_form' is not allowed -- a list"),
    ({"optimizer": "adamw", "match_rules": ["weight_decay_form"]}, "does not apply to optimizer 'adamw'"),
    ({"weight_decay": -1}, "run.weight_decay: -1 is not allowed"),
    ({"optimizer": "adam", "adam_epsilon": 0}, "run.adam_epsilon: 0 is not allowed"),
    ({"adam_epsilon": 1e-7}, "run.adam_epsilon: 1e-07 is not allowed -- Adam's and AdamW's setting"),
    # a framework's own pipeline with nothing of its own to do is refused, not measured as nothing
    ({"pipeline": "framework"}, "run.pipeline: 'framework' is not allowed -- with a synthetic domain it needs "
                                "render_size > image_size"),
    ({"pipeline": "framework", "dataset": "colorectal_histology"}, "tfds datasets are decoded once"),
    ({"render_size": 100}, "a multiple of image_size (32) with the shared pipeline"),
    ({"render_size": 16}, "run.render_size: 16 is not allowed -- at least image_size (32)"),
])
def test_a_rule_that_cannot_be_matched_is_one_clear_line(settings, message):
    problems = validate_run(RunConfig(**settings))
    print(problems)
    assert len(problems) == 1 and message in problems[0]
