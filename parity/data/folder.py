"""An image-folder dataset (``dataset = "folder:PATH"``): one sub-folder per class.

For running the suite on a user's own domain (their own medical images, say).
Images are decoded once, resized to the run's square size and split per class
into train and eval with a fixed seed (stratified, 20% eval), so both
frameworks read the same bytes -- decoded by PIL for both, or, with a run's
``pipeline = "framework"``, JPEGs by each framework's own decoder. Anything unusable stops the run before it
starts, with one line naming the file or folder.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from parity.data.loader import Dataset
from parity.data.synthetic import SOURCE_MEAN, SOURCE_STD, digest

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}
EVAL_FRACTION = 0.2
SPLIT_SEED = 0


class FolderError(ValueError):
    """The folder cannot be served; one line naming what is wrong."""


JPEG_SUFFIXES = {".jpg", ".jpeg"}


MAX_PIXELS = 89_478_485   # PIL's own bound (Image.MAX_IMAGE_PIXELS), applied before any decoder allocates


def _check_pixels(path: Path, data: bytes | None) -> None:
    """Refuse an image whose header claims more pixels than any photo this suite resizes (a decompression
    bomb: a few bytes that would decode to gigabytes); only the header is read."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # the bound below says it
            with Image.open(path if data is None else io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        raise FolderError(f"{path}: its header claims more than {2 * MAX_PIXELS:,} pixels -- not an image "
                          "this suite reads (a decompression bomb?)") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise FolderError(f"{path}: unreadable image ({type(e).__name__})") from None
    if width * height > MAX_PIXELS:
        raise FolderError(f"{path}: {width}x{height} pixels, more than {MAX_PIXELS:,} -- downscale it first")


def _load_image(path: Path, size: int, decode_jpeg=None, data: bytes | None = None) -> np.ndarray:
    """One image at size x size; ``data``, when given, is the file's bytes already read (read once)."""
    import io

    from PIL import Image, UnidentifiedImageError

    _check_pixels(path, data)
    if decode_jpeg is not None and path.suffix.lower() in JPEG_SUFFIXES:
        try:   # the framework's own decoder; the resize to the stored size stays the shared one (PIL)
            pixels = decode_jpeg(path.read_bytes() if data is None else data)
        except Exception as e:   # each framework raises its own error type for a broken file
            raise FolderError(f"{path}: unreadable JPEG ({type(e).__name__})") from None
        return np.asarray(Image.fromarray(pixels).resize((size, size), Image.BILINEAR), dtype=np.uint8)
    try:
        with Image.open(path if data is None else io.BytesIO(data)) as img:
            img.load()
            if img.mode != "RGB":
                raise FolderError(f"{path}: {img.mode} image, not RGB -- convert it (e.g. PIL's "
                                  "Image.convert('RGB')) or remove it")
            return np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise FolderError(f"{path}: unreadable image ({type(e).__name__})") from None


def load_folder(root: str | Path, image_size: int, decode_jpeg=None) -> Dataset:
    """The folder's images at ``image_size``; JPEGs decoded by ``decode_jpeg`` (a framework's own) when given.

    With a framework's decoder the two sides' pixels differ by their IDCTs, so the digest is taken
    from the files' bytes: both sides then record the same data, as they did read the same files.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise FolderError(f"folder dataset {str(root)!r} does not exist")
    if not root.is_dir():
        raise FolderError(f"folder dataset {str(root)!r} is not a folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FolderError(f"folder dataset {str(root)!r} has no class folders (expected one sub-folder per class)")
    if len(classes) < 2:
        raise FolderError(f"folder dataset {str(root)!r} has one class folder; a classifier needs at least two")
    rng = np.random.default_rng(SPLIT_SEED)
    train_x, train_y, eval_x, eval_y = [], [], [], []
    file_bytes = []
    for label, folder in enumerate(classes):
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise FolderError(f"class {folder.name!r} has no images in {folder} "
                              f"(looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        # with a framework's decoder the files' bytes are also the digest: each file is read once
        raw = [p.read_bytes() for p in files] if decode_jpeg is not None else [None] * len(files)
        images = np.stack([_load_image(p, image_size, decode_jpeg, data) for p, data in zip(files, raw)])
        if decode_jpeg is not None:
            file_bytes += [np.frombuffer(data, np.uint8) for data in raw]
        order = rng.permutation(len(files))
        n_eval = int(round(EVAL_FRACTION * len(files))) if len(files) > 1 else 0
        eval_x.append(images[order[:n_eval]])
        train_x.append(images[order[n_eval:]])
        eval_y += [label] * n_eval
        train_y += [label] * (len(files) - n_eval)
    tx, ex = np.concatenate(train_x), np.concatenate(eval_x)
    ty, ey = np.asarray(train_y, np.int64), np.asarray(eval_y, np.int64)
    if len(ex) == 0:
        raise FolderError(f"folder dataset {str(root)!r} is too small to hold out any evaluation images")
    source = digest([*file_bytes, ty, ey]) if decode_jpeg is not None else None
    return Dataset(f"folder:{root}", tx, ty, ex, ey, len(classes), SOURCE_MEAN, SOURCE_STD,
                   source or digest([tx, ty, ex, ey]), source_digest=source)
