"""Real jobs with the recipe knobs of issue 17: matched optimizer rules and each framework's own input pipeline.

One short job per framework in this process (the same code path a worker runs): both sides must see the
same data (fingerprint), record what they resolved (AdamW's decay, the matched rules) and train.
"""
import pytest

from parity.spec.config import BNConfig, RunConfig, run_to_dict

pytestmark = pytest.mark.needs("tf", "torch")


def _execute(run: RunConfig, framework: str) -> dict:
    from parity.frameworks import load
    from parity.run.job import execute

    job = {"id": f"{run.variant}-{framework}", "framework": framework, "seed": 0, "run": run_to_dict(run),
           "threads": 1}
    return execute(job, load(framework))


def _run(**settings) -> RunConfig:
    base = dict(dataset="far", epochs=1, train_images=64, scenario="recipe", lr=1e-3,
                bn=BNConfig(momentum=0.9, epsilon=1e-5))
    return RunConfig(**{**base, **settings})


def test_matched_adamw_through_each_frameworks_own_pipeline():
    run = _run(variant="matched", optimizer="adamw", weight_decay=0.01, adam_epsilon=1e-7,
               match_rules=["adam_epsilon"], render_size=64, pipeline="framework")
    tf_result, torch_result = _execute(run, "tf"), _execute(run, "torch")
    for r in (tf_result, torch_result):
        assert r["status"] == "ok" and r["unmatched"] == []
        assert r["plan"]["weight_decay"] == 0.01 and list(r["plan"]["match_rules"]) == ["adam_epsilon"]
    # the same images and draws on both sides: only the pipelines' own ops differ
    assert tf_result["data_fingerprint"] == torch_result["data_fingerprint"]
    gap = tf_result["final"]["eval_acc"] - torch_result["final"]["eval_acc"]
    print(f"\nmatched AdamW, framework pipelines, 2 steps: eval acc tf {tf_result['final']['eval_acc']:.1f}, "
          f"torch {torch_result['final']['eval_acc']:.1f} (gap {gap:+.1f} pp)")


def test_the_run_hands_its_batches_to_each_frameworks_own_pipeline():
    """pipeline = "framework": the loaders' batches come from each framework's ops (so they differ);
    "shared": both sides get the loader's own, identical batches."""
    import numpy as np

    from parity.run.job import prepare
    from tf_impl import pipeline as tf_pipeline
    from torch_impl import pipeline as torch_pipeline

    def first_eval_batch(pipeline_name, module):
        run = _run(variant=pipeline_name, render_size=64, pipeline=pipeline_name)
        evaluation = prepare(run, 0, module)[2]
        return next(evaluation.batches())[0]

    tf_x, torch_x = first_eval_batch("framework", tf_pipeline), first_eval_batch("framework", torch_pipeline)
    shared_tf, shared_torch = first_eval_batch("shared", tf_pipeline), first_eval_batch("shared", torch_pipeline)
    diff = float(np.abs(tf_x - torch_x).mean())
    print(f"\nfirst eval batch, 64 -> 32 px: mean |tf - torch| {diff:.4f} (normalized units) through each "
          "framework's pipeline; shared loader: identical")
    assert tf_x.shape == shared_tf.shape == (256, 32, 32, 3)
    assert np.array_equal(shared_tf, shared_torch)
    assert diff > 0.01   # measured 0.025 (antialias on one side only); 0 would mean the pipeline was skipped


def test_native_adamw_resolves_each_frameworks_default_decay():
    run = _run(variant="native", optimizer="adamw")
    tf_result, torch_result = _execute(run, "tf"), _execute(run, "torch")
    print(f"\nAdamW default decay: tf {tf_result['plan']['weight_decay']}, torch {torch_result['plan']['weight_decay']}; "
          f"epsilon tf {tf_result['plan']['adam_epsilon']}, torch {torch_result['plan']['adam_epsilon']}")
    assert (tf_result["plan"]["weight_decay"], torch_result["plan"]["weight_decay"]) == (0.004, 0.01)
    assert (tf_result["plan"]["adam_epsilon"], torch_result["plan"]["adam_epsilon"]) == (1e-7, 1e-8)
    assert tf_result["unmatched"] == torch_result["unmatched"] == ["adam_epsilon"]


def test_the_shared_pipeline_downscales_the_render_by_area():
    from parity.data import area_downscale, load_dataset

    ds = load_dataset("far", 64)
    small = area_downscale(ds, 32)
    block = ds.train_x[0, :2, :2].astype(float).mean(axis=(0, 1))
    assert small.image_size == 32 and abs(small.train_x[0, 0, 0] - block).max() <= 0.5


def _jpeg_folder(root, per_class=5, size=40):
    """Two classes of JPEGs (PIL, quality 90) written by the test."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.jpg", quality=90)
    return root


def test_an_image_folder_is_decoded_by_each_frameworks_own_decoder(tmp_path):
    import numpy as np

    root = _jpeg_folder(tmp_path / "jpegs")
    run = _run(variant="folder", dataset=f"folder:{root}", batch_size=4, train_images=None, pipeline="framework")
    tf_result, torch_result = _execute(run, "tf"), _execute(run, "torch")
    assert tf_result["status"] == torch_result["status"] == "ok"
    # the same files and draws: one fingerprint and one digest, though the decoded pixels differ
    assert tf_result["data_fingerprint"] == torch_result["data_fingerprint"]
    assert tf_result["dataset_digest"] == torch_result["dataset_digest"]

    from parity.data import load_dataset
    from tf_impl import pipeline as tf_pipeline
    from torch_impl import pipeline as torch_pipeline

    a = load_dataset(f"folder:{root}", 32, tf_pipeline.decode_jpeg).train_x.astype(int)
    b = load_dataset(f"folder:{root}", 32, torch_pipeline.decode_jpeg).train_x.astype(int)
    diff = np.abs(a - b)
    print(f"\nimage folder decoded by tf.io vs torchvision.io, resized to 32 px: mean {diff.mean():.3f}, "
          f"max {diff.max()} pixel levels")
    assert diff.max() > 0   # TF's default IDCT is INTEGER_FAST, torchvision's ISLOW (the audit's jpeg_decoding)
