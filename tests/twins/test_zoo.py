"""pretrained = "zoo": keras.applications' ResNet50 vs torchvision's resnet50, each with its own weights.

Randomly initialised networks are written where the two caches would hold the
real files; the tests check the files are what gets loaded, each framework's
own preprocessing is applied to the shared loader's batches, a fine-tuning job
runs in each framework, and missing files stop the run with one line.
"""
import numpy as np
import pytest

from parity.spec.config import BNConfig, ConfigError, RunConfig, SuiteConfig, run_to_dict
from parity.spec.validate import validate_suite

pytestmark = pytest.mark.needs("tf", "torch")


@pytest.fixture
def zoo_caches(tmp_path, monkeypatch):
    """Random-weight stand-ins for ~/.keras/models/..._notop.h5 and torchvision's resnet50 file."""
    import h5py
    import torch
    import torchvision

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    from parity.assets import zoo
    files = zoo.weight_files("resnet50")
    for p in files.values():
        p.parent.mkdir(parents=True)
    torch.manual_seed(0)
    torch_model = torchvision.models.resnet50()
    with torch.no_grad():
        for m in torch_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
    torch.save(torch_model.state_dict(), files["torch"])

    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras_model = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    with h5py.File(files["tf"], "w") as f:   # the legacy layout keras.applications' own file has
        legacy_h5_format.save_weights_to_hdf5_group(f, keras_model)
    return {"tf": keras_model, "torch": torch_model}


def _plan(**kw):
    from parity.spec.config import BNConfig
    from parity.train.plan import TrainPlan

    base = dict(arch="resnet50", num_classes=3, image_size=32, seed=0, epochs=1, optimizer="sgd", lr=0.01,
                lr_schedule="constant", sgd_momentum=0.9, bn=BNConfig(momentum=0.9, epsilon=None),
                zoo=True, pixel_mean=(0.5, 0.4, 0.3), pixel_std=(0.2, 0.25, 0.3))
    base.update(kw)
    return TrainPlan(**base)


def test_each_zoo_loads_its_own_file_and_applies_its_own_preprocessing(zoo_caches):
    import keras
    import torch
    import torchvision

    from parity.train.initial import init_head
    from keras_impl import zoo as tf_zoo
    from torch_impl import zoo as torch_zoo

    plan = _plan()
    head = init_head(0, 2048, 3)
    k = tf_zoo.build(plan, head)
    t = torch_zoo.build(plan, head)
    # the files were loaded: the first conv equals what was written
    np.testing.assert_array_equal(k.get_layer("base").get_layer("conv1_conv").kernel.numpy(),
                                  zoo_caches["tf"].get_layer("conv1_conv").kernel.numpy())
    torch.testing.assert_close(t.base.conv1.weight, zoo_caches["torch"].conv1.weight, rtol=0, atol=0)
    np.testing.assert_allclose(k.get_layer("fc").kernel.numpy(), head["fc.weight"].T)
    torch.testing.assert_close(t.fc.weight, torch.from_numpy(head["fc.weight"]))
    # BN as shipped, momentum from the plan
    assert tf_zoo.bn_settings(k) == {"momentum": 0.9, "epsilon": pytest.approx(1.001e-5), "layers": 53}
    assert torch_zoo.bn_settings(t) == {"momentum": pytest.approx(0.9), "epsilon": 1e-5, "layers": 53}

    # preprocessing: loader batch -> 0..255 pixels -> each framework's own function
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    mean, std = np.asarray(plan.pixel_mean, np.float32), np.asarray(plan.pixel_std, np.float32)
    x = (pixels - mean * 255) / (std * 255)
    keras_in = keras.Model(k.inputs, k.get_layer("preprocess").output)(x).numpy()
    np.testing.assert_allclose(keras_in, keras.applications.resnet.preprocess_input(pixels.copy()), atol=1e-3)
    seen = {}
    t.base.register_forward_pre_hook(lambda _m, inp: seen.update(x=inp[0]))
    t.eval()(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    normalize = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.transforms()
    expected = (torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy()) / 255 -
                torch.tensor(normalize.mean).view(1, 3, 1, 1)) / torch.tensor(normalize.std).view(1, 3, 1, 1)
    torch.testing.assert_close(seen["x"], expected, atol=1e-5, rtol=1e-5)


