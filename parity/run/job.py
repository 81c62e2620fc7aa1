"""One fine-tuning job in one framework: from a job spec to a result dict.

Runs inside a worker process (``parity.run.worker``). Everything framework-neutral
-- data, fingerprint, starting weights, resolved knobs -- happens here, so the
two sides are handed the same inputs by construction.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import NamedTuple

import numpy as np

from parity import frameworks
from parity.assets import canonical
from parity.assets.starting import starting_weights
from parity.data import DataError, Dataset, Loader, area_downscale, load_dataset, make_loaders
from parity.results import SCHEMA, JobResult, environment
from parity.spec.config import RunConfig, run_from_dict
from parity.spec.knobs import resolve_bn, resolve_optimizer, resolved_config_fields, unmatched_rules
from parity.train import loop
from parity.train.plan import TrainPlan

STATS_IMAGES = 512   # target images used to measure the true BN statistics each epoch

# A job's computation is fixed by its framework (this process), seed, threads, run config and the
# knob values resolved against the framework's defaults (the plan). Two jobs that agree on all of
# that -- a scenario's "native" torch run and another's explicit momentum 0.9, say -- are one
# computation: a worker runs it once and records it for both (``computed_by`` names the job that
# ran it). The labels are left out, and the fields ``make_plan`` resolves are left out in favour
# of their resolved values; any other field, even one that does not change the training, keeps
# two runs apart, so a new field can cost a reuse but never share results that differ.
LABEL_FIELDS = ("scenario", "variant")


def unresolved_settings(run: dict) -> dict:
    """The run config without its labels and without the fields the plan holds resolved
    (``knobs.resolved_config_fields``)."""
    config = {k: v for k, v in run.items() if k not in LABEL_FIELDS}
    for path in resolved_config_fields():
        *parents, leaf = path.split(".")
        settings = config
        for parent in parents:   # copied on the way down: the caller's run is left as it is
            settings[parent] = dict(settings[parent])
            settings = settings[parent]
        settings.pop(leaf, None)
    return config


def computation_key(run: dict, seed: int, threads: int, plan: TrainPlan) -> str:
    """What identifies a job's computation inside one worker process (see above)."""
    return json.dumps({"run": unresolved_settings(run), "plan": plan.to_dict(), "seed": seed, "threads": threads},
                      sort_keys=True, default=str)


def make_plan(run: RunConfig, num_classes: int, seed: int, native: dict, framework: str,
              pixel_mean=None, pixel_std=None) -> TrainPlan:
    """The run's settings as the framework gets them: every TrainPlan field the config has by the same name,
    the knobs resolved against ``native`` (the framework's own defaults), and what the job adds."""
    zoo = run.pretrained == "zoo"
    bn = resolve_bn(framework, run.bn.momentum, run.bn.epsilon, native)
    opt = resolve_optimizer(run.optimizer, run.weight_decay, run.adam_epsilon, native)
    same_named = {f.name: getattr(run, f.name) for f in dataclasses.fields(TrainPlan) if hasattr(run, f.name)}
    return TrainPlan(**{
        **same_named, **opt, "arch": run.model, "num_classes": num_classes, "seed": seed,
        # the zoo networks keep the epsilon their weights were trained with
        "bn": dataclasses.replace(run.bn, momentum=bn["bn_momentum"], epsilon=None if zoo else bn["bn_epsilon"]),
        "match_rules": tuple(run.match_rules), "zoo": zoo,
        "pixel_mean": tuple(pixel_mean) if zoo else None, "pixel_std": tuple(pixel_std) if zoo else None})


class JobInputs(NamedTuple):
    """What a job trains on and starts from, the same for every column given the same run and seed."""
    dataset: Dataset             # its images, classes, normalization and digest
    train: Loader
    evaluation: Loader
    stats_batches: list          # the batches BN statistics are compared on
    calibration: list            # the batches a recalibration recomputes BN statistics from ([] = off)
    init: dict                   # the starting weights, canonical names -> numpy arrays
    pretrained_checksum: str     # of the checkpoint the weights came from
    fingerprint: str             # of every batch the job will see, in order


