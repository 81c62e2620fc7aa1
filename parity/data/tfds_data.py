"""The article's datasets through tensorflow-datasets, decoded once into a numpy cache.

``imagenette/{160px,320px,full-size}`` (splits train / validation),
``colorectal_histology`` (one train split of 5000 150x150 images, 8 classes:
split here per class, 80/20, with a fixed seed, and the split recorded) and any other
tfds image-classification dataset as ``tfds:NAME`` (an ``image`` and a ``label`` feature;
evaluated on its test split, else its validation split, else a holdout as above) are read
with ``tensorflow_datasets`` from the user's ``data_dir``, resized to the run's
square size and written to ``$PARITY_CACHE/tfds/<name>/<size>/`` as ``.npy``
files. Every later run, and both frameworks' workers, read those bytes with
numpy alone (memory-mapped): the torch worker never imports TensorFlow.

Nothing is downloaded at run time: a dataset that is not prepared stops the run
before any job with one line naming the dataset, the data_dir searched, and the
command that prepares it on a machine with internet access.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from parity.data.loader import Dataset
from parity.data.synthetic import SOURCE_MEAN, SOURCE_STD, digest

SPECS = {
    "imagenette/160px": {"train": "train", "eval": "validation"},
    "imagenette/320px": {"train": "train", "eval": "validation"},
    "imagenette/full-size": {"train": "train", "eval": "validation"},
    "colorectal_histology": {"train": "train", "eval": None},   # one split: held out here
}
PREFIX = "tfds:"   # any tfds dataset by name: tfds:mnist, tfds:cifar10, tfds:oxford_flowers102
HOLDOUT_FRACTION = 0.2
HOLDOUT_SEED = 0


class NotPrepared(ValueError):
    """The dataset is not in data_dir; the message says how to prepare it."""


def is_tfds(name: str) -> bool:
    return name in SPECS or (name.startswith(PREFIX) and len(name) > len(PREFIX))


def _tfds_name(name: str) -> str:
    return name.removeprefix(PREFIX)


def _open_splits(name: str, builder) -> tuple[dict, dict]:
    """(which split trains and which evaluates -- None: a holdout of the train split, their datasets).
    Another dataset evaluates on its test split, else its validation split, else a holdout; the split
    list is read from the prepared files (unknown before, and under tfds' mock: then each is tried)."""
    spec = dict(SPECS.get(name) or {"train": "train", "eval": None})
    opened = {"train": builder.as_dataset(split=spec["train"])}
    if name in SPECS:
        if spec["eval"]:
            opened["eval"] = builder.as_dataset(split=spec["eval"])
        return spec, opened
    have = set(builder.info.splits)
    for candidate in [s for s in ("test", "validation") if not have or s in have]:
        try:
            opened["eval"] = builder.as_dataset(split=candidate)
        except (AssertionError, KeyError, ValueError):   # no such split: the next, or a holdout
            continue
        spec["eval"] = candidate
        break
    return spec, opened


def _check_features(name: str, builder) -> None:
    import tensorflow_datasets as tfds

    features = builder.info.features
    if not (isinstance(features, tfds.features.FeaturesDict) and "image" in features and "label" in features
            and isinstance(features["label"], tfds.features.ClassLabel)):
        raise NotPrepared(f"dataset {name!r} is not image classification: it needs an 'image' and a class 'label' "
                          f"feature (it has {', '.join(features.keys()) if hasattr(features, 'keys') else features})")


def default_data_dir() -> str:
    return os.environ.get("TFDS_DATA_DIR", str(Path.home() / "tensorflow_datasets"))


def cache_path(name: str, image_size: int) -> Path:
    from parity.paths import cache_dir

    return cache_dir() / "tfds" / name.replace("/", "_").replace(":", "_") / str(image_size)


def resize_images(images, size: int) -> np.ndarray:
    """Each image to size x size RGB uint8 with PIL's bilinear filter (the real datasets use it too)."""
    from PIL import Image

    def rgb(img):   # a grayscale image arrives as H x W x 1
        return Image.fromarray(img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img).convert("RGB")

    return np.stack([np.asarray(rgb(img).resize((size, size), Image.BILINEAR)) for img in images]).astype(np.uint8)


def _read_split(dataset, size: int) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds

    images, labels = [], []
    for ex in tfds.as_numpy(dataset):
        images.append(ex["image"])
        labels.append(int(ex["label"]))
    return resize_images(images, size), np.asarray(labels, np.int64)


def stratified_holdout(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Train and held-out indices (sorted): 20 % of each class, seed 0 (the real datasets split so too)."""
    rng = np.random.default_rng(HOLDOUT_SEED)
    train, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = int(round(HOLDOUT_FRACTION * len(idx)))
        held.append(idx[:n])
        train.append(idx[n:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def prepare(name: str, image_size: int, data_dir: str | None = None, log=None) -> Path:
    """Decode and resize once into the cache (a no-op when it is there); NotPrepared without the data."""
    out = cache_path(name, image_size)
    if (out / "meta.json").exists():
        return out
    data_dir = data_dir or default_data_dir()
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(_tfds_name(name), data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, ValueError, AssertionError) as e:   # a malformed name too
        raise NotPrepared(f"dataset {name!r}: tensorflow-datasets has no dataset {_tfds_name(name)!r} "
                          f"({' '.join(str(e).split())[:150]}; tfds.list_builders() names them)") from None
    _check_features(name, builder)
    try:
        spec, splits = _open_splits(name, builder)
    except (AssertionError, FileNotFoundError, OSError, ValueError) as e:
        raise NotPrepared(
            f"dataset {name!r} is not prepared in {data_dir} ({type(e).__name__}); on a machine with internet "
            f"run `python -c \"import tensorflow_datasets as tfds; tfds.builder('{_tfds_name(name)}', "
            f"data_dir='{data_dir}').download_and_prepare()\"` and copy {data_dir} here") from None
    if log:
        log(f"decoding {name} from {data_dir} into {out} (once)")
    num_classes = builder.info.features["label"].num_classes
    tx, ty = _read_split(splits["train"], image_size)
    ex, ey = _read_split(splits["eval"], image_size) if spec["eval"] else (None, None)
    if ey is not None and name not in SPECS and not ((ey >= 0) & (ey < num_classes)).all():
        if log:   # e.g. imagenet2012's test split: labels -1
            log(f"{name}: the {spec['eval']} split has no labels; evaluating on a holdout of train instead")
        ex, ey = None, None
    if ey is not None:
        split = {"train": spec["train"], "eval": spec["eval"]}
    else:
        tr, held = stratified_holdout(ty)
        tx, ty, ex, ey = tx[tr], ty[tr], tx[held], ty[held]
        split = {"train": f"{spec['train']} minus a stratified {HOLDOUT_FRACTION:.0%} holdout (seed "
                 f"{HOLDOUT_SEED})", "eval": "the holdout", "eval_indices": held.tolist()}
    out.mkdir(parents=True, exist_ok=True)
    for key, arr in (("train_x", tx), ("train_y", ty), ("eval_x", ex), ("eval_y", ey)):
        np.save(out / f"{key}.npy", arr)
    meta = {"name": name, "image_size": image_size, "data_dir": data_dir, "num_classes": num_classes,
            "split": split, "train": len(ty), "eval": len(ey)}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))   # written last: marks the cache complete
    return out


def load_cached(name: str, image_size: int) -> Dataset:
    """The decoded dataset from the cache, numpy only (no TensorFlow in the process)."""
    out = cache_path(name, image_size)
    if not (out / "meta.json").exists():
        raise NotPrepared(f"dataset {name!r} at {image_size}px is not in the cache {out}: "
                          "`parity run` decodes it before any job starts")
    meta = json.loads((out / "meta.json").read_text())
    arrays = [np.load(out / f"{k}.npy", mmap_mode="r") for k in ("train_x", "train_y", "eval_x", "eval_y")]
    tx, ty, ex, ey = arrays
    return Dataset(name, tx, np.asarray(ty), ex, np.asarray(ey), meta["num_classes"], SOURCE_MEAN, SOURCE_STD,
                   digest([np.asarray(tx[:64]), np.asarray(ty), np.asarray(ex[:64]), np.asarray(ey)]))
