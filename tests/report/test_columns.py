"""Tables with one column per framework (issue 18, item 2): every framework that ran, a gap to the reference
for each of the others, and the two-column table and parity.json exactly as before.

The four-framework folder is made from the published quick results (``test_gate``'s copy and edit helpers):
two of its rows, their tf and torch jobs as published, plus a keras-torch column (torch's jobs with a small
offset per seed) and a keras-jax column (tf's jobs with an offset per seed), same fingerprints and starting
checksums. Every gap is checked against numpy on the job files' values. Pure Python: no framework runs.
"""
import csv
import json
import math
import shutil

import numpy as np
import pytest
from test_gate import HEADLINE, MATCHED, PUBLISHED, SEEDS, _job, _edit, fail, shift

from parity.cli import main
from parity.report import aggregate, plots, tables

RUNS = (HEADLINE, MATCHED)
FOUR = ("tf", "torch", "keras-torch", "keras-jax")
# eval_acc added to the source job, per seed: keras-torch close to torch, keras-jax close to tf
OFFSETS = {"keras-torch": ("torch", (0.4, -0.2, 0.6, 0.0, 0.2)), "keras-jax": ("tf", (-1.0, 0.5, -0.3, 0.8, 0.0))}
T95_DF4 = 2.7764451051977987   # Student's t, 0.975 quantile, 4 degrees of freedom (5 seeds)


def _two(folder):
    """tf and torch jobs of RUNS, as published."""
    (folder / "jobs").mkdir(parents=True)
    for run in RUNS:
        for fw in ("tf", "torch"):
            for seed in SEEDS:
                shutil.copy(_job(PUBLISHED, run, fw, seed), _job(folder, run, fw, seed))
    return folder


def _add_keras_columns(folder, names=("keras-torch", "keras-jax")):
    for run in RUNS:
        for fw in names:
            source, offsets = OFFSETS[fw]
            for seed in SEEDS:
                job = json.loads(_job(folder, run, source, seed).read_text())
                job.update(framework=fw, id=f"{run}__{fw}__s{seed}")
                job["final"]["eval_acc"] += offsets[seed]
                _job(folder, run, fw, seed).write_text(json.dumps(job))
    return folder


@pytest.fixture
def four(tmp_path):
    return _add_keras_columns(_two(tmp_path / "four"))


def _acc(folder, run, fw, metric="eval_acc"):
    return np.array([json.loads(_job(folder, run, fw, s).read_text())["final"][metric] for s in SEEDS])


def _by_hand(diffs, bounds=(-100.0, 100.0)):
    """Mean and paired 95% CI of per-seed values, numpy only."""
    mean = float(np.mean(diffs))
    if np.all(diffs == diffs[0]):
        return mean, mean, mean
    half = T95_DF4 * float(np.std(diffs, ddof=1)) / math.sqrt(len(diffs))
    return mean, max(mean - half, bounds[0]), min(mean + half, bounds[1])


def _row(rows, run, metric="eval_acc"):
    scenario, dataset, variant = run.split("__")
    return next(r for r in rows if (r["scenario"], r["dataset"], r["variant"], r["metric"])
                == (scenario, dataset, variant, metric))


def _rows(folder, reference="torch"):
    jobs, problems = aggregate.load_jobs(folder)
    assert not problems
    return aggregate.build_rows(jobs, reference)


