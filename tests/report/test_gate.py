"""The regression gate, table-driven: changes planted into copies of the published quick results.

``results/quick`` is a real result folder: 5 seeds x 9 runs x 2 frameworks. Each case
copies it, edits job files the way a regression would look (lower accuracy on every
seed of one side, a failed seed, a vanished column...), re-renders the copy with
``parity report`` as a user would where the edit could trip it (RENDERED), and runs ``parity compare PUBLISHED COPY``: exit 1 for
each planted regression, exit 0 for an improvement, a re-render, a change below the
threshold and a change the seeds cannot tell from 0. Pure Python: no framework runs.
"""
import json
import shutil
from pathlib import Path

import pytest

from parity.cli import main

PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "quick"
SEEDS = range(5)


def _job(folder: Path, run: str, fw: str, seed: int) -> Path:
    return folder / "jobs" / f"{run}__{fw}__s{seed}.json"


def _edit(folder: Path, run: str, fw: str, seeds, fn) -> None:
    for seed in seeds:
        path = _job(folder, run, fw, seed)
        job = json.loads(path.read_text())
        fn(job, seed)
        job["final_weights_checksum"] = f"planted{seed}"   # a changed result ends with other weights
        path.write_text(json.dumps(job))


def other_cpu(cpu):
    """Every job rerun on another CPU: its env names that CPU and its final weights differ in the last bits."""
    def plant(folder):
        for path in (folder / "jobs").glob("*.json"):
            job = json.loads(path.read_text())
            job["env"]["cpu"] = cpu
            job["final_weights_checksum"] = "other-cpu"
            path.write_text(json.dumps(job))
    return plant


def shift(run, fw, metric, by, seeds=SEEDS):
    """``by`` added to ``metric`` on the given seeds (a number, or a function of the seed)."""
    def plant(folder):
        def f(job, seed):
            job["final"][metric] += by(seed) if callable(by) else by
        _edit(folder, run, fw, seeds, f)
    return plant


def fail(run, fw, seeds):
    def plant(folder):
        def f(job, seed):
            job.update(status="failed", error="RuntimeError: planted failure")
            job.pop("final", None)
        _edit(folder, run, fw, seeds, f)
    return plant


def delete(run, fws=("tf", "torch"), seeds=SEEDS):
    def plant(folder):
        for fw in fws:
            for seed in seeds:
                _job(folder, run, fw, seed).unlink()
    return plant


def nan(run, fw, seed):
    def plant(folder):
        _edit(folder, run, fw, [seed], lambda job, s: job["final"].update(eval_acc=float("nan")))
    return plant


def both(*plants):
    def plant(folder):
        for p in plants:
            p(folder)
    return plant


HEADLINE = "momentum-native__far__native"
MATCHED = "momentum-matched__far__matched"

# (id, planted change, exit code, a text the output must contain)
CASES = [
    ("tf-headline-minus-25pp", shift(HEADLINE, "tf", "eval_acc", -25), 1,
     "momentum-native/far/native/eval_acc [tf]"),
    ("tf-headline-minus-10pp", shift(HEADLINE, "tf", "eval_acc", -10), 1, "-10.00 on every one of 5 seeds"),
    ("tf-headline-minus-2pp", shift(HEADLINE, "tf", "eval_acc", -2), 1, "[tf]"),
    ("torch-two-phase-minus-12pp", shift("freeze-modes__far__two_phase", "torch", "eval_acc", -12), 1,
     "freeze-modes/far/two_phase/eval_acc [torch]"),
    ("torch-near-native-minus-2pp", shift("momentum-native__near__native", "torch", "eval_acc", -2), 1, "[torch]"),
    ("torch-drop-varies-by-seed", shift("freeze-modes__far__none", "torch", "eval_acc", lambda s: -2 - s), 1,
     "over 5 seeds"),
    ("matched-row-leaves-parity", shift(MATCHED, "tf", "eval_acc", -3), 1, "verdict parity ->"),
    ("gap-grows-while-each-side-moves-less", both(shift(MATCHED, "tf", "eval_acc", -0.8),
                                                  shift(MATCHED, "torch", "eval_acc", +0.8)), 1, "[gap tf - torch]"),
    ("eval-loss-up", shift("reinject-bn__far__reinject-0.9", "torch", "eval_loss", +0.05), 1, "eval_loss [torch]"),
    ("one-failed-seed", fail(HEADLINE, "torch", [3]), 1, "failed job momentum-native__far__native__torch__s3"),
    ("four-failed-seeds", fail(HEADLINE, "torch", [0, 1, 2, 3]), 1, "__torch__s2"),
    ("missing-seed", delete(MATCHED, ("tf",), [4]), 1, "missing seed: job momentum-matched__far__matched__tf__s4"),
    ("missing-framework-column", delete("reinject-bn__far__reinject-0.9", ("tf",)), 1, "framework column missing"),
    ("vanished-row", delete("freeze-modes__far__frozen_bn_inference"), 1, "row in the baseline, missing now"),
    ("nan-metric", nan(HEADLINE, "tf", 1), 1, "eval_acc not a finite number"),
    # exit 0
    ("improvement-alone", shift(HEADLINE, "tf", "eval_acc", +2), 0, "Improvements"),
    ("re-rendered", lambda folder: None, 0, "90/90 jobs bit-identical"),
    # the same table rerun on another CPU kind: every job's floats differ in the last bits, and the line says why
    ("another-cpu", other_cpu("Intel(R) Xeon(R) Processor"), 0,
     "27/27 rows unchanged, 0/90 jobs bit-identical (the baseline ran on AMD EPYC, this run on Intel(R) Xeon(R) "
     "Processor: jobs are bit-reproducible on one CPU kind, not across)"),
    # rerun where runs record the CPU's model too: the baseline's bare name may hide another model
    ("same-cpu-name-model-recorded", other_cpu("AMD EPYC (family 23 model 1 stepping 2, avx2)"), 0,
     "0/90 jobs bit-identical (the baseline's CPU is recorded only as AMD EPYC, this run's as AMD EPYC (family 23 "
     "model 1 stepping 2, avx2): one name may cover several CPU models"),
    ("below-threshold", shift(HEADLINE, "tf", "eval_acc", -0.5), 0, "27/27 rows unchanged"),
    # mean -1.2 pp, beyond the threshold, but the seeds disagree: the paired CI holds 0
    ("seeds-disagree", shift(HEADLINE, "torch", "eval_acc", lambda s: (-7, 5, -7, 5, -2)[s]), 0, "no regression"),
    ("torch-improves-on-the-side-ahead", shift(HEADLINE, "torch", "eval_acc", +2), 0, "because a side improved"),
    ("failed-baseline-twin-not-compared", lambda folder: None, 0, "not compared"),
]


