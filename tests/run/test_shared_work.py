"""Work done once: a repeated computation answered from the worker's record, idle cores lent to
the framework with most jobs left -- and neither changes a single result."""
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parity.run.job import computation_key, make_plan
from parity.run.board import MIN_JOBS_FOR_NEW_WORKER, JobBoard
from parity.run.matrix import Job
from parity.run.runner import usable_cores
from parity.spec.config import BNConfig, RunConfig, run_to_dict
from parity.train.plan import TrainPlan

PARITY = [sys.executable, "-m", "parity.cli"]
TINY = {"dataset": "far", "epochs": 1, "train_images": 64, "batch_size": 32}
PLAN = TrainPlan(arch="resnet-tiny", num_classes=5, image_size=32, seed=0, epochs=1, optimizer="sgd", lr=0.01,
                 lr_schedule="constant", sgd_momentum=0.9,
                 bn=BNConfig(momentum=0.9, epsilon=1e-5, freeze="frozen_bn_batchstats"))


# Written out, not imported: the fields the key may leave out are the labels and the four that
# make_plan resolves against a framework's defaults (knobs.resolve_bn / resolve_optimizer),
# whose resolved values the plan holds (bn_momentum, bn_epsilon, weight_decay, adam_epsilon).
LABEL_FIELDS = ("scenario", "variant")
RESOLVED_FIELDS = ("weight_decay", "adam_epsilon")
RESOLVED_BN_FIELDS = ("momentum", "epsilon")


def test_the_key_keeps_every_run_field_but_the_labels_and_the_resolved_ones():
    """A field the key forgot could share results that differ: every other field must change it."""
    assert {"bn_momentum", "bn_epsilon", "weight_decay", "adam_epsilon"} <= set(PLAN.to_dict())
    run = run_to_dict(RunConfig(**TINY))
    base = computation_key(run, 0, 1, PLAN)
    checked = 0
    for name in run:
        changed = dict(run, bn=dict(run["bn"]))
        if name == "bn":
            for bn_name in run["bn"]:
                changed_bn = dict(changed, bn=dict(run["bn"], **{bn_name: "__changed__"}))
                same = computation_key(changed_bn, 0, 1, PLAN) == base
                assert same == (bn_name in RESOLVED_BN_FIELDS), f"bn.{bn_name}"
                checked += 1
            continue
        changed[name] = "__changed__"
        same = computation_key(changed, 0, 1, PLAN) == base
        assert same == (name in LABEL_FIELDS + RESOLVED_FIELDS), name
        checked += 1
    assert computation_key(run, 1, 1, PLAN) != base and computation_key(run, 0, 2, PLAN) != base
    assert computation_key(run, 0, 1, dataclasses.replace(PLAN, bn=dataclasses.replace(PLAN.bn, momentum=0.99))) != base
    print(f"\n{checked} run fields checked; the labels {LABEL_FIELDS} and the resolved "
          f"{RESOLVED_FIELDS + tuple('bn.' + f for f in RESOLVED_BN_FIELDS)} alone leave the key unchanged")


# each framework's defaults as its backend.native_defaults() reports them (Keras', torch's)
NATIVE = {"tf": {"bn_momentum": 0.99, "bn_epsilon": 1e-3, "adam_epsilon": 1e-7, "adamw_weight_decay": 0.004},
          "torch": {"bn_momentum": 0.9, "bn_epsilon": 1e-5, "adam_epsilon": 1e-8, "adamw_weight_decay": 0.01}}