@pytest.mark.parametrize("reference", ["torch", "tf"])
def test_every_column_and_each_gap_to_the_reference_paired_by_seed(four, reference):
    rows = _rows(four, reference)
    for run in RUNS:
        row = _row(rows, run)
        assert tuple(row["columns"]) == FOUR and row["reference"] == reference
        assert tuple(row["gaps"]) == tuple(fw for fw in FOUR if fw != reference)
        for fw in FOUR:
            assert row["columns"][fw]["mean"] == pytest.approx(float(np.mean(_acc(four, run, fw))), abs=1e-4)
            assert row["columns"][fw]["n"] == 5
        for fw, got in row["gaps"].items():
            mean, low, high = _by_hand(_acc(four, run, fw) - _acc(four, run, reference))
            print(f"{run} gap {fw} - {reference}: table {got['mean']:+.4f} [{got['ci_low']:+.4f}, "
                  f"{got['ci_high']:+.4f}] {got['verdict']}; numpy {mean:+.4f} [{low:+.4f}, {high:+.4f}]")
            assert (got["mean"], got["ci_low"], got["ci_high"]) == pytest.approx((mean, low, high), abs=6e-5)
    # the verdicts the offsets were chosen for
    assert _row(rows, MATCHED)["gaps"]["keras-jax"]["verdict"] == "parity"
    if reference == "torch":
        assert _row(rows, HEADLINE)["gaps"]["keras-jax"]["verdict"] == "gap"      # Keras' momentum 0.99, as tf
        assert _row(rows, HEADLINE)["gaps"]["keras-torch"]["verdict"] == "parity"
    else:   # against tf, torch's and keras-torch's columns are ahead by the same gap
        assert _row(rows, HEADLINE)["gaps"]["keras-torch"]["verdict"] == "gap"
        assert _row(rows, HEADLINE)["gaps"]["keras-jax"]["verdict"] == "parity"


def test_the_reference_changes_the_gaps_not_the_old_keys(four):
    published = {(r["scenario"], r["dataset"], r["variant"], r["metric"]): r
                 for r in json.loads((PUBLISHED / "parity.json").read_text())["rows"]}
    for reference in ("torch", "tf", "keras-jax"):
        for row in _rows(four, reference):
            old = published[row["scenario"], row["dataset"], row["variant"], row["metric"]]
            assert {k: row[k] for k in old} == old   # tf, torch, gap (TF - torch), verdict, note...: as published
    by_torch, by_tf = _row(_rows(four), HEADLINE), _row(_rows(four, "tf"), HEADLINE)
    print(f"headline: gap tf - torch {by_torch['gaps']['tf']['mean']:+.4f}, "
          f"gap torch - tf {by_tf['gaps']['torch']['mean']:+.4f}, legacy gap {by_tf['gap']['mean']:+.4f}")
    assert by_tf["gaps"]["torch"]["mean"] == pytest.approx(-by_torch["gaps"]["tf"]["mean"], abs=1e-4)
    assert by_tf["gap"] == by_torch["gap"] and by_tf["gaps"]["torch"]["verdict"] == by_torch["verdict"]


def test_a_fingerprint_mismatch_in_one_column_refuses_its_gap(four):
    _edit(four, HEADLINE, "keras-jax", [2], lambda job, s: job.update(data_fingerprint="0000000000000000"))
    rows = _rows(four)
    torch_fp = json.loads(_job(four, HEADLINE, "torch", 2).read_text())["data_fingerprint"]
    for metric in aggregate.METRICS:
        row = _row(rows, HEADLINE, metric)
        print(f"{metric}: note {row['note']!r}; gaps {[(fw, g['verdict']) for fw, g in row['gaps'].items()]}")
        assert f"data fingerprints differ for seed 2 (torch {torch_fp} vs keras-jax 0000000000000000)" in row["note"]
        assert row["gaps"]["keras-jax"] == {"verdict": "failed"}
        assert row["gaps"]["tf"]["verdict"] != "failed" and row["gaps"]["keras-torch"]["verdict"] != "failed"
    assert _row(rows, MATCHED)["note"] == ""
    md = tables.markdown({"suite": "t", "rows": rows, "env": {}})
    assert "- momentum-native / far / native: data fingerprints differ for seed 2" in md


