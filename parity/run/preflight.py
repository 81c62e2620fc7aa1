"""Before any job starts: every dataset prepared and big enough, every starting checkpoint present, loadable
and the right shape -- so a run never fails an hour in on what could be seen at once."""
from __future__ import annotations

from typing import Callable

from parity.assets import canonical, starting
from parity.data import DataError, load_dataset, prepare_dataset
from parity.spec.config import RunConfig, SuiteConfig


def problems(suite: SuiteConfig, log: Callable[[str], None]) -> list[str]:
    """One line per problem of the suite's runs (each once; empty when all can start); ``log`` hears the
    preparation of a dataset (a tfds decode, a folder scan)."""
    found: list[str] = []
    for run in suite.runs:
        try:   # weights first, on their own: a missing dataset must not hide a missing file
            starting.check(run, suite.frameworks_of(run))
        except canonical.CheckpointError as e:
            found.append(str(e))
        try:
            _check_data(run, suite.seeds[0], log, found)
        except (DataError, canonical.CheckpointError) as e:
            found.append(str(e))
    return list(dict.fromkeys(found))


def _check_data(run: RunConfig, seed: int, log: Callable[[str], None], found: list[str]) -> None:
    """The run's dataset prepared and read, its size against the run's, and its starting weights loaded
    (problems added to ``found``; a dataset or checkpoint that cannot be used raises)."""
    prepare_dataset(run.dataset, run.image_size, run.data_dir, log=log)
    ds = load_dataset(run.dataset, run.image_size)
    if run.train_images is not None and run.train_images > len(ds.train_x):
        found.append(f"train_images={run.train_images}: {run.dataset} has only {len(ds.train_x)}")
    n = min(run.train_images or len(ds.train_x), len(ds.train_x))
    if n < run.batch_size:
        found.append(f"batch_size={run.batch_size}: {run.dataset} has {n} training images, fewer than one batch")
    if run.pretrained not in ("zoo", "source") or starting.default_checkpoint(run.model).exists():
        starting.starting_weights(run, ds.num_classes, seed)   # the file loads and fits
