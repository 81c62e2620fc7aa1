"""Real images that ship inside packages: nothing downloaded, nothing generated.

- ``digits``, a domain far from ImageNet: scikit-learn's bundled handwritten digits (1,797 images of
  8x8 pixels, 17 grey levels, 10 classes; the UCI "optdigits" test set), scaled to 0-255, repeated
  into RGB and upscaled with PIL's bilinear filter to the run's size.
- ``photos``, a domain near ImageNet: square crops of five of scikit-image's bundled photographs
  (astronaut, chelsea the cat, coffee, motorcycle_left, rocket), one class per photograph, 200 crops
  each (side 35-70 % of the photograph's short side, anywhere in it, drawn with a fixed seed). Train
  and eval crops come from the same five photographs, so they overlap: an easy, natural-image task.

Each is split 80/20 per class with a fixed seed. Both are normalized as EfficientNet-Lite was trained,
(pixel - 127) / 128: they exist for the real network (`efficientnet-lite0`).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from parity.data.loader import Dataset
from parity.data.synthetic import digest
from parity.data.tfds_data import resize_images, stratified_holdout

LITE_MEAN = (127 / 255,) * 3   # (pixel / 255 - mean) / std = (pixel - 127) / 128
LITE_STD = (128 / 255,) * 3
PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")
CROPS_PER_PHOTO = 200
SEED = 0   # the crops' draws; the split is tfds_data.stratified_holdout's (20 % per class, seed 0)


class RealDataMissing(RuntimeError):
    """The package the images ship in is not installed; one line saying which."""


def _package_dir(package: str, pypi: str) -> Path:
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise RealDataMissing(f"the real datasets ship in {pypi}, which is not installed here: "
                              "pip install -e '.[real]' (make installs it)")
    return Path(list(found.submodule_search_locations)[0])


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as uint8 RGB 8x8 images and int64 labels (read from the package's own file)."""
    _package_dir("sklearn", "scikit-learn")
    from sklearn.datasets import load_digits

    d = load_digits()
    grey = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1), d.target.astype(np.int64)


def photo_crops(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Random square crops of the bundled photographs, resized to ``size``; label = which photograph."""
    from PIL import Image

    folder = _package_dir("skimage", "scikit-image") / "data"
    rng = np.random.default_rng(SEED)
    images, labels = [], []
    for label, name in enumerate(PHOTOS):
        with Image.open(folder / name) as img:
            photo = np.asarray(img.convert("RGB"))
        h, w = photo.shape[:2]
        for _ in range(CROPS_PER_PHOTO):
            side = int(rng.uniform(0.35, 0.7) * min(h, w))
            top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
            crop = Image.fromarray(photo[top:top + side, left:left + side])
            images.append(np.asarray(crop.resize((size, size), Image.BILINEAR)))
            labels.append(label)
    return np.stack(images), np.asarray(labels, np.int64)


def load(name: str, size: int) -> Dataset:
    """``digits`` or ``photos`` at ``size`` x ``size``, split and normalized for EfficientNet-Lite."""
    if name == "digits":
        images, labels = digit_images()
        images = resize_images(images, size)
    elif name == "photos":
        images, labels = photo_crops(size)
    else:
        raise ValueError(f"unknown real dataset {name!r}; allowed: {', '.join(DATASETS)}")
    train, held = stratified_holdout(labels)
    tx, ty, ex, ey = images[train], labels[train], images[held], labels[held]
    return Dataset(name, tx, ty, ex, ey, int(labels.max()) + 1, LITE_MEAN, LITE_STD, digest([tx, ty, ex, ey]))


DATASETS = ("digits", "photos")
