"""imagenette and colorectal_histology through the real tensorflow-datasets code, offline.

``tfds.testing.mock_data`` stands in for the prepared files (no network, no
files); everything after it -- decoding, resizing, the holdout split, the
numpy cache, the shared loader and a fine-tuning job in each framework -- is
the suite's real path.
"""
import json

import numpy as np
import pytest

from parity.spec.config import BNConfig, RunConfig, run_to_dict

pytestmark = pytest.mark.needs("tf", "torch")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PARITY_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize("name,classes", [("imagenette/160px", 10), ("colorectal_histology", 8), ("tfds:mnist", 10)])
def test_tfds_dataset_through_the_cache_loader_and_both_trainers(cache, name, classes):
    import tensorflow_datasets as tfds

    from parity.data import load_dataset, make_loaders, prepare_dataset
    from parity.data.tfds_data import cache_path
    from parity.frameworks import load
    from parity.run.job import execute

    with tfds.testing.mock_data(num_examples=48, policy=tfds.testing.MockPolicy.USE_CODE):
        prepare_dataset(name, 32, str(cache / "tfds"))
    meta = json.loads((cache_path(name, 32) / "meta.json").read_text())
    assert meta["num_classes"] == classes
    ds = load_dataset(name, 32)
    assert ds.train_x.shape[1:] == (32, 32, 3) and ds.train_x.dtype == np.uint8
    assert ds.num_classes == classes and len(ds.eval_y) > 0
    if name == "colorectal_histology":   # one split in tfds: a recorded, stratified 80/20 holdout
        assert meta["split"]["eval"] == "the holdout" and len(meta["split"]["eval_indices"]) == len(ds.eval_y)
        assert len(ds.train_y) + len(ds.eval_y) == 48
    elif name == "tfds:mnist":   # any tfds dataset by name: its test split evaluates; grayscale made RGB
        assert meta["split"] == {"train": "train", "eval": "test"}
    else:
        assert meta["split"] == {"train": "train", "eval": "validation"}
    train, _ = make_loaders(ds, 8, seed=0)
    x, y = next(iter(train.batches(0)))
    assert x.shape == (8, 32, 32, 3) and x.dtype == np.float32 and y.dtype == np.int64

    run = RunConfig(dataset=name, epochs=1, batch_size=8, scenario="tfds", bn=BNConfig(momentum=0.9, epsilon=1e-5))
    results = {}
    for fw in ("torch", "tf"):
        job = {"id": f"tfds-{fw}", "framework": fw, "seed": 0, "run": run_to_dict(run), "threads": 1}
        results[fw] = execute(job, load(fw))
    assert results["tf"]["data_fingerprint"] == results["torch"]["data_fingerprint"]
    assert results["tf"]["init_checksum"] == results["torch"]["init_checksum"]
    assert all(np.isfinite(r["final"]["train_loss"]) for r in results.values())


def test_a_dataset_that_is_not_prepared_stops_with_one_line(cache, capsys):
    from parity.cli import main

    cfg = cache / "r.toml"
    cfg.write_text(f'[run]\ndataset = "colorectal_histology"\ndata_dir = "{cache / "nowhere"}"\n')
    assert main(["run", "--config", str(cfg), "--out", str(cache / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "'colorectal_histology' is not prepared in" in err[0] and str(cache / "nowhere") in err[0]
    assert "download_and_prepare()" in err[0] and not (cache / "out").exists()
