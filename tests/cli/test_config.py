"""Config files and the `parity run` command line: every bad input is exit 2 with one line per problem."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parity.cli import main
from parity.spec.config import BNConfig, ConfigError, RunConfig, SuiteConfig
from parity.spec.config_file import load_config_file

PARITY_SCRIPT = Path(sys.executable).with_name("parity")

# (id, file text, suffix, expected substring of the error line). text None = no file at all.
# Cases tagged "preflight" pass validation and are refused by parity.run.preflight (data/checkpoint).
BAD_CONFIGS = [
    ("toml-syntax", '[run\ndataset = "far"\n', ".toml", "is not valid TOML"),
    ("yaml-syntax", "run:\n  dataset: [far\n", ".yaml", "is not valid YAML"),
    ("yaml-empty", "", ".yaml", "is empty"),
    ("yaml-not-a-table", "- 1\n- 2\n", ".yml", "must hold a table of settings"),
    ("unknown-suffix", "[run]\n", ".json", "unknown file type '.json' -- use .toml, .yaml or .yml"),
    ("missing-file", None, ".toml", "does not exist or is not a file"),
    ("top-level-typo", 'seed = [0]\n[run]\ndataset = "far"\n', ".toml", "seed: unknown top-level setting (did you mean 'seeds'?)"),
    ("run-key-typo", "[run]\nbatchsize = 8\n", ".toml", "run.batchsize: unknown setting (did you mean 'batch_size'?)"),
    ("bn-key-typo", "[run.bn]\nmomentun = 0.9\n", ".toml", "run.bn.momentun: unknown setting (did you mean 'momentum'?)"),
    ("run-not-a-table", "run = 3\n", ".toml", "run: expected a table of settings, got int"),
    ("bn-not-a-table", "[run]\nbn = 0.9\n", ".toml", "run.bn: expected a table of settings, got float"),
    ("momentum-1", "[run.bn]\nmomentum = 1.0\n", ".toml", "run.bn.momentum: 1.0 is not allowed -- a number in [0, 1)"),
    ("momentum-negative", "[run.bn]\nmomentum = -0.1\n", ".toml", "run.bn.momentum: -0.1 is not allowed -- a number in [0, 1)"),
    ("momentum-string", '[run.bn]\nmomentum = "0.9"\n', ".toml", "run.bn.momentum: '0.9' is not allowed -- a number in [0, 1)"),
    ("reinject-1", "[run.bn]\nreinject_momentum = 1\n", ".toml", "run.bn.reinject_momentum: 1 is not allowed -- a number in [0, 1)"),
    ("epsilon-0", "[run.bn]\nepsilon = 0\n", ".toml", "run.bn.epsilon: 0 is not allowed -- a number in (0, 1]"),
    ("batch-size-0", "[run]\nbatch_size = 0\n", ".toml", "run.batch_size: 0 is not allowed -- an integer >= 1"),
    ("batch-size-float", "[run]\nbatch_size = 2.5\n", ".toml", "run.batch_size: 2.5 is not allowed -- an integer >= 1"),
    ("batch-size-bool", "[run]\nbatch_size = true\n", ".toml", "run.batch_size: True is not allowed -- an integer >= 1"),
    ("batch-size-0-yaml", "run:\n  batch_size: 0\n", ".yml", "run.batch_size: 0 is not allowed -- an integer >= 1"),
    ("epochs-0", "[run]\nepochs = 0\n", ".toml", "run.epochs: 0 is not allowed -- an integer >= 1"),
    ("steps-0", "[run]\nsteps_per_epoch = 0\n", ".toml", "run.steps_per_epoch: 0 is not allowed -- an integer >= 1"),
    ("dataset-typo", '[run]\ndataset = "farr"\n', ".toml", "run.dataset: 'farr' is not allowed -- one of source, near, far"),
    ("dataset-typo-hint", '[run]\ndataset = "farr"\n', ".toml", "(did you mean 'far'?)"),
    ("folder-no-path", '[run]\ndataset = "folder:"\n', ".toml", "run.dataset: 'folder:' is not allowed -- folder:PATH needs a path"),
    ("model-unknown", '[run]\nmodel = "resnet51"\n', ".toml", "run.model: 'resnet51' is not allowed -- one of resnet-tiny, resnet18, resnet50, efficientnet-lite0 (did you mean"),
    ("image-size-resnet50", '[run]\nmodel = "resnet50"\nimage_size = 16\n', ".toml", "run.image_size: 16 is not allowed -- resnet50 needs at least 32 pixels"),
    ("freeze-unknown", '[run.bn]\nfreeze = "frozen"\n', ".toml", "run.bn.freeze: 'frozen' is not allowed -- one of none, frozen_bn_inference"),
    ("norm-unknown", '[run.bn]\nnorm = "ln"\n', ".toml", "run.bn.norm: 'ln' is not allowed -- one of bn, renorm, gn"),
    ("optimizer-unknown", '[run]\noptimizer = "rmsprop"\n', ".toml", "run.optimizer: 'rmsprop' is not allowed -- one of sgd, adam"),
    ("lr-0", "[run]\nlr = 0\n", ".toml", "run.lr: 0 is not allowed -- a number in (0, 10]"),
    # every bound of the validation's rule table (spec/config.py RUN_RULES, BN_RULES), just outside it
    ("lr-11", "[run]\nlr = 11\n", ".toml", "run.lr: 11 is not allowed -- a number in (0, 10]"),
    ("sgd-momentum-1", "[run]\nsgd_momentum = 1\n", ".toml", "run.sgd_momentum: 1 is not allowed -- a number in [0, 1)"),
    ("weight-decay-1", "[run]\nweight_decay = 1.0\n", ".toml", "run.weight_decay: 1.0 is not allowed -- a number in [0, 1)"),
    ("adam-epsilon-0", '[run]\noptimizer = "adam"\nadam_epsilon = 0\n', ".toml", "run.adam_epsilon: 0 is not allowed -- a number in (0, 1]"),
    ("train-images-0", "[run]\ntrain_images = 0\n", ".toml", "run.train_images: 0 is not allowed -- an integer >= 1"),
    ("augment-string", '[run]\naugment = "yes"\n', ".toml", "run.augment: 'yes' is not allowed -- true or false"),
    ("precision-typo", '[run]\nprecision = "fp16"\n', ".toml", "run.precision: 'fp16' is not allowed -- one of float32"),
    ("lr-warmup-negative", "[run]\nlr_warmup_steps = -1\n", ".toml", "run.lr_warmup_steps: -1 is not allowed -- an integer >= 0"),
    ("lr-warmup-fraction", "[run]\nlr_warmup_steps = 2.5\n", ".toml", "run.lr_warmup_steps: 2.5 is not allowed -- an integer >= 0"),
    ("lr-schedule-typo", '[run]\nlr_schedule = "step"\n', ".toml", "run.lr_schedule: 'step' is not allowed -- one of constant, cosine"),
    ("rmax-below-1", "[run.bn]\nrenorm_rmax = 0.5\n", ".toml", "run.bn.renorm_rmax: 0.5 is not allowed -- a number >= 1"),
    ("dmax-negative", "[run.bn]\nrenorm_dmax = -1\n", ".toml", "run.bn.renorm_dmax: -1 is not allowed -- a number >= 0"),
    ("rmin-above-1", "[run.bn]\nrenorm_rmin = 1.5\n", ".toml", "run.bn.renorm_rmin: 1.5 is not allowed -- a number in [0, 1]"),
    ("renorm-momentum-1", "[run.bn]\nrenorm_momentum = 1\n", ".toml", "run.bn.renorm_momentum: 1 is not allowed -- a number in [0, 1)"),
    ("sgd-momentum-negative", "[run]\nsgd_momentum = -0.1\n", ".toml", "run.sgd_momentum: -0.1 is not allowed -- a number in [0, 1)"),
    ("weight-decay-negative", "[run]\nweight_decay = -0.1\n", ".toml", "run.weight_decay: -0.1 is not allowed -- a number in [0, 1)"),
    ("adam-epsilon-2", '[run]\noptimizer = "adam"\nadam_epsilon = 2\n', ".toml", "run.adam_epsilon: 2 is not allowed -- a number in (0, 1]"),
    ("epsilon-2", "[run.bn]\nepsilon = 2\n", ".toml", "run.bn.epsilon: 2 is not allowed -- a number in (0, 1]"),
    ("rmin-negative", "[run.bn]\nrenorm_rmin = -0.1\n", ".toml", "run.bn.renorm_rmin: -0.1 is not allowed -- a number in [0, 1]"),
    ("renorm-momentum-negative", "[run.bn]\nrenorm_momentum = -0.1\n", ".toml", "run.bn.renorm_momentum: -0.1 is not allowed -- a number in [0, 1)"),
    ("reinject-negative", "[run.bn]\nreinject_momentum = -0.1\n", ".toml", "run.bn.reinject_momentum: -0.1 is not allowed -- a number in [0, 1)"),
    ("rmax-nan", "[run.bn]\nrenorm_rmax = nan\n", ".toml", "run.bn.renorm_rmax: nan is not allowed -- a number >= 1"),
    ("pipeline-typo", '[run]\npipeline = "native"\n', ".toml", "run.pipeline: 'native' is not allowed -- one of shared, framework"),
    ("render-size-with-image-size-0", "[run]\nimage_size = 0\nrender_size = 64\n", ".toml", "run.image_size: 0 is not allowed -- a positive integer"),
    ("renorm-schedule-typo", '[run.bn]\nrenorm_schedule = "linear"\n', ".toml", "run.bn.renorm_schedule: 'linear' is not allowed -- one of paper, constant"),
    ("seeds-empty", "[run]\nseeds = []\n", ".toml", "seeds: [] is not allowed -- a non-empty list of integers 0..4294967295"),
    ("seeds-negative", "seeds = [-1]\n[run]\n", ".toml", "seeds: [-1] is not allowed -- a non-empty list of integers 0..4294967295"),
    ("frameworks-jax", '[run]\nframeworks = ["tf", "jax"]\n', ".toml", "frameworks: ['tf', 'jax'] is not allowed -- a non-empty list from tf, torch"),
    ("zero-runs", 'name = "empty"\n', ".toml", "suite 'empty': no runs -- a suite needs at least one"),
    ("zero-runs-array", "runs = []\n", ".toml", "no runs -- a suite needs at least one"),
    ("seeds-repeated", "[run]\nseeds = [0, 0]\n", ".toml", "seeds: [0, 0] is not allowed -- each seed once"),
    ("runs-second-bad", "[[runs]]\n[[runs]]\nepochs = 0\n", ".toml", "runs[1].epochs: 0 is not allowed"),
    ("two-phase-epochs", "[run]\nepochs = 2\nhead_epochs = 2\n[run.bn]\nfreeze = \"two_phase\"\n", ".toml", "run.epochs: 2 is not allowed -- two_phase needs more epochs than head_epochs (2)"),
    # preflight: valid settings the data or the checkpoint cannot serve
    ("preflight-train-images", '[run]\ndataset = "far"\nimage_size = 16\ntrain_images = 2000\n', ".toml", "train_images=2000: far has only 1500"),
    ("preflight-batch-too-big", '[run]\ndataset = "far"\nimage_size = 16\ntrain_images = 8\nbatch_size = 16\n', ".toml", "batch_size=16: far has 8 training images, fewer than one batch"),
    ("preflight-checkpoint", '[run]\ndataset = "far"\nimage_size = 16\npretrained = "/nonexistent/ckpt.safetensors"\n', ".toml", "checkpoint not found: /nonexistent/ckpt.safetensors"),
    ("preflight-tfds", '[run]\ndataset = "imagenette/160px"\n', ".toml", "dataset 'imagenette/160px' is not prepared in"),
]


def _write(tmp_path, text, suffix, stem="bad"):
    path = tmp_path / f"{stem}{suffix}"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    return path


def _run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _assert_one_line_errors(code, err, n_lines=None):
    assert code == 2
    assert err.strip(), "no message on stderr"
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert all(line.startswith("parity:") for line in lines), lines
    if n_lines is not None:
        assert len(lines) == n_lines, lines
    return lines


# tfds (TensorFlow's dataset library) reads the tfds cases
_NEEDS = {"preflight-tfds": pytest.mark.needs("tf")}


@pytest.mark.parametrize("text,suffix,expected", [pytest.param(*c[1:], marks=_NEEDS.get(c[0], ())) for c in BAD_CONFIGS],
                         ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_is_exit_2_with_one_line_per_problem(tmp_path, capsys, text, suffix, expected):
    path = _write(tmp_path, text, suffix)
    out_dir = tmp_path / "out"
    code, out, err = _run_cli(["run", "--config", str(path), "--out", str(out_dir)], capsys)
    lines = _assert_one_line_errors(code, err)
    assert any(expected in line for line in lines), f"{expected!r} not in {lines}"
    assert not out_dir.exists() or not any(out_dir.iterdir()), "something was written before the config was refused"


def test_bad_config_cases_have_unique_ids():
    ids = [c[0] for c in BAD_CONFIGS]
    assert len(ids) == len(set(ids)) and len(BAD_CONFIGS) >= 20


def test_every_problem_is_reported_on_its_own_line(tmp_path, capsys):
    path = _write(tmp_path, '[run]\nbatch_size = 0\nlr = -1\noptimizer = "rms"\n[run.bn]\nmomentum = 2\n', ".toml")
    code, _, err = _run_cli(["run", "--config", str(path), "--out", str(tmp_path / "out")], capsys)
    lines = _assert_one_line_errors(code, err, n_lines=4)
    for field in ("run.batch_size", "run.lr", "run.optimizer", "run.bn.momentum"):
        assert sum(field + ":" in line for line in lines) == 1, (field, lines)


def test_config_error_holds_one_line_per_problem(tmp_path):
    path = _write(tmp_path, "[run]\nepochs = 0\nbatch_size = 0\n", ".toml")
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert len(info.value.problems) == 2
    assert all("\n" not in p for p in info.value.problems)


def test_problem_about_a_key_starting_with_parity_is_prefixed(tmp_path, capsys):
    path = _write(tmp_path, "parity_version = 1\n[run]\n", ".toml")
    code, _, err = _run_cli(["run", "--config", str(path), "--out", str(tmp_path / "out")], capsys)
    _assert_one_line_errors(code, err, n_lines=1)


# --------------------------------------------------------------------------- usage errors

USAGE_ERRORS = [
    ("run-without-source", ["run"], "give exactly one of --suite NAME or --config FILE"),
    ("run-with-both", ["run", "--suite", "smoke", "--config", "x.toml"], "give exactly one of --suite NAME or --config FILE"),
    ("unknown-suite", ["run", "--suite", "smok"], "--suite: unknown suite 'smok' (did you mean 'smoke'?)"),
    ("seeds-0", ["run", "--suite", "smoke", "--seeds", "0"], "--seeds: 0 is not allowed -- an integer 1..1000"),
    ("seeds-not-int", ["run", "--suite", "smoke", "--seeds", "two"], "an integer or auto"),
    ("frameworks-jax", ["run", "--suite", "smoke", "--frameworks", "tf,jax"], "--frameworks: unknown framework 'jax'"),
    ("frameworks-empty", ["run", "--suite", "smoke", "--frameworks", ","], "--frameworks: give at least one framework"),
    ("frameworks-run-nothing", ["run", "--suite", "real", "--scenarios", "recalibrate", "--frameworks", "keras-jax"],
     "--frameworks keras-jax runs none of the chosen scenarios of suite real"),
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("no-command", [], "give a command"),
    ("unknown-option", ["run", "--suite", "smoke", "--sedes", "3"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv,expected", [c[1:] for c in USAGE_ERRORS], ids=[c[0] for c in USAGE_ERRORS])
def test_usage_error_is_exit_2_with_one_line(tmp_path, capsys, argv, expected):
    out_dir = tmp_path / "out"
    code, out, err = _run_cli(argv + (["--out", str(out_dir)] if argv and argv[0] == "run" else []), capsys)
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("parity"), lines
    assert expected in lines[0], lines
    assert not out_dir.exists()


@pytest.mark.parametrize("case_id", ["momentum-1", "unknown-suffix"])
def test_console_script_bad_config(tmp_path, case_id):
    _, text, suffix, expected = next(c for c in BAD_CONFIGS if c[0] == case_id)
    path = _write(tmp_path, text, suffix)
    out_dir = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([str(PARITY_SCRIPT), "run", "--config", str(path), "--out", str(out_dir)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("parity:") and expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert not out_dir.exists()


# --------------------------------------------------------------------------- good configs

GOOD_TOML = """\
name = "far-matched"

