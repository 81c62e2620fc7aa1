"""The one numpy loader both frameworks consume.

Every batch is a function of (dataset, seed, epoch) only: the shuffle order,
crop offsets and flips are drawn from ``np.random.default_rng([seed, epoch])``,
so TF and torch receive byte-identical ``(float32 NHWC, int64)`` batches and
each implementation only converts the layout. The fingerprint hashes the
dataset bytes and every draw, and each result records it: the report refuses
to compare runs that did not see the same data.
"""
from __future__ import annotations

import collections
import hashlib
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator

import numpy as np


@dataclass
class Dataset:
    """Decoded images (uint8 NHWC) with labels, and the normalization the model expects."""
    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    eval_x: np.ndarray
    eval_y: np.ndarray
    num_classes: int
    mean: tuple[float, float, float]   # normalization, [0, 1] units
    std: tuple[float, float, float]
    digest: str                        # hash of the bytes above
    # set when each framework decoded the files itself: the files' digest, which the loaders'
    # fingerprints then hash instead of the (framework-dependent) pixels
    source_digest: str | None = None

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[1])


@dataclass(frozen=True)
class EpochPlan:
    order: np.ndarray      # indices into the split, batch after batch
    crops: np.ndarray      # (n, 2) top-left offsets into the padded image
    flips: np.ndarray      # (n,) bool


def default_workers() -> int:
    """Threads that assemble batches: ``PARITY_LOADER_WORKERS`` (default 1; a GPU box wants several)."""
    text = os.environ.get("PARITY_LOADER_WORKERS", "1")
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"PARITY_LOADER_WORKERS={text!r} is not allowed -- an integer >= 1")
    return int(text)