def test_a_column_that_is_not_installed_says_so(four):
    fail(HEADLINE, "keras-jax", SEEDS)(four)
    _edit(four, HEADLINE, "keras-jax", SEEDS,
          lambda job, s: job.update(error="keras-jax not installed: no module named 'jax'"))
    rows = _rows(four)
    row = _row(rows, HEADLINE)
    print(row["note"], row["gaps"])
    assert row["not_installed"] == ["keras-jax"] and row["note"].startswith("keras-jax not installed")
    assert row["gaps"]["keras-jax"]["verdict"] == "failed" and row["gaps"]["tf"]["verdict"] == "gap"
    line = next(x for x in tables.markdown({"suite": "t", "rows": rows, "env": {}}).splitlines()
                if x.startswith("| momentum-native | far | native |"))
    print(line)
    cells = line.split(" | ")
    assert cells[6] == "not installed" and cells[9] == "—"   # the Keras/JAX column and its gap
    assert line.endswith("| 5/5/5/0 | **gap** | parity | failed |")   # one verdict cell per column


def test_markdown_csv_terminal_and_html_have_every_column(four, capsys):
    assert main(["report", str(four)]) == 0
    terminal = capsys.readouterr().out
    md = (four / "parity.md").read_text()
    head = ("| scenario | dataset | variant | TF | torch | Keras/torch | Keras/JAX | gap (TF − torch) | "
            "gap (Keras/torch − torch) | gap (Keras/JAX − torch) | n tf/torch/keras-torch/keras-jax | verdict TF | "
            "verdict Keras/torch | verdict Keras/JAX |")
    print(head, md.split(head)[1].splitlines()[2], terminal.splitlines()[0], sep="\n")
    assert md.count(head) == 3   # eval, train, loss
    assert "gap = TF − torch, Keras/torch − torch, Keras/JAX − torch in percentage points" in md
    assert "| 5/5/5/5 | **gap** | parity | **gap** |" in md   # one verdict cell per column
    assert "Keras/JAX eval %" in terminal and "gap Keras/JAX − torch pp" in terminal
    html = (four / "report.html").read_text()
    assert "<th>Keras/JAX</th>" in html and "<th>gap (Keras/torch − torch)</th>" in html
    assert "<th>verdict Keras/JAX</th>" in html and '<td class="gap">gap</td>' in html
    with open(four / "parity.csv", newline="") as f:
        header, *body = list(csv.reader(f))
    published = (PUBLISHED / "parity.csv").read_text().splitlines()[0].split(",")
    assert header[:len(published)] == published   # the old columns first, in their places
    keras = ("keras-torch", "keras-jax")
    assert header[len(published):] == (
        [f"{fw}_{k}" for fw in keras for k in ("mean", "ci_low", "ci_high", "n")]
        + [f"gap_{fw}_minus_torch_{k}" for fw in keras for k in ("mean", "ci_low", "ci_high", "verdict")])
    assert len(body) == 2 * len(aggregate.METRICS) and all(len(r) == len(header) for r in body)
    assert {p.name for p in (four / "plots").glob("*.png")} == {
        "curves_momentum-native_far_native.png", "curves_momentum-matched_far_matched.png", "bn_lag.png", "gaps.png"}


def test_parity_json_keeps_the_old_keys_and_adds_the_columns(four, capsys):
    assert main(["report", str(four), "--reference", "tf"]) == 0
    data = json.loads((four / "parity.json").read_text())
    row = data["rows"][0]
    print({k: row[k] for k in ("reference", "verdict")}, list(data)[:3], list(row))
    assert list(data)[:2] == ["schema", "columns_schema"] and (data["schema"], data["columns_schema"]) == (1, 1)
    assert list(row)[:13] == ["scenario", "dataset", "variant", "metric", "tf", "torch", "gap", "verdict",
                              "failed_jobs", "note", "not_installed", "unmatched", "reference"]
    assert row["reference"] == "tf" and list(row["columns"]) == list(FOUR) and "tf" not in row["gaps"]
    assert tables.read_table(four)["rows"] == aggregate.build_rows(aggregate.load_jobs(four)[0], "tf")
    assert "gap (torch − TF)" in (four / "parity.md").read_text()


