"""The canonical checkpoint both frameworks start from.

One safetensors file with torchvision's key names and torch's layouts (conv OIHW,
linear (out, in); BN weight/bias/running_mean/running_var).  `num_batches_tracked`
is not stored: Keras has no equivalent, and a counter that only one side can load
would make the two starts differ.  The metadata carries the recipe that produced
the weights and a checksum, so every result can name the exact weights it began
from, and a corrupted or edited file is refused instead of silently used.

numpy + safetensors.numpy only: the runner, report and CLI read checkpoints
without importing either framework.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Mapping

import numpy as np

FORMAT = "bn-parity-canonical/1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message is one line naming the cause."""


def checksum(tensors: Mapping[str, np.ndarray]) -> str:
    """sha256 over sorted keys, dtype, shape and bytes; the first 16 hex digits."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        arr = np.ascontiguousarray(tensors[key])
        header = f"{key}\0{arr.dtype.str}\0{','.join(map(str, arr.shape))}\0"
        h.update(header.encode())
        h.update(arr.tobytes())
    return h.hexdigest()[:16]


def save_checkpoint(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], recipe: dict) -> str:
    """Write atomically (temp file + os.replace) and return the checksum."""
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    digest = checksum(arrays)
    metadata = {"format": FORMAT, "checksum": digest, "recipe": json.dumps(recipe, sort_keys=True)}
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=directory)
    os.close(fd)
    try:
        save_file(arrays, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return digest


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict, str]:
    """Read tensors, recipe and checksum; refuse a file whose contents do not match its checksum."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error type for any malformed header
        first_line = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"not a safetensors file: {path} ({first_line})") from None
    stored = metadata.get("checksum")
    if stored is None:
        raise CheckpointError(f"{path} has no checksum metadata; write canonical checkpoints with save_checkpoint")
    actual = checksum(tensors)
    if actual != stored:
        raise CheckpointError(f"checksum mismatch in {path}: stored {stored}, contents hash to {actual}")
    try:
        recipe = json.loads(metadata.get("recipe", "{}"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"unreadable recipe metadata in {path}: {e}") from None
    return tensors, recipe, stored


def check_compatible(expected: Mapping[str, tuple], tensors: Mapping[str, np.ndarray]) -> None:
    """Raise CheckpointError on the first (sorted) missing, unexpected or mis-shaped tensor."""
    problems = []
    for key in sorted(set(expected) | set(tensors)):
        if key not in tensors:
            problems.append(f"checkpoint lacks {key!r} (model expects shape {tuple(expected[key])})")
        elif key not in expected:
            problems.append(f"checkpoint has unexpected {key!r} with shape {tuple(np.shape(tensors[key]))}")
        elif tuple(np.shape(tensors[key])) != tuple(expected[key]):
            problems.append(f"shape mismatch for {key!r}: checkpoint {tuple(np.shape(tensors[key]))}, "
                            f"model {tuple(expected[key])}")
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise CheckpointError(problems[0] + more)


def split_skipped(keys, skip: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Partition keys into (kept, skipped) by prefix; `skip=("fc.",)` keeps a fresh head."""
    prefixes = (skip,) if isinstance(skip, str) else tuple(skip)
    kept, skipped = [], []
    for k in keys:
        (skipped if prefixes and k.startswith(prefixes) else kept).append(k)
    return kept, skipped
