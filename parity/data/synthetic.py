"""Synthetic image domains that need no download.

Three domains stand in for the article's datasets:

* ``source`` -- 10 classes of oriented-texture images with natural-photo colour
  statistics (ImageNet-like per-channel means/stds): what the tiny ResNet is
  pretrained on, playing ImageNet's role.
* ``near`` -- 5 *new* classes rendered with the same colour statistics: the
  stand-in for imagenette (new task, ImageNet-like inputs).
* ``far`` -- 5 *new* classes rendered as H&E-stained tissue via Beer-Lambert
  stain absorption (pink/purple, bright, low contrast): the stand-in for
  colorectal_histology. After the usual normalization with the *source*
  statistics its inputs are far from what the pretrained BN layers expect.

Class identity is carried by texture (frequencies and orientations of a few
gratings under a Gaussian envelope), so features learned on ``source`` transfer
to the other domains while only the input statistics differ.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

# ImageNet's per-channel statistics: the normalization every domain gets, as
# keras.applications' preprocess_input / torchvision's Normalize would apply.
SOURCE_MEAN = (0.485, 0.456, 0.406)
SOURCE_STD = (0.229, 0.224, 0.225)

# Optical densities of haematoxylin (purple-blue) and eosin (pink) per RGB
# channel (Ruifrok & Johnston 2001).
_HEMATOXYLIN = np.array([0.65, 0.70, 0.29], np.float32)
_EOSIN = np.array([0.07, 0.99, 0.11], np.float32)


@dataclass(frozen=True)
class DomainSpec:
    name: str
    num_classes: int
    recipe_seed: int        # which classes (texture recipes) the domain has
    sample_seed: int        # which images are drawn
    render: str             # "natural" | "stain"
    train_size: int
    eval_size: int
    description: str


DOMAINS = {
    "source": DomainSpec("source", 10, 101, 1001, "natural", 6000, 1000,
                         "pretraining domain, ImageNet-like colour statistics"),
    "near": DomainSpec("near", 5, 202, 2002, "natural", 1500, 1000,
                       "new classes, same input statistics as source (stand-in for imagenette)"),
    "far": DomainSpec("far", 5, 303, 3003, "stain", 1500, 1000,
                      "new classes, H&E-stain-like input statistics (stand-in for colorectal_histology)"),
}


def _texture(rng: np.random.Generator, labels: np.ndarray, size: int, recipes: dict) -> np.ndarray:
    """Grey-level textures in roughly [-1, 1], one per label, shape (n, size, size)."""
    n = len(labels)
    yy, xx = np.meshgrid(np.arange(size, dtype=np.float32) / size,
                         np.arange(size, dtype=np.float32) / size, indexing="ij")
    out = np.zeros((n, size, size), np.float32)
    for k in range(recipes["freq"].shape[1]):
        freq = recipes["freq"][labels, k] * (1 + 0.08 * rng.standard_normal(n))
        angle = recipes["angle"][labels, k] + 0.12 * rng.standard_normal(n)
        phase = rng.uniform(0, 2 * np.pi, n)
        amp = recipes["amp"][labels, k]
        arg = (xx[None] * np.cos(angle)[:, None, None] + yy[None] * np.sin(angle)[:, None, None])
        out += (amp[:, None, None] * np.sin(2 * np.pi * freq[:, None, None] * arg + phase[:, None, None])).astype(np.float32)
    # A Gaussian envelope at a random position, its width a class trait too.
    cy, cx = rng.uniform(0.25, 0.75, (2, n)).astype(np.float32)
    width = recipes["width"][labels] * (1 + 0.1 * rng.standard_normal(n))
    env = np.exp(-((yy[None] - cy[:, None, None]) ** 2 + (xx[None] - cx[:, None, None]) ** 2)
                 / (2 * width[:, None, None] ** 2))
    out = out * (0.35 + 0.65 * env) + 0.25 * rng.standard_normal((n, size, size)).astype(np.float32)
    out /= out.std(axis=(1, 2), keepdims=True) + 1e-6
    return np.clip(out / 2.5, -1, 1)


def _recipes(spec: DomainSpec) -> dict:
    r = np.random.default_rng(spec.recipe_seed)
    c, k = spec.num_classes, 3
    return {
        "freq": r.uniform(1.5, 7.0, (c, k)).astype(np.float32),
        "angle": r.uniform(0, np.pi, (c, k)).astype(np.float32),
        "amp": r.uniform(0.3, 1.0, (c, k)).astype(np.float32),
        "width": r.uniform(0.12, 0.4, c).astype(np.float32),
    }


def _render_natural(rng, tex):
    """Photo-like colours: a random tint around ImageNet's mean, contrast ~ its std."""
    n = len(tex)
    base = np.array(SOURCE_MEAN, np.float32) + 0.1 * rng.standard_normal((n, 3)).astype(np.float32)
    direction = 0.75 + 0.25 * rng.standard_normal((n, 3)).astype(np.float32)
    contrast = rng.uniform(0.45, 0.65, n).astype(np.float32)
    img = base[:, None, None, :] + (contrast[:, None] * direction)[:, None, None, :] * tex[..., None]
    return img


def _render_stain(rng, tex):
    """H&E-like colours: Beer-Lambert absorption of two stains whose concentrations follow the texture."""
    n = len(tex)
    h_conc = 0.3 + 0.45 * tex + 0.03 * rng.standard_normal((n, 1, 1)).astype(np.float32)
    e_conc = 0.35 - 0.2 * tex + 0.03 * rng.standard_normal((n, 1, 1)).astype(np.float32)
    od = h_conc[..., None] * _HEMATOXYLIN + e_conc[..., None] * _EOSIN
    return np.exp(-np.maximum(od, 0.0))


def generate(name: str, image_size: int) -> dict:
    """Deterministically generate a domain: uint8 NHWC images and int64 labels for train and eval."""
    spec = DOMAINS[name]
    recipes = _recipes(spec)
    out = {}
    for split, size, offset in (("train", spec.train_size, 0), ("eval", spec.eval_size, 1)):
        rng = np.random.default_rng([spec.sample_seed, offset, image_size])
        labels = np.arange(size, dtype=np.int64) % spec.num_classes
        rng.shuffle(labels)
        tex = _texture(rng, labels, image_size, recipes)
        img = _render_natural(rng, tex) if spec.render == "natural" else _render_stain(rng, tex)
        out[split] = (np.clip(np.rint(img * 255), 0, 255).astype(np.uint8), labels)
    return out


def channel_stats(images_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 NHWC images, in [0, 1] units."""
    x = images_uint8.reshape(-1, images_uint8.shape[-1]).astype(np.float64) / 255.0
    return x.mean(axis=0), x.std(axis=0)


def digest(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