# The gate reads the job files alone; the cases whose copy a user's `parity report` could trip on (failed, missing
# or non-finite jobs) or that are about a re-render are re-rendered first. Rendering every case's copy (its plots
# take ~3 s) cost make test ~50 s more.
RENDERED = {"one-failed-seed", "four-failed-seeds", "missing-seed", "missing-framework-column", "vanished-row",
            "nan-metric", "re-rendered"}


@pytest.mark.parametrize("case_id,plant,code,expected", CASES, ids=[c[0] for c in CASES])
def test_planted_change(tmp_path, capsys, case_id, plant, code, expected):
    copy = tmp_path / "quick"
    shutil.copytree(PUBLISHED, copy, ignore=shutil.ignore_patterns("plots", "report.html", "report.png", "jobs.previous*"))
    plant(copy)
    baseline = PUBLISHED
    if case_id == "failed-baseline-twin-not-compared":   # the baseline failed a seed the current run finished
        baseline = tmp_path / "baseline"
        shutil.copytree(PUBLISHED / "jobs", baseline / "jobs")
        fail(MATCHED, "tf", [1])(baseline)
    if case_id in RENDERED:
        assert main(["report", str(copy)]) == 0
        capsys.readouterr()
    got = main(["compare", str(baseline), str(copy), "--md", str(tmp_path / "gate.md")])
    out = capsys.readouterr().out
    print(out.splitlines()[4] if len(out.splitlines()) > 4 else out)
    assert got == code, out
    assert expected in out, out
    assert (tmp_path / "gate.md").read_text() in out


def test_at_least_12_cases_of_each_outcome_together():
    assert len(CASES) >= 12 and {c[2] for c in CASES} == {0, 1}


def test_a_current_run_with_failed_jobs_cannot_pass_even_if_the_baseline_failed_too(tmp_path, capsys):
    base, cur = tmp_path / "base", tmp_path / "cur"
    for folder in (base, cur):
        shutil.copytree(PUBLISHED / "jobs", folder / "jobs")
        fail(HEADLINE, "tf", [2])(folder)
    assert main(["compare", str(base), str(cur)]) == 1
    assert "failed job momentum-native__far__native__tf__s2" in capsys.readouterr().out


def test_a_folder_without_job_files_is_bad_input(tmp_path, capsys):
    (tmp_path / "only-table").mkdir()
    shutil.copy(PUBLISHED / "parity.json", tmp_path / "only-table" / "parity.json")
    assert main(["compare", str(PUBLISHED), str(tmp_path / "only-table")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no jobs/ folder" in err[0]


@pytest.mark.parametrize("option,value", [("--acc-threshold", "-1"), ("--acc-threshold", "x"),
                                          ("--acc-threshold", "inf"), ("--loss-threshold", "0")])
def test_bad_thresholds_are_one_line_and_exit_2(capsys, option, value):
    assert main(["compare", str(PUBLISHED), str(PUBLISHED), option, value]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_larger_threshold_lets_a_2pp_drop_pass(tmp_path, capsys):
    copy = tmp_path / "quick"
    shutil.copytree(PUBLISHED / "jobs", copy / "jobs")
    shift(HEADLINE, "tf", "eval_acc", -2)(copy)
    assert main(["compare", str(PUBLISHED), str(copy), "--acc-threshold", "3"]) == 0
    assert main(["compare", str(PUBLISHED), str(copy)]) == 1


def test_timings_of_two_folders_are_not_judged(tmp_path, capsys):
    base, cur = tmp_path / "base", tmp_path / "cur"
    for folder, ips in ((base, 1000.0), (cur, 300.0)):
        shutil.copytree(PUBLISHED / "jobs", folder / "jobs")
        (folder / "throughput.json").write_text(json.dumps({"schema": 1, "env": {}, "rows": [
            {"framework": "torch", "mode": "eager", "kind": "train", "loader": False,
             "images_per_s": {"min": ips, "median": ips, "max": ips}, "spread_pct": 0.0}], "overhead": []}))
    assert main(["compare", str(base), str(cur)]) == 0
    assert "not comparable" in capsys.readouterr().out
