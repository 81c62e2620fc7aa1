"""PyTorch's own input pipeline, as torchvision's users write it (the input-pipeline scenario).

Mirrors ``tf_impl/pipeline.py`` function for function. Each step is the op a torchvision v2
pipeline calls: ``torchvision.io.decode_jpeg``, ``Resize`` on the uint8 image (uint8 out, rounded),
``pad(padding_mode="reflect")``, ``crop``, ``horizontal_flip``, then ``ToDtype(float32, scale=True)``
and ``Normalize``. Where these defaults differ from TF's (antialias, the IDCT, uint8 rounding after
the resize) the two sides' inputs differ, and that is what the scenario measures.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch
from torchvision.io import ImageReadMode
from torchvision.io import decode_jpeg as _decode_jpeg
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


def preprocess(images, size, mean, std, crops=None, flips=None, pad=0, antialias=None) -> np.ndarray:
    """uint8 NHWC images (any size) -> float32 NHWC model input, with torchvision v2's own ops.

    The resize runs on the uint8 tensor, as ``v2.Resize`` does in the usual
    decode -> Resize -> ToDtype(scale=True) -> Normalize pipeline: its output is rounded to uint8
    (TF's resize returns unrounded float32). ``crops`` are top-left offsets into the padded image
    (the shared loader's ``EpochPlan.crops``); without them the crop is centred (the image as it
    was). The result goes back from NCHW to NHWC.
    """
    x = torch.from_numpy(np.ascontiguousarray(images, np.uint8)).permute(0, 3, 1, 2)
    kwargs = {} if antialias is None else {"antialias": bool(antialias)}
    x = F.resize(x, [size, size], **kwargs)
    if pad:
        x = F.pad(x, [pad], padding_mode="reflect")
    n = int(x.shape[0])
    if pad or crops is not None or flips is not None:
        offsets = np.full((n, 2), pad, np.int64) if crops is None else np.asarray(crops)
        flipped = np.zeros(n, bool) if flips is None else np.asarray(flips, bool)
        out = []
        for i in range(n):   # per image, as a Dataset's transform would
            img = F.crop(x[i], int(offsets[i, 0]), int(offsets[i, 1]), size, size)
            out.append(F.horizontal_flip(img) if flipped[i] else img)
        x = torch.stack(out)
    x = F.to_dtype(x, torch.float32, scale=True)
    x = F.normalize(x, mean=[float(m) for m in mean], std=[float(s) for s in std])
    return np.ascontiguousarray(x.permute(0, 2, 3, 1).numpy())


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> uint8 HWC RGB with ``torchvision.io.decode_jpeg`` (libjpeg-turbo's default IDCT, ISLOW)."""
    encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    return _decode_jpeg(encoded, mode=ImageReadMode.RGB).permute(1, 2, 0).contiguous().numpy()


def resize_defaults() -> dict:
    """``torchvision.transforms.v2.Resize``'s defaults, read from its signature: {"interpolation", "antialias"}."""
    params = inspect.signature(v2.Resize).parameters
    method = params["interpolation"].default
    return {"interpolation": str(getattr(method, "value", method)).lower(), "antialias": params["antialias"].default}
