"""The shared loader and the synthetic domains: the same bytes for both frameworks, every time."""
import threading
import time

import numpy as np
import pytest

from parity.data import DataError, Dataset, Loader, load_dataset, make_loaders, synthetic

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _images(n=40, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), (np.arange(n) % 5).astype(np.int64)


def _loader(n=40, batch_size=8, **kw):
    x, y = _images(n)
    kw.setdefault("seed", 0)
    return Loader(x, y, batch_size, mean=MEAN, std=STD, **kw)


def _epoch(loader, epoch=0):
    return [(bx.copy(), by.copy()) for bx, by in loader.batches(epoch)]


def _same(a, b):
    return len(a) == len(b) and all(x1.tobytes() == x2.tobytes() and y1.tobytes() == y2.tobytes()
                                    for (x1, y1), (x2, y2) in zip(a, b))


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "parity-prefetch" and t.is_alive()]


# --------------------------------------------------------------------------- determinism

def test_same_seed_and_epoch_give_byte_identical_batches():
    loader = _loader()
    first = _epoch(loader, 1)
    assert _same(first, _epoch(loader, 1))            # two calls
    assert _same(first, _epoch(_loader(), 1))         # two instances


def test_different_seed_gives_different_batches():
    assert not _same(_epoch(_loader(seed=0)), _epoch(_loader(seed=1)))


def test_different_epoch_gives_a_different_order():
    loader = _loader(augment=False)
    assert not np.array_equal(loader.plan(0).order, loader.plan(1).order)
    assert not _same(_epoch(loader, 0), _epoch(loader, 1))
    # the same images, only reordered
    assert sorted(np.concatenate([b[1] for b in _epoch(loader, 0)])) == \
        sorted(np.concatenate([b[1] for b in _epoch(loader, 1)]))


def test_prefetch_does_not_change_the_batches():
    for epoch in (0, 3):
        assert _same(_epoch(_loader(prefetch=0), epoch), _epoch(_loader(prefetch=2), epoch))


def test_worker_threads_do_not_change_the_batches_and_stop_with_the_epoch():
    for epoch in (0, 3):
        assert _same(_epoch(_loader(prefetch=0), epoch), _epoch(_loader(workers=3), epoch))
    before = {t for t in threading.enumerate() if t.name.startswith("parity-loader")}
    for _ in _loader(n=400, batch_size=4, workers=3).batches(0):
        break
    time.sleep(0.5)
    after = {t for t in threading.enumerate() if t.name.startswith("parity-loader") and t.is_alive()}
    assert not after - before


def test_loader_workers_come_from_the_environment_and_bad_values_are_one_line(monkeypatch):
    monkeypatch.setenv("PARITY_LOADER_WORKERS", "4")
    assert _loader().workers == 4
    monkeypatch.setenv("PARITY_LOADER_WORKERS", "many")
    with pytest.raises(ValueError, match="PARITY_LOADER_WORKERS='many' is not allowed -- an integer >= 1"):
        _loader()


def test_a_train_batch_is_the_padded_crop_flipped_and_normalized():
    """The reference formula, written out: reflection pad, crop at the drawn offset, flip, normalize."""
    x, y = _images(16)
    loader = Loader(x, y, 8, mean=MEAN, std=STD, seed=3, pad=2)
    plan = loader.plan(1)
    padded = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    idx = plan.order[:8]
    crops = np.stack([padded[i, cy:cy + 8, cx:cx + 8] for i, (cy, cx) in zip(idx, plan.crops[:8])])
    crops = np.where(plan.flips[:8, None, None, None], crops[:, :, ::-1], crops)
    expected = (crops.astype(np.float32) - np.asarray(MEAN, np.float32) * 255) \
        * (1 / (np.asarray(STD, np.float32) * 255))
    bx, by = next(iter(loader.batches(1)))
    assert bx.tobytes() == expected.astype(np.float32).tobytes() and np.array_equal(by, y[idx])
    assert plan.flips[:8].any() and not plan.flips[:8].all()


# --------------------------------------------------------------------------- batching

def test_eval_loader_keeps_every_image_in_fixed_order():
    x, y = _images(21)
    loader = Loader(x, y, 8, mean=MEAN, std=STD, train=False, seed=5)
    batches = _epoch(loader)
    assert len(loader) == 3 and [len(b[1]) for b in batches] == [8, 8, 5]
    assert np.array_equal(np.concatenate([b[1] for b in batches]), y)
    expected = (x.astype(np.float32) - np.float32(255) * np.asarray(MEAN, np.float32)) \
        / (np.float32(255) * np.asarray(STD, np.float32))
    np.testing.assert_allclose(np.concatenate([b[0] for b in batches]), expected, rtol=1e-6, atol=1e-6)
    assert _same(batches, _epoch(loader, 7))          # epoch and seed do not matter for eval


def test_train_loader_drops_the_last_partial_batch():
    loader = _loader(n=21, batch_size=8)
    batches = _epoch(loader)
    assert len(loader) == 2 and [len(b[1]) for b in batches] == [8, 8]


def test_steps_per_epoch_caps_the_epoch():
    assert len(_epoch(_loader(n=40, batch_size=8, steps_per_epoch=3))) == 3
    assert len(_loader(n=40, batch_size=8, steps_per_epoch=99)) == 5


def test_breaking_out_mid_epoch_stops_the_thread():
    before = set(_prefetch_threads())
    loader = _loader(n=400, batch_size=4, prefetch=2)
    t0 = time.perf_counter()
    for _ in loader.batches(0):
        break
    assert time.perf_counter() - t0 < 2.0
    assert not set(_prefetch_threads()) - before