def test_two_columns_are_written_as_before_and_read_with_their_columns(tmp_path):
    copy = tmp_path / "quick"
    shutil.copytree(PUBLISHED / "jobs", copy / "jobs")
    assert main(["report", str(copy)]) == 0
    for name in ("parity.json", "parity.md", "parity.csv"):
        same = (copy / name).read_bytes() == (PUBLISHED / name).read_bytes()
        print(f"{name}: {(copy / name).stat().st_size} bytes, identical to the published file: {same}")
        assert same, name
    assert "columns" not in json.loads((copy / "parity.json").read_text())["rows"][0]
    # the published file, read back: the same rows build_rows makes from its jobs, column keys included
    read = tables.read_table(PUBLISHED)["rows"]
    assert read == aggregate.build_rows(aggregate.load_jobs(PUBLISHED)[0])
    assert read[0]["columns"] == {"tf": read[0]["tf"], "torch": read[0]["torch"]}
    assert read[0]["gaps"] == {"tf": {**read[0]["gap"], "verdict": read[0]["verdict"]}}


def test_compare_is_clean_on_identical_runs_and_catches_a_keras_torch_drop(four, tmp_path, capsys):
    again = tmp_path / "again"
    shutil.copytree(four, again)
    assert main(["compare", str(four), str(again)]) == 0
    err = capsys.readouterr().err
    print(err.strip())
    assert "6/6 rows unchanged, 40/40 jobs bit-identical" in err
    shift(HEADLINE, "keras-torch", "eval_acc", -25)(again)
    assert main(["compare", str(four), str(again)]) == 1
    out = capsys.readouterr().out
    print("\n".join(x for x in out.splitlines() if "keras-torch" in x))
    assert "momentum-native/far/native/eval_acc [keras-torch]: " in out and "-25.00 on every one of 5 seeds" in out
    assert "momentum-native/far/native/eval_acc [gap keras-torch - torch]: " in out
    assert "momentum-native/far/native/eval_acc [gap keras-torch - torch]: verdict parity -> gap" in out
    assert "[tf]" not in out and "[keras-jax]" not in out and "[gap tf - torch]" not in out


def test_compare_lists_a_new_column_and_fails_on_a_vanished_one(four, tmp_path, capsys):
    two = _two(tmp_path / "two")
    assert main(["compare", str(two), str(four)]) == 0
    out = capsys.readouterr().out
    print(out.splitlines()[4])
    assert "momentum-native/far/native [keras-jax]: framework column not in the baseline" in out
    three = tmp_path / "three"
    shutil.copytree(two, three)
    _add_keras_columns(three, ("keras-torch",))
    assert main(["compare", str(four), str(three)]) == 1
    out = capsys.readouterr().out
    print(out.splitlines()[4])
    assert "momentum-native/far/native [keras-jax]: framework column missing now" in out


@pytest.mark.parametrize("command", ["report", "compare"])
def test_an_unknown_reference_is_one_line_and_exit_2(four, capsys, command):
    args = [command, str(four)] + ([str(four)] if command == "compare" else []) + ["--reference", "keras-jx"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    print(err)
    assert len(err) == 1 and "--reference: unknown framework 'keras-jx' (did you mean 'keras-jax'?)" in err[0]


def test_plots_draw_every_framework(tmp_path):
    """The ablation bars and the batch-size curves of the published cpu suite, with two more columns."""
    jobs = [j for j in aggregate.load_jobs(PUBLISHED.parent / "cpu")[0]
            if j["scenario"] in ("momentum-ablation", "small-batch")]
    extra = [{**j, "framework": fw,
              "final": {**j["final"], "eval_acc": j["final"]["eval_acc"] + OFFSETS[fw][1][j["seed"]]}}
             for fw in ("keras-torch", "keras-jax") for j in jobs if j["framework"] == OFFSETS[fw][0]]
    rows = aggregate.build_rows(jobs + extra)
    written = plots.gap_attribution(rows, tmp_path) + plots.batch_size(rows, tmp_path)
    print([(p.name, p.stat().st_size) for p in written])
    assert [p.name for p in written] == ["gap_attribution.png", "batch_size.png"]
    assert all(p.stat().st_size > 10_000 for p in written)
