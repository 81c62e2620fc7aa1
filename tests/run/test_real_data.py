"""The real images shipped in scikit-learn and scikit-image: named datasets like the others, offline."""
import importlib.util

import numpy as np
import pytest

from parity.cli import main
from parity.data import DataError, load_dataset, real
from parity.spec.config import REAL_DATASETS, BNConfig, RunConfig
from parity.spec.validate import validate_run

for _module in ("sklearn", "skimage"):   # the [real] extra, which make installs
    pytest.importorskip(_module, reason="the [real] extra is not installed")


@pytest.mark.parametrize("name,classes,train,evaluation", [("digits", 10, 1438, 359), ("photos", 5, 800, 200)])
def test_a_real_dataset_loads_split_and_normalized_for_the_real_network(name, classes, train, evaluation):
    ds = load_dataset(name, 48)
    print(f"\n{name}: {len(ds.train_x)} train / {len(ds.eval_x)} eval images, {ds.num_classes} classes, "
          f"mean pixel {ds.train_x.mean():.1f}, digest {ds.digest[:12]}")
    assert ds.train_x.shape == (train, 48, 48, 3) and ds.eval_x.shape == (evaluation, 48, 48, 3)
    assert ds.train_x.dtype == np.uint8 and ds.num_classes == classes
    # every class in both splits, 80/20 per class
    assert set(np.unique(ds.train_y)) == set(np.unique(ds.eval_y)) == set(range(classes))
    assert ds.mean == real.LITE_MEAN and ds.std == real.LITE_STD   # (pixel - 127) / 128
    assert np.isclose((255 / 255 - ds.mean[0]) / ds.std[0], 1.0, atol=1e-6)
    again = real.load(name, 48)
    assert again.digest == ds.digest   # the same bytes every time: a fixed split and fixed crops


def test_digits_are_scikit_learns_own_images():
    from sklearn.datasets import load_digits

    images, labels = real.digit_images()
    d = load_digits()
    assert len(images) == len(d.images) == 1797 and np.array_equal(labels, d.target)
    assert np.array_equal(images[..., 0], np.rint(d.images * 255 / 16).astype(np.uint8))


def test_the_config_accepts_them_and_names_them_on_a_typo(tmp_path, capsys):
    assert REAL_DATASETS == real.DATASETS
    for name in REAL_DATASETS:
        assert validate_run(RunConfig(dataset=name, model="efficientnet-lite0", pretrained="imagenet",
                                      image_size=64, bn=BNConfig(norm="gn"))) == []
    # their normalization is EfficientNet-Lite's: a ResNet on them (or Lite on the others) is refused
    (line,) = validate_run(RunConfig(dataset="digits", model="resnet18", pretrained="imagenet"))
    assert "efficientnet-lite0 runs on digits or photos" in line
    cfg = tmp_path / "c.toml"
    cfg.write_text('[run]\ndataset = "digit"\n')
    assert main(["run", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    print(err.strip())
    assert "did you mean 'digits'?" in err and len(err.strip().splitlines()) == 1


def test_a_missing_package_is_one_line(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "skimage" else find_spec(name, *a))
    with pytest.raises(DataError, match=r"ship in scikit-image, which is not installed here: pip install -e"):
        load_dataset("photos", 40)   # a size no other test caches