def test_breaking_out_after_the_producer_finished_stops_the_thread():
    before = set(_prefetch_threads())
    loader = _loader(n=12, batch_size=4, prefetch=2)    # 3 steps: 2 fit the queue, then put(done) blocks
    gen = loader.batches(0)
    next(gen)
    time.sleep(0.3)                                     # let the producer finish its batches
    t0 = time.perf_counter()
    gen.close()
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0 and not set(_prefetch_threads()) - before, f"close took {elapsed:.1f}s"


# --------------------------------------------------------------------------- fingerprint

def test_fingerprint_equal_for_equal_settings():
    assert _loader().fingerprint(2) == _loader().fingerprint(2)


@pytest.mark.parametrize("other,epochs", [({"seed": 1}, 2), ({"batch_size": 4}, 2), ({}, 3)],
                         ids=["seed", "batch_size", "epochs"])
def test_fingerprint_changes_with_the_settings(other, epochs):
    assert _loader().fingerprint(2) != _loader(**other).fingerprint(epochs)


# --------------------------------------------------------------------------- dtypes, normalization

def test_batches_are_float32_nhwc_and_int64_labels():
    for loader in (_loader(), _loader(train=False)):
        bx, by = next(iter(loader.batches(0)))
        assert bx.dtype == np.float32 and bx.shape == (8, 8, 8, 3) and bx.flags.c_contiguous
        assert by.dtype == np.int64 and by.shape == (8,)


def test_normalization_uses_the_dataset_mean_and_std():
    x = np.zeros((4, 4, 4, 3), np.uint8)
    x[0, 1, 2] = (200, 100, 0)
    loader = Loader(x, np.zeros(4, np.int64), 4, mean=MEAN, std=STD, train=False)
    bx, _ = next(iter(loader.batches()))
    for c, v in enumerate((200, 100, 0)):
        assert bx[0, 1, 2, c] == pytest.approx((v / 255 - MEAN[c]) / STD[c], rel=1e-5)
    assert bx[1, 0, 0, 0] == pytest.approx(-MEAN[0] / STD[0], rel=1e-5)


@pytest.mark.needs("tf", "torch")
def test_both_frameworks_get_the_same_input():
    import tf_impl.train as tf_train
    import torch_impl.train as torch_train  # torch before tensorflow (see conftest)

    bx, _ = next(iter(_loader().batches(0)))
    t = torch_train.to_tensor(bx).numpy()
    assert t.dtype == np.float32 and t.shape == (8, 3, 8, 8)
    assert t.tobytes() == np.ascontiguousarray(bx.transpose(0, 3, 1, 2)).tobytes()
    k = tf_train.to_tensor(bx).numpy()
    assert k.dtype == np.float32 and k.shape == bx.shape and k.tobytes() == bx.tobytes()


# --------------------------------------------------------------------------- synthetic domains

@pytest.mark.parametrize("name", list(synthetic.DOMAINS))
def test_domain_generation_is_deterministic_and_covers_every_class(name):
    a, b = synthetic.generate(name, 16), synthetic.generate(name, 16)
    spec = synthetic.DOMAINS[name]
    for split, size in (("train", spec.train_size), ("eval", spec.eval_size)):
        (xa, ya), (xb, yb) = a[split], b[split]
        assert xa.dtype == np.uint8 and xa.shape == (size, 16, 16, 3) and ya.dtype == np.int64
        assert xa.tobytes() == xb.tobytes() and ya.tobytes() == yb.tobytes()
        assert set(np.unique(ya)) == set(range(spec.num_classes))


def test_domain_statistics_differ_as_designed():
    stats = {name: synthetic.channel_stats(load_dataset(name, 32).train_x) for name in ("source", "near", "far")}
    print("\ndomain   mean (R, G, B)           std (R, G, B)")
    for name, (m, s) in stats.items():
        print(f"{name:<8} {np.array2string(m, precision=3):<24} {np.array2string(s, precision=3)}")
    (sm, ss), (nm, _), (fm, fs) = stats["source"], stats["near"], stats["far"]
    assert np.sum(np.abs(fm - sm) > 0.1) >= 2, "far's colour means are not far from source's"
    assert np.all(fs < 0.5 * ss), "far is not low-contrast compared with source"
    assert np.all(np.abs(nm - sm) < 0.02), "near's colour means drifted from source's"
    np.testing.assert_allclose(sm, synthetic.SOURCE_MEAN, atol=0.02)


# --------------------------------------------------------------------------- make_loaders

def _dataset(n_train=20, n_eval=10):
    tx, ty = _images(n_train)
    ex, ey = _images(n_eval, seed=1)
    return Dataset("tiny", tx, ty, ex, ey, 5, MEAN, STD, "digest")


def test_make_loaders_serves_the_requested_subset():
    train, evaluation = make_loaders(_dataset(), 4, seed=0, train_images=12)
    assert len(train) == 3 and len(train.images) == 12
    assert len(evaluation.images) == 10 and not evaluation.train


def test_make_loaders_refuses_more_images_than_the_split():
    with pytest.raises(DataError, match="train_images=21 but tiny has only 20"):
        make_loaders(_dataset(), 4, seed=0, train_images=21)


@pytest.mark.parametrize("kw", [{"batch_size": 32}, {"batch_size": 8, "train_images": 7}], ids=["split", "subset"])
def test_make_loaders_refuses_fewer_images_than_one_batch(kw):
    with pytest.raises(DataError, match="fewer than one batch"):
        make_loaders(_dataset(), kw.pop("batch_size"), seed=0, **kw)
