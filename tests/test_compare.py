"""The regression gate: clean on re-runs, exit 1 on planted regressions, exit 2 on bad input."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import torch_bn_momentum_patch

PARITY = [sys.executable, "-m", "parity.cli"]

# Changes torch's BatchNorm momentum default (0.1 -> 0.01, i.e. Keras' 0.99) in the
# worker processes, behind the suite's back, as an upgrade changing a default would.
PATCH = torch_bn_momentum_patch(0.01)


def _smoke(out: Path, env=None):
    proc = subprocess.run(PARITY + ["run", "--suite", "smoke", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    return out


def _compare(a, b, *extra):
    return subprocess.run(PARITY + ["compare", str(a), str(b), *extra], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return _smoke(tmp_path_factory.mktemp("base") / "smoke")


def test_two_reruns_compare_clean(baseline, tmp_path):
    again = _smoke(tmp_path / "again")
    proc = _compare(baseline, again, "--md", str(tmp_path / "summary.md"))
    assert proc.returncode == 0, proc.stdout
    assert "no regression" in (tmp_path / "summary.md").read_text()


def test_a_default_changed_behind_the_suites_back_is_caught(baseline, tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(PATCH)
    env = dict(os.environ, PYTHONPATH=f"{tmp_path / 'site'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    planted = _smoke(tmp_path / "planted", env=env)
    proc = _compare(baseline, planted)
    assert proc.returncode == 1, proc.stdout
    assert "torch.bn_momentum: 0.9 -> 0.99" in proc.stdout              # the changed default, named
    assert "momentum-native/far/native/eval_acc [torch]" in proc.stdout  # and the row it regressed


def _throughput(median, spread=2.0):
    return {"schema": 1, "env": {}, "rows": [
        {"framework": "torch", "mode": "eager", "kind": "train", "loader": False,
         "images_per_s": {"min": median * 0.99, "median": median, "max": median * 1.01}, "spread_pct": spread}],
        "overhead": []}


def test_a_throughput_cut_by_30_percent_is_a_regression_and_noise_is_not(baseline, tmp_path):
    base, cur = tmp_path / "b", tmp_path / "c"
    shutil.copytree(baseline, base)
    shutil.copytree(baseline, cur)
    (base / "throughput.json").write_text(json.dumps(_throughput(1000)))
    (cur / "throughput.json").write_text(json.dumps(_throughput(970)))      # within noise
    assert _compare(base, cur).returncode == 0
    (cur / "throughput.json").write_text(json.dumps(_throughput(700)))      # -30%
    proc = _compare(base, cur)
    assert proc.returncode == 1 and "throughput torch/eager/train/memory/resnet-tiny/32px/b32: 1000 -> 700" in proc.stdout


@pytest.mark.parametrize("content", ["{truncated", json.dumps({"schema": 99, "rows": []}), None])
def test_a_corrupt_or_missing_baseline_exits_2_with_one_line(baseline, tmp_path, content):
    bad = tmp_path / "bad"
    bad.mkdir()
    if content is not None:
        (bad / "parity.json").write_text(content)
    proc = _compare(bad, baseline)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_environment_differences_are_listed():
    from parity.compare import compare_tables, _flatten

    row = {"scenario": "s", "dataset": "far", "variant": "v", "metric": "eval_acc", "verdict": "parity",
           "tf": {"mean": 90.0, "ci_low": 89.0, "ci_high": 91.0, "n": 3},
           "torch": {"mean": 90.0, "ci_low": 89.0, "ci_high": 91.0, "n": 3},
           "gap": {"mean": 0.0, "ci_low": -1.0, "ci_high": 1.0}}
    base = {"schema": 1, "rows": [row], "env": {"tf": {"keras": "3.13.0"}, "torch": {"torch": "2.13.0"}}}
    cur = {"schema": 1, "rows": [dict(row, tf=dict(row["tf"], mean=80.0))],
           "env": {"tf": {"keras": "3.15.1"}, "torch": {"torch": "2.13.0"}}}
    result = compare_tables(base, cur)
    assert any("[tf]" in r for r in result["regressions"]) and not any("[torch]" in r for r in result["regressions"])
    be, ce = _flatten(base["env"]), _flatten(cur["env"])
    assert [k for k in be if be[k] != ce[k]] == ["tf.keras"]


def test_throughput_results_are_written_with_their_plot(tmp_path):
    from PIL import Image

    from parity import benchrun

    data = _throughput(1000)
    data["rows"][0].update(device="cpu", threads=2)
    data["overhead"] = [{"framework": "torch", "suite_s": 0.1, "minimal_s": 0.1, "overhead_pct": 0.5}]
    benchrun.write(data, tmp_path)
    assert "| torch | eager | train | in memory | 1000 [990, 1010]" in (tmp_path / "throughput.md").read_text()
    with Image.open(tmp_path / "plots" / "throughput.png") as img:
        img.verify()


def test_a_side_that_stopped_producing_results_is_a_regression():
    from parity.compare import compare_tables

    row = {"scenario": "s", "dataset": "far", "variant": "v", "metric": "eval_acc", "verdict": "parity",
           "tf": {"mean": 90.0, "ci_low": 89.0, "ci_high": 91.0, "n": 3},
           "torch": {"mean": 90.0, "ci_low": 89.0, "ci_high": 91.0, "n": 3},
           "gap": {"mean": 0.0, "ci_low": -1.0, "ci_high": 1.0}}
    broken = dict(row, torch=None, gap=None, verdict="failed")
    result = compare_tables({"rows": [row]}, {"rows": [broken]})
    assert any("[torch]: had results in the baseline, none now" in r for r in result["regressions"])
    assert any("verdict parity -> failed" in r for r in result["regressions"])
    assert compare_tables({"rows": [row]}, {"rows": []})["regressions"] == ["s/far/v/eval_acc: in the baseline, missing now"]


def test_compare_reports_environment_and_audit_differences_between_two_synthetic_results(tmp_path):
    """What `parity compare` says about two environments, from two hand-written result folders."""
    from parity.compare import compare_dirs, is_clean, markdown

    row = {"scenario": "s", "dataset": "far", "variant": "v", "metric": "eval_acc", "verdict": "parity",
           "tf": {"mean": 90.0, "ci_low": 89.0, "ci_high": 91.0, "n": 3},
           "torch": {"mean": 90.0, "ci_low": 89.0, "ci_high": 91.0, "n": 3},
           "gap": {"mean": 0.0, "ci_low": -1.0, "ci_high": 1.0}}

    def folder(name, keras, renorm, torch_version):
        d = tmp_path / name
        d.mkdir()
        (d / "parity.json").write_text(json.dumps({"schema": 1, "suite": "upgrade", "rows": [row], "env": {
            "tf": {"tensorflow": "2.21.0", "keras": keras}, "torch": {"torch": torch_version}}}))
        (d / "defaults.json").write_text(json.dumps({"schema": 1, "versions": {"keras": keras, "torch": torch_version},
            "knobs": {"batch_renorm": {"tf": renorm, "torch": "none built in"},
                      "bn_momentum": {"tf": 0.99, "torch": 0.9}}}))
        return d

    old = folder("old", "3.13.2", "none built in", "2.14.1")
    new = folder("new", "3.15.1", "built in: BatchNormalization(renorm=...)", "2.14.1")
    result = compare_dirs(old, new)
    assert result["environment"] == ["tf.keras: 3.13.2 -> 3.15.1", "audit keras: 3.13.2 -> 3.15.1"]
    assert result["audit"] == ["batch_renorm: tf 'none built in' -> 'built in: BatchNormalization(renorm=...)'"]
    assert not result["regressions"] and not is_clean(result)       # a changed default is always a finding
    text = markdown(result)
    assert "### Defaults audit: what changed" in text and "### Environment" in text
    assert compare_dirs(old, old)["environment"] == [] and is_clean(compare_dirs(old, old))