[run]
dataset = "far"          # synthetic: source | near | far
model = "resnet-tiny"
pretrained = "source"
image_size = 32
batch_size = 32
epochs = 3
optimizer = "sgd"
lr = 0.01
seeds = [0, 1, 2]
frameworks = ["tf", "torch"]

[run.bn]
momentum = 0.9
epsilon = 0.001
freeze = "none"
norm = "bn"
"""

GOOD_YAML = """\
name: far-matched
run:
  dataset: far
  model: resnet-tiny
  pretrained: source
  image_size: 32
  batch_size: 32
  epochs: 3
  optimizer: sgd
  lr: 0.01
  seeds: [0, 1, 2]
  frameworks: [tf, torch]
  bn:
    momentum: 0.9
    epsilon: 0.001
    freeze: none
    norm: bn
"""


def test_toml_and_yaml_load_to_the_same_suite(tmp_path):
    from_toml = load_config_file(_write(tmp_path, GOOD_TOML, ".toml", "a"))
    from_yaml = load_config_file(_write(tmp_path, GOOD_YAML, ".yaml", "b"))
    from_yml = load_config_file(_write(tmp_path, GOOD_YAML, ".yml", "c"))
    assert isinstance(from_toml, SuiteConfig)
    assert from_toml == from_yaml == from_yml
    expected_run = RunConfig(dataset="far", model="resnet-tiny", pretrained="source", image_size=32,
                             batch_size=32, epochs=3, optimizer="sgd", lr=0.01,
                             bn=BNConfig(momentum=0.9, epsilon=0.001, freeze="none", norm="bn"))
    assert from_toml == SuiteConfig(name="far-matched", runs=[expected_run], seeds=[0, 1, 2],
                                    frameworks=["tf", "torch"])


def test_a_suite_named_after_its_file_gets_a_safe_name(tmp_path):
    """The name becomes the default results folder: a file name with spaces is made safe, not refused."""
    suite = load_config_file(_write(tmp_path, '[run]\nscenario = "s"\n', ".toml", "my runs (v2)"))
    assert suite.name == "my-runs-v2"
    named = load_config_file(_write(tmp_path, 'name = "mine"\n[run]\nscenario = "s"\n', ".toml", "my runs"))
    assert named.name == "mine"


def test_yaml_exponent_without_dot_is_a_number(tmp_path):
    suite = load_config_file(_write(tmp_path, "run:\n  bn:\n    epsilon: 1e-3\n", ".yaml"))
    assert suite.runs[0].bn.epsilon == pytest.approx(1e-3)


def test_unset_bn_knobs_stay_native(tmp_path):
    suite = load_config_file(_write(tmp_path, '[run]\ndataset = "near"\n[run.bn]\nfreeze = "none"\n', ".toml", "native"))
    bn = suite.runs[0].bn
    assert bn.momentum is None and bn.epsilon is None and bn.reinject_momentum is None
    assert suite.name == "native" and suite.seeds == [0, 1, 2] and suite.frameworks == ["tf", "torch"]


def test_runs_array_loads_every_run(tmp_path):
    text = ('seeds = [3]\nframeworks = ["torch"]\n'
            '[[runs]]\ndataset = "near"\nvariant = "a"\n'
            '[[runs]]\ndataset = "far"\nvariant = "b"\n[runs.bn]\nmomentum = 0.9\n')
    suite = load_config_file(_write(tmp_path, text, ".toml", "two"))
    assert [(r.dataset, r.variant) for r in suite.runs] == [("near", "a"), ("far", "b")]
    assert suite.runs[0].bn.momentum is None and suite.runs[1].bn.momentum == 0.9
    assert suite.seeds == [3] and suite.frameworks == ["torch"]


def test_command_line_overrides_replace_file_values(tmp_path):
    suite = load_config_file(_write(tmp_path, GOOD_TOML, ".toml"), {"seeds": [0], "frameworks": ["tf"]})
    assert suite.seeds == [0] and suite.frameworks == ["tf"]


def test_the_closed_ends_of_the_rule_tables_are_accepted():
    """The other side of the bad-config bounds: each value on a closed end of its range is valid."""
    from parity.spec.validate import validate_run

    run = RunConfig(lr=10.0, sgd_momentum=0.0, weight_decay=0.0,
                    bn=BNConfig(momentum=0.0, epsilon=1.0, renorm_rmax=1.0, renorm_dmax=0.0, renorm_rmin=1.0,
                                renorm_momentum=0.0))
    assert validate_run(run) == []
    assert validate_run(RunConfig(optimizer="adam", adam_epsilon=1.0, bn=BNConfig(renorm_rmin=0.0))) == []