@pytest.mark.parametrize("framework", ["tf", "torch"])
def test_the_plan_carries_every_field_the_key_leaves_out(framework):
    """The four fields the key leaves out must reach it through the plan: a value other than the
    framework's default changes the plan; the zoo networks keep their own epsilon (not a difference)."""
    def plan(**changes):
        bn = {k: changes.pop(k) for k in ("momentum", "epsilon") if k in changes}
        run = RunConfig(**TINY, **changes, bn=BNConfig(**bn))
        return make_plan(run, 5, 0, NATIVE[framework], framework).to_dict()

    base, adamw = plan(), plan(optimizer="adamw")
    assert plan(momentum=0.5) != base and plan(epsilon=0.5) != base
    assert plan(optimizer="adamw", weight_decay=0.5) != adamw and plan(optimizer="adamw", adam_epsilon=0.5) != adamw
    native = NATIVE[framework]   # stated explicitly, the framework's default is the same computation
    assert plan(momentum=native["bn_momentum"], epsilon=native["bn_epsilon"]) == base
    assert plan(optimizer="adamw", weight_decay=native["adamw_weight_decay"],
                adam_epsilon=native["adam_epsilon"]) == adamw


def _untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k != "elapsed_s"} for epoch in history]


def _job(jid: str, run: RunConfig, framework="torch", seed=0) -> dict:
    return {"id": jid, "framework": framework, "seed": seed, "suite": "t", "run": run_to_dict(run), "path": "-"}


@pytest.mark.parametrize("framework", [pytest.param("torch", marks=pytest.mark.needs("torch")),
                                       pytest.param("tf", marks=pytest.mark.needs("tf"))])
def test_a_repeated_computation_is_answered_from_the_record_and_equals_training_it(framework):
    from parity import frameworks
    from parity.run.job import execute

    backend = frameworks.load(framework)
    native = NATIVE[framework]
    default = RunConfig(**TINY, scenario="momentum-native", variant="native")
    explicit = RunConfig(**TINY, scenario="momentum-matched", variant="matched",
                         bn=BNConfig(momentum=native["bn_momentum"], epsilon=native["bn_epsilon"]))
    different = RunConfig(**TINY, scenario="other", variant="m05", bn=BNConfig(momentum=0.5))
    computed: dict = {}
    t0 = time.perf_counter()
    first = execute(_job("native", default, framework), backend, computed=computed)
    trained_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    repeat = execute(_job("matched", explicit, framework), backend, computed=computed)
    answered_s = time.perf_counter() - t0
    other = execute(_job("m05", different, framework), backend, computed=computed)
    fresh = execute(_job("matched", explicit, framework), backend)   # the same job, trained
    print(f"\n{framework}: trained {trained_s:.2f} s, answered from the record {answered_s:.2f} s")
    assert first["computed_by"] is None and other["computed_by"] is None
    assert repeat["computed_by"] == "native" and fresh["computed_by"] is None
    assert repeat["scenario"] == "momentum-matched" and repeat["config"]["bn"]["momentum"] == native["bn_momentum"]
    for key in ("final_weights_checksum", "final", "init_checksum", "data_fingerprint", "plan"):
        assert repeat[key] == fresh[key], key
    assert _untimed(repeat["history"]) == _untimed(fresh["history"])
    assert other["final_weights_checksum"] != first["final_weights_checksum"]
    assert len(computed) == 2


def _jobs(specs) -> list[Job]:
    return [Job(f"{run.key()}__{fw}__s{seed}", fw, seed, run, Path(f"/nonexistent/{run.key()}{fw}{seed}.json"))
            for run, fw, seed in specs]


def test_the_board_hands_a_possible_repeat_to_the_worker_that_holds_its_twin():
    native = RunConfig(**TINY, scenario="a", variant="native")
    matched = RunConfig(**TINY, scenario="b", variant="matched", bn=BNConfig(momentum=0.9, epsilon=1e-5))
    other = RunConfig(**TINY, scenario="c", variant="x", augment=False)
    jobs = _jobs([(native, "torch", 0), (native, "torch", 1), (other, "torch", 0), (matched, "torch", 0),
                  (native, "tf", 0), (matched, "tf", 0)])
    board = JobBoard(jobs)
    groups = [[j.id for j in g] for g in board.groups["torch"]]
    assert groups == [["a__far__native__torch__s0", "b__far__matched__torch__s0"], ["a__far__native__torch__s1"],
                      ["c__far__x__torch__s0"]]
    assert board.left("torch") == 4 and board.left("tf") == 2
    assert [j.id for j in board.take("tf")] == ["a__far__native__tf__s0", "b__far__matched__tf__s0"]
    assert board.take("tf") is None and board.left("tf") == 0


