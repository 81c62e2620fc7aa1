"""Datasets and the shared loader: every framework reads its batches from here."""
from __future__ import annotations

import functools

from parity.data.loader import Dataset, EpochPlan, Loader
from parity.data.synthetic import DOMAINS, SOURCE_MEAN, SOURCE_STD

__all__ = ["Dataset", "EpochPlan", "Loader", "DataError", "area_downscale", "load_dataset", "make_loaders",
           "prepare_dataset"]


class DataError(ValueError):
    """A dataset that cannot be served; the message is one line for the user."""


@functools.lru_cache(maxsize=8)
def _synthetic(name: str, image_size: int) -> Dataset:
    from parity.data import synthetic

    d = synthetic.generate(name, image_size)
    (tx, ty), (ex, ey) = d["train"], d["eval"]
    return Dataset(name, tx, ty, ex, ey, DOMAINS[name].num_classes, SOURCE_MEAN, SOURCE_STD,
                   synthetic.digest([tx, ty, ex, ey]))


@functools.lru_cache(maxsize=4)
def _real(name: str, image_size: int) -> Dataset:
    from parity.data import real

    try:
        return real.load(name, image_size)
    except real.RealDataMissing as e:
        raise DataError(str(e)) from None


@functools.lru_cache(maxsize=4)
def _folder(path: str, image_size: int, decode_jpeg=None) -> Dataset:
    from parity.data.folder import FolderError, load_folder

    try:
        return load_folder(path, image_size, decode_jpeg)
    except FolderError as e:
        raise DataError(str(e)) from None


def load_dataset(name: str, image_size: int, decode_jpeg=None) -> Dataset:
    """Decode a dataset once (cached per process) at the given square image size.

    ``decode_jpeg``: an image folder's JPEGs decoded by that (a framework's own decoder) instead of PIL.

    A tfds dataset is read from the decoded cache ``prepare_dataset`` wrote (from the run's
    ``data_dir``) before any job, so loading it needs no data_dir.
    """
    if name in DOMAINS:
        return _synthetic(name, image_size)
    if name in ("digits", "photos"):   # parity.data.real.DATASETS, without importing it for the others
        return _real(name, image_size)
    if name.startswith("folder:"):
        return _folder(name[len("folder:"):], image_size, decode_jpeg)
    from parity.data import tfds_data

    if tfds_data.is_tfds(name):
        try:
            return tfds_data.load_cached(name, image_size)
        except tfds_data.NotPrepared as e:
            raise DataError(str(e)) from None
    raise DataError(f"dataset {name!r} is unknown; use a synthetic domain ({', '.join(DOMAINS)}), "
                    f"real images (digits, photos), {', '.join(tfds_data.SPECS)}, tfds:NAME or folder:PATH")


def area_downscale(ds: Dataset, size: int) -> Dataset:
    """The shared pipeline's resize: each output pixel the mean of a whole block (an exact box filter).

    Framework-neutral (numpy) and antialiased by construction; ``size`` must divide the image size.
    """
    import numpy as np

    from parity.data.synthetic import digest

    factor = ds.image_size // size
    if factor * size != ds.image_size:
        raise DataError(f"{ds.name}: {ds.image_size} px images cannot be averaged down to {size} px in whole blocks")

    def shrink(x):
        blocks = x.reshape(len(x), size, factor, size, factor, x.shape[-1]).astype(np.float64)
        return np.clip(np.rint(blocks.mean(axis=(2, 4))), 0, 255).astype(np.uint8)

    tx, ex = shrink(ds.train_x), shrink(ds.eval_x)
    return Dataset(ds.name, tx, ds.train_y, ex, ds.eval_y, ds.num_classes, ds.mean, ds.std,
                   digest([tx, ds.train_y, ex, ds.eval_y]))


def prepare_dataset(name: str, image_size: int, data_dir: str | None = None, log=None) -> None:
    """Decode a tensorflow-datasets dataset into the cache before any job (a no-op for the others)."""
    from parity.data import tfds_data

    if tfds_data.is_tfds(name):
        try:
            tfds_data.prepare(name, image_size, data_dir, log)
        except tfds_data.NotPrepared as e:
            raise DataError(str(e)) from None


def make_loaders(ds: Dataset, batch_size: int, seed: int, *, train_images: int | None = None,
                 steps_per_epoch: int | None = None, augment: bool = True,
                 eval_batch_size: int = 256, preprocess=None, out_size: int | None = None) -> tuple[Loader, Loader]:
    """The training loader (seeded shuffle + augmentation) and the fixed evaluation loader.

    ``preprocess``/``out_size``: a framework's own pipeline turns the loader's uint8 images and draws
    into model input at ``out_size`` (see ``Loader``); None = the shared numpy steps.
    """
    tx, ty = ds.train_x, ds.train_y
    if train_images is not None:
        if train_images > len(tx):
            raise DataError(f"train_images={train_images} but {ds.name} has only {len(tx)} training images")
        tx, ty = tx[:train_images], ty[:train_images]
    if len(tx) < batch_size:
        raise DataError(f"{ds.name}: {len(tx)} training images are fewer than one batch of {batch_size}")
    pipe = {"preprocess": preprocess, "out_size": out_size, "source_digest": ds.source_digest}
    train = Loader(tx, ty, batch_size, mean=ds.mean, std=ds.std, seed=seed, train=True,
                   augment=augment, steps_per_epoch=steps_per_epoch, **pipe)
    evaluation = Loader(ds.eval_x, ds.eval_y, eval_batch_size, mean=ds.mean, std=ds.std,
                        train=False, augment=False, **pipe)
    return train, evaluation