def prepare(run: RunConfig, seed: int, pipeline=None) -> JobInputs:
    """Data and starting weights: identical for every column given the same run and seed.

    ``pipeline`` is the framework's own ``pipeline`` module when ``run.pipeline`` asks for it: the
    loaders then hand it the stored uint8 images (rendered at ``render_size``) and their draws.
    """
    own = run.pipeline != "shared"   # image folders' JPEGs are then decoded by the framework's own decoder too
    ds = load_dataset(run.dataset, run.render_size or run.image_size, pipeline.decode_jpeg if own else None)
    pipe = {}
    if own:
        antialias = True if run.pipeline == "framework-antialias" else None
        pipe = {"preprocess": lambda *args: pipeline.preprocess(*args, antialias=antialias),
                "out_size": run.image_size}
    elif ds.image_size != run.image_size:
        ds = area_downscale(ds, run.image_size)
    train, evaluation = make_loaders(ds, run.batch_size, seed, train_images=run.train_images,
                                     steps_per_epoch=run.steps_per_epoch, augment=run.augment, **pipe)
    probe = Loader(ds.train_x[:STATS_IMAGES], ds.train_y[:STATS_IMAGES], 256, mean=ds.mean, std=ds.std,
                   train=False, augment=False, prefetch=0, **pipe)
    stats_batches = list(probe.batches())
    calibration = []
    if run.bn.recalibrate_batches:
        n = min(run.bn.recalibrate_batches * run.batch_size, len(train.images))
        plain = Loader(train.images[:n], train.labels[:n], run.batch_size, mean=ds.mean, std=ds.std,
                       train=False, augment=False, prefetch=0, **pipe)
        calibration = list(plain.batches())
    init, base_checksum = starting_weights(run, ds.num_classes, seed)
    fingerprint = canonical.checksum({"train": np.frombuffer(train.fingerprint(run.epochs).encode(), np.uint8),
                                      "eval": np.frombuffer(evaluation.fingerprint(1).encode(), np.uint8)})
    return JobInputs(ds, train, evaluation, stats_batches, calibration, init, base_checksum, fingerprint)


def execute(job: dict, backend, progress=None, computed: dict | None = None) -> JobResult:
    """Run one job with an already imported backend; returns the result dict (status ok).

    ``computed``: the worker's record of the computations it ran (``computation_key`` -> what
    they gave); a job whose computation is there is answered from it instead of training again.
    """
    run = run_from_dict(job["run"])
    seed, threads = int(job["seed"]), int(job.get("threads", 1))
    t0 = time.perf_counter()
    threading = backend.configure(threads, seed)
    pipeline = frameworks.load(backend.NAME, "pipeline") if run.pipeline != "shared" else None
    inputs = prepare(run, seed, pipeline)
    ds, init, fingerprint = inputs.dataset, inputs.init, inputs.fingerprint
    native = backend.native_defaults()
    plan = make_plan(run, ds.num_classes, seed, native, backend.NAME, ds.mean, ds.std)
    key = computation_key(job["run"], seed, threads, plan)
    out = computed.get(key) if computed is not None else None
    if out is None:
        fitted = loop.fit(frameworks.Implementation(backend.NAME), plan, init, inputs.train, inputs.evaluation,
                          inputs.stats_batches, progress, inputs.calibration)
        out = {k: fitted.get(k) for k in ("history", "final", "renorm_trace", "zoo_bn")}
        out.update(final_weights_checksum=canonical.checksum(fitted["weights"]), computed_by=None,
                   fingerprint=fingerprint, init_checksum=canonical.checksum(init))
        if computed is not None:
            computed[key] = {**out, "computed_by": job["id"]}
    elif (out["fingerprint"], out["init_checksum"]) != (fingerprint, canonical.checksum(init)):
        raise RuntimeError(f"{job['id']}: same computation key as {out['computed_by']} but other data or "
                           "starting weights (a bug in computation_key)")
    result = base_result(job)
    result.update(
        status="ok", error=None,
        env={**environment(), **backend.versions(), **threading, **backend.device_info()},
        native_defaults=native, plan=plan.to_dict(),
        data_fingerprint=fingerprint, dataset_digest=ds.digest,
        pretrained_checksum=inputs.pretrained_checksum, init_checksum=out["init_checksum"],
        final_weights_checksum=out["final_weights_checksum"],
        steps_per_epoch=len(inputs.train), history=out["history"], final=out["final"],
        renorm_trace=out["renorm_trace"], zoo_bn=out["zoo_bn"],
        unmatched=unmatched_rules(run),   # update rules the frameworks apply differently (spec/knobs.py)
        computed_by=out["computed_by"],   # None: trained by this job; else the job whose training it shares
        worker=job.get("worker"),         # the worker process that ran it (runner's name, e.g. tf-worker-2)
        wall_s=round(time.perf_counter() - t0, 3),
    )
    return result


def base_result(job: dict) -> JobResult:
    run = job["run"]
    return JobResult(schema=SCHEMA, id=job["id"], suite=job.get("suite"), scenario=run["scenario"],
                     variant=run["variant"], dataset=run["dataset"], framework=job["framework"], seed=job["seed"],
                     config=run, status="failed", error=None)


def failed_result(job: dict, reason: str, **extra) -> JobResult:
    result = base_result(job)
    result.update(status="failed", error=reason, **extra)
    return result


__all__ = ["execute", "failed_result", "prepare", "DataError"]