class Loader:
    """Deterministic batches of one split, with augmentation and a prefetch thread.

    Training: shuffle, random crop after ``pad`` pixels of reflection padding,
    horizontal flip, drop the last partial batch (BN on a batch of 1 is
    meaningless). Evaluation: fixed order, no augmentation, keep every image.
    With ``workers`` > 1 several threads assemble batches (numpy releases the
    GIL) and they are still handed out in order: the batches do not change.

    ``preprocess`` (a framework's ``pipeline.preprocess``) replaces the numpy steps: it is
    handed the batch's uint8 images as stored, ``out_size``, the normalization and this
    loader's crop offsets and flips, and resizes, pads, crops, flips and normalizes with the
    framework's own ops. The draws -- and so the fingerprint -- stay the loader's.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, *,
                 mean, std, seed: int = 0, train: bool = True, augment: bool = True,
                 pad: int = 4, steps_per_epoch: int | None = None, prefetch: int = 2,
                 workers: int | None = None, preprocess=None, out_size: int | None = None,
                 source_digest: str | None = None):
        if len(images) == 0:
            raise ValueError("the split has no images")
        if train and len(images) < batch_size:
            raise ValueError(f"the training split has {len(images)} images, fewer than one batch of {batch_size}")
        self.images, self.labels = images, labels
        self.batch_size, self.seed, self.train = batch_size, seed, train
        self.augment = augment and train
        self.pad = pad if self.augment else 0
        self.prefetch = prefetch
        self.workers = default_workers() if workers is None else workers
        self.preprocess, self.out_size = preprocess, out_size or images.shape[1]
        self.source_digest = source_digest
        self.mean, self.std = tuple(mean), tuple(std)
        self._mean = np.asarray(mean, np.float32) * 255.0
        self._inv_std = 1.0 / (np.asarray(std, np.float32) * 255.0)
        full = len(images) // batch_size if train else -(-len(images) // batch_size)
        self.steps_per_epoch = min(full, steps_per_epoch) if steps_per_epoch else full
        if self.pad and preprocess is None:
            p = self.pad
            self._padded = np.pad(images, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")

    def __len__(self) -> int:
        return self.steps_per_epoch

    def plan(self, epoch: int) -> EpochPlan:
        n = len(self.images)
        if not self.train:
            return EpochPlan(np.arange(n), np.zeros((n, 2), np.int64), np.zeros(n, bool))
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(n)
        crops = rng.integers(0, 2 * self.pad + 1, size=(n, 2)) if self.pad else np.zeros((n, 2), np.int64)
        flips = rng.random(n) < 0.5 if self.augment else np.zeros(n, bool)
        return EpochPlan(order, crops, flips)

    def _batch(self, plan: EpochPlan, step: int) -> tuple[np.ndarray, np.ndarray]:
        sl = slice(step * self.batch_size, (step + 1) * self.batch_size)
        idx = plan.order[sl]
        size = self.images.shape[1]
        if self.preprocess is not None:
            augmented = self.pad or self.augment
            x = self.preprocess(self.images[idx], self.out_size, self.mean, self.std,
                                plan.crops[sl] if augmented else None, plan.flips[sl] if augmented else None, self.pad)
            return x, self.labels[idx].astype(np.int64)
        if self.pad or self.augment:   # crop and flip each image as it is copied
            src = self._padded if self.pad else self.images
            x = np.empty((len(idx), size, size, self.images.shape[3]), self.images.dtype)
            for j, (i, (cy, cx), flip) in enumerate(zip(idx, plan.crops[sl], plan.flips[sl])):
                patch = src[i, cy:cy + size, cx:cx + size]
                x[j] = patch[:, ::-1] if flip else patch
        else:
            x = self.images[idx]
        x = x.astype(np.float32)
        x -= self._mean
        x *= self._inv_std
        return x, self.labels[idx].astype(np.int64)

    def batches(self, epoch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield the epoch's batches; a background thread prepares the next ones."""
        plan = self.plan(epoch)
        if self.prefetch <= 0:
            for step in range(self.steps_per_epoch):
                yield self._batch(plan, step)
            return
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def put(item) -> bool:
            """Hand an item over unless the consumer has gone; never block forever."""
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            pool = (ThreadPoolExecutor(self.workers, thread_name_prefix="parity-loader")
                    if self.workers > 1 else None)
            try:
                if pool is None:
                    for step in range(self.steps_per_epoch):
                        if not put(self._batch(plan, step)):
                            return
                else:   # several batches in the making, handed over in step order
                    pending: collections.deque = collections.deque()
                    next_step = 0
                    while next_step < self.steps_per_epoch or pending:
                        while next_step < self.steps_per_epoch and len(pending) < self.workers + self.prefetch:
                            pending.append(pool.submit(self._batch, plan, next_step))
                            next_step += 1
                        if not put(pending.popleft().result()):
                            return
                put(done)
            except BaseException as e:  # hand the error to the consumer
                put(e)
            finally:
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)

        thread = threading.Thread(target=produce, name="parity-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=5)

    def fingerprint(self, epochs: int) -> str:
        """Hash of the images and of every draw the given number of epochs makes."""
        h = hashlib.sha256()
        pipe = f"|{self.out_size}" if self.preprocess is not None else ""   # unchanged for the shared loader
        h.update(f"{self.batch_size}|{self.steps_per_epoch}|{self.pad}|{self.augment}{pipe}".encode())
        h.update(self._mean.tobytes() + self._inv_std.tobytes())
        if self.source_digest:   # each framework decoded the same files its own way
            h.update(self.source_digest.encode() + np.asarray(self.images.shape).tobytes())
        else:
            h.update(hashlib.sha256(np.ascontiguousarray(self.images).tobytes()).digest())
        h.update(np.ascontiguousarray(self.labels).tobytes())
        for epoch in range(epochs):
            plan = self.plan(epoch)
            used = self.steps_per_epoch * self.batch_size
            h.update(plan.order[:used].tobytes())
            h.update(plan.crops[:used].tobytes())
            h.update(plan.flips[:used].tobytes())
        return h.hexdigest()[:16]
