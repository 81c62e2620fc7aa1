"""The gpu suite's definition, and what a machine without its data and weights is told."""
import pytest

from parity.spec.scenarios import GPU_DATASETS, build_suite


def test_the_gpu_suite_is_the_article_on_real_data():
    suite = build_suite("gpu")
    assert len(suite.seeds) >= 3
    assert {r.dataset for r in suite.runs} == set(GPU_DATASETS)
    assert all(r.model == "resnet50" and r.image_size == 160 for r in suite.runs)
    assert {r.pretrained for r in suite.runs if r.scenario != "native-zoo"} == {"imagenet"}
    assert {r.pretrained for r in suite.runs if r.scenario == "native-zoo"} == {"zoo"}
    scenarios = {r.scenario for r in suite.runs}
    assert {"momentum-native", "momentum-matched", "freeze-modes", "small-batch", "renorm-schedule", "groupnorm",
            "recalibrate", "native-zoo"} <= scenarios
    for dataset in GPU_DATASETS:   # every scenario on both datasets
        assert {r.scenario for r in suite.runs if r.dataset == dataset} == scenarios
    assert {r.batch_size for r in suite.runs if r.scenario == "small-batch"} == {2, 4, 8, 16, 32}


def test_precision_on_the_command_line_applies_to_every_run():
    from argparse import Namespace

    from parity.cli.run_command import load_suite

    args = Namespace(suite="gpu", config=None, scenarios=None, seeds=None, frameworks=None,
                     precision="mixed_float16")
    assert {r.precision for r in load_suite(args).runs} == {"mixed_float16"}


@pytest.mark.needs("tf")   # the tfds preflight imports TensorFlow
def test_without_data_and_weights_the_gpu_suite_names_each_missing_piece(tmp_path, monkeypatch, capsys):
    from parity.cli import main

    for var, sub in (("PARITY_CACHE", "cache"), ("TFDS_DATA_DIR", "tfds"), ("TORCH_HOME", "torch"),
                     ("KERAS_HOME", "keras")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.delenv("PARITY_IMAGENET_WEIGHTS", raising=False)
    assert main(["run", "--suite", "gpu", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4, err
    assert any("ImageNet weights for resnet50 not found" in line for line in err)
    assert any("'imagenette/160px' is not prepared" in line for line in err)
    assert any("'colorectal_histology' is not prepared" in line for line in err)
    assert any(line.startswith("parity: native-zoo resnet50: tf weights not found") for line in err)
    assert not (tmp_path / "out").exists()