def test_a_new_worker_only_where_it_pays_and_never_for_a_missing_framework():
    runs = [RunConfig(**TINY, scenario="s", variant=f"v{i}", lr=0.01 * (i + 1)) for i in range(8)]
    board = JobBoard(_jobs([(r, "tf", 0) for r in runs] + [(r, "torch", 0) for r in runs[:2]]))
    assert board.needing_a_worker() == "tf"
    while board.left("tf") >= MIN_JOBS_FOR_NEW_WORKER:
        board.take("tf")
    assert board.needing_a_worker() is None        # too few left to pay for a worker's start
    board = JobBoard(_jobs([(r, "tf", 0) for r in runs]))
    board.unavailable.add("tf")
    assert board.needing_a_worker() is None


BASE = 'scenario = "s"\ndataset = "far"\nepochs = 1\ntrain_images = 64\nbatch_size = 32\n'
# unset = each framework's own default: torch's (0.9, 1e-5) equals every run here, TF's (0.99, 1e-3) none
BN = {"a": "", "b": "momentum = 0.9\nepsilon = 1e-5\n", "c": "momentum = 0.9\n", "d": "epsilon = 1e-5\n"}


def _config(path: Path, seeds, frameworks, variants) -> Path:
    runs = "".join(f'[[runs]]\n{BASE}variant = "{v}"\n[runs.bn]\n{BN[v]}' for v in variants)
    path.write_text(f"seeds = {list(seeds)}\nframeworks = {json.dumps(frameworks)}\n{runs}")
    return path


@pytest.mark.needs("tf", "torch")
@pytest.mark.skipif(usable_cores() < 2, reason="two workers of one framework need two cores")
@pytest.mark.slow   # make test-all; see the README's Tests
def test_idle_cores_go_to_the_framework_with_most_left_and_results_stay_the_same(tmp_path):
    """torch answers 3 of every 4 jobs from its record, so TF has most left and gets a second worker;
    a job run that way equals the same job run alone."""
    cfg = _config(tmp_path / "work.toml", (0, 1, 2), ["tf", "torch"], "abcd")
    out = tmp_path / "pooled"
    proc = subprocess.run(PARITY + ["run", "--config", str(cfg), "--out", str(out), "--threads", "1"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    jobs = {p.name: json.loads(p.read_text()) for p in (out / "jobs").glob("*.json")}
    assert len(jobs) == 24 and all(j["status"] == "ok" for j in jobs.values())
    repeats = sorted(n for n, j in jobs.items() if j["computed_by"])
    logs = sorted(p.name for p in (out / "logs").glob("*.log"))
    print(f"\n{len(repeats)} of 24 jobs answered from a worker's record; worker logs: {logs}")
    assert len(repeats) == 9 and all("__torch__" in n for n in repeats)
    if usable_cores() == 2:   # more cores start a second TF worker at once, without lending
        assert "tf: another worker" in proc.stderr
    by_second = sorted(n for n, j in jobs.items() if j["worker"] == "tf-worker-2")
    assert by_second, logs
    for name in (by_second[-1], repeats[-1]):
        job = jobs[name]
        variant = job["variant"]
        alone = tmp_path / f"alone-{variant}"
        single = _config(tmp_path / f"{variant}.toml", (job["seed"],), [job["framework"]], variant)
        proc = subprocess.run(PARITY + ["run", "--config", str(single), "--out", str(alone), "--threads", "1"],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        (result,) = [json.loads(p.read_text()) for p in (alone / "jobs").glob("*.json")]
        assert result["computed_by"] is None
        for key in ("final_weights_checksum", "final", "plan"):
            assert result[key] == job[key], (name, key)
        assert _untimed(result["history"]) == _untimed(job["history"]), name