@pytest.mark.slow   # make test-all; see the README's Tests
def test_a_zoo_job_runs_in_both_frameworks(zoo_caches):
    from parity.frameworks import load
    from parity.run.job import execute

    run = RunConfig(dataset="far", model="resnet50", pretrained="zoo", image_size=32, epochs=1, batch_size=8,
                    train_images=32, scenario="native-zoo", bn=BNConfig())
    results = {fw: execute({"id": f"zoo-{fw}", "framework": fw, "seed": 0, "run": run_to_dict(run), "threads": 1},
                           load(fw)) for fw in ("torch", "tf")}
    assert results["tf"]["data_fingerprint"] == results["torch"]["data_fingerprint"]
    assert results["tf"]["init_checksum"] == results["torch"]["init_checksum"]   # the same head
    assert results["tf"]["pretrained_checksum"].startswith("zoo:")
    assert results["tf"]["zoo_bn"]["epsilon"] == pytest.approx(1.001e-5)
    assert results["tf"]["zoo_bn"]["momentum"] == pytest.approx(0.99)      # native: Keras' default
    assert results["torch"]["zoo_bn"]["momentum"] == pytest.approx(0.9)    # native: torch's 0.1
    assert results["tf"]["plan"]["bn_epsilon"] is None
    assert all(np.isfinite(r["final"]["train_loss"]) for r in results.values())


def test_zoo_settings_are_checked():
    with pytest.raises(ConfigError) as e:
        validate_suite(SuiteConfig("s", [RunConfig(model="resnet18", pretrained="zoo"),
                                         RunConfig(model="resnet50", pretrained="zoo", variant="b",
                                                   bn=BNConfig(epsilon=1e-3))]))
    assert "the native zoos are compared for resnet50, not resnet18" in e.value.problems[0]
    assert "bn.epsilon and bn.reinject_momentum unset" in e.value.problems[1]


def test_missing_zoo_files_stop_the_run_with_one_line(tmp_path, monkeypatch, capsys):
    from parity.cli import main

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cfg = tmp_path / "zoo.toml"
    cfg.write_text('[run]\nmodel = "resnet50"\npretrained = "zoo"\ndataset = "far"\nseeds = [0]\n')
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5" in err[0] and "resnet50-11ad3fa6.pth" in err[0]
    assert "keras.applications.ResNet50(weights='imagenet', include_top=False)" in err[0]
    assert not (tmp_path / "out" / "jobs").exists()


def test_zoo_rows_get_a_table_of_their_own():
    from parity.report import aggregate, tables

    def job(scenario, fw, seed, acc):
        return {"scenario": scenario, "dataset": "imagenette/160px", "variant": "native", "framework": fw,
                "seed": seed, "status": "ok", "data_fingerprint": "d", "init_checksum": "i",
                "final": {"eval_acc": acc, "train_acc": acc, "eval_loss": 0.5}}

    jobs = [job(sc, fw, s, 90.0 + s + (fw == "tf")) for sc in ("momentum-native", "native-zoo")
            for fw in ("tf", "torch") for s in range(3)]
    text = tables.markdown({"suite": "gpu", "rows": aggregate.build_rows(jobs), "env": {}})
    main, zoo = text.split("## Native model zoos: eval accuracy (%)")
    assert "| momentum-native |" in main and "native-zoo" not in main.split("## Scenarios")[0]
    assert "| native-zoo | imagenette/160px | native | 92.0" in zoo and "not a framework difference" in zoo


def test_tf_zoo_bn_statistics_see_the_zoo_preprocessing(zoo_caches):
    """Same pixels, two loader normalizations: the zoo undoes either, so its BN statistics must not change."""
    from parity.train.initial import init_head
    from tf_impl import train as tf_train
    from keras_impl import zoo as tf_zoo

    pixels = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype(np.float32)
    stats = []
    for mean, std in (((0.5, 0.4, 0.3), (0.2, 0.25, 0.3)), ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        plan = _plan(pixel_mean=mean, pixel_std=std)
        x = (pixels - np.asarray(mean, np.float32) * 255) / (np.asarray(std, np.float32) * 255)
        model = tf_zoo.build(plan, init_head(0, 2048, 3))
        stats.append(tf_train.true_bn_stats(model, [(x, None)]))
    for name in ("conv1_bn", "conv5_block3_3_bn"):
        np.testing.assert_allclose(stats[0][name][0], stats[1][name][0], rtol=1e-3, atol=1e-3)
