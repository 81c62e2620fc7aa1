"""Every problem of a run or a suite, one line each (``field: bad value -- what is allowed``), before
anything runs: table-driven where a setting needs no other, a ``_check_*`` function where it does."""
from __future__ import annotations

import re
from typing import Any

from parity import frameworks
from parity.hints import did_you_mean
from parity.spec.archs import ARCHS, IMAGENET_ARCHS
from parity.spec.config import (BN_RULES, FRAMEWORKS, FREEZE_MODES, MAX_SEED, NORMS, OPTIMIZERS, PIPELINES,
                                PRECISIONS, PRETRAINED_NAMES, REAL_DATASETS, RUN_RULES, SAFE_NAME, SAFE_NAME_RULE,
                                SYNTHETIC_DATASETS, TFDS_DATASETS, ConfigError, RunConfig, SuiteConfig, is_int,
                                listing)
from parity.spec.knobs import UPDATE_RULES, rule_applies


def validate_run(run: RunConfig, where: str = "run") -> list[str]:
    """Return one line per problem in ``run`` (empty when valid)."""
    problems: list[str] = []

    def bad(name: str, value: Any, allowed: str) -> None:
        problems.append(f"{where}.{name}: {value!r} is not allowed -- {allowed}")

    _check_names(run, bad)
    arch = _check_dataset_and_model(run, bad)
    _check_pretrained(run, bad)
    _check_image_size(run, arch, bad)
    for prefix, obj, rules in (("", run, RUN_RULES), ("bn.", run.bn, BN_RULES)):
        for name, ok, allowed in rules:
            if not ok(getattr(obj, name)):
                bad(prefix + name, getattr(obj, name), allowed)
    problems.extend(validate_match_rules(run, where))
    _check_phases(run, bad)
    _check_render_size(run, bad)
    _check_pipeline(run, bad)
    _check_norm(run, arch, bad)
    return problems


def _check_names(run: RunConfig, bad) -> None:
    for name in ("scenario", "variant"):   # part of every job's file name
        value = getattr(run, name)
        if not isinstance(value, str) or not SAFE_NAME.fullmatch(value):
            bad(name, value, SAFE_NAME_RULE)


def _check_dataset_and_model(run: RunConfig, bad):
    """The dataset and the model, each known, and a pair the loader can normalize for; the model's spec."""
    ds = run.dataset
    if not isinstance(ds, str) or not (
        ds in SYNTHETIC_DATASETS or ds in REAL_DATASETS or ds in TFDS_DATASETS or ds.startswith(("folder:", "tfds:"))
    ):
        known = SYNTHETIC_DATASETS + REAL_DATASETS + TFDS_DATASETS
        hint = (did_you_mean(ds, known, cutoff=0.7) or
                (f" (a tensorflow-datasets dataset? write 'tfds:{ds}')" if re.fullmatch(r"\w+(/[\w.-]+)?", str(ds)) else ""))
        bad("dataset", ds, f"one of {listing(known)}, tfds:NAME (any tensorflow-datasets image classification "
            f"dataset) or folder:PATH{hint}")
    elif ds in ("folder:", "tfds:"):
        bad("dataset", ds, f"{ds}{'PATH' if ds == 'folder:' else 'NAME'} needs a {'path' if ds == 'folder:' else 'name'} "
            "after the colon")
    arch = ARCHS.get(run.model) if isinstance(run.model, str) else None
    if arch is None:
        bad("model", run.model, f"one of {listing(ARCHS)}{did_you_mean(run.model, ARCHS)}")
    elif isinstance(ds, str) and (ds in REAL_DATASETS) != (arch.family == "efficientnet-lite"):
        # the normalization is the dataset's (the loader applies it): each pairs with the network it was made for
        bad("dataset", ds, "the real datasets (digits, photos) are normalized as EfficientNet-Lite was trained, "
            "(pixel - 127) / 128, and the others with ImageNet's mean/std as the ResNets expect: "
            "efficientnet-lite0 runs on digits or photos, the ResNets on the others")
    return arch


def _check_pretrained(run: RunConfig, bad) -> None:
    if not isinstance(run.pretrained, str) or not run.pretrained:
        bad("pretrained", run.pretrained, f"one of {listing(PRETRAINED_NAMES)} or a checkpoint path")
    elif run.pretrained == "imagenet" and run.model not in IMAGENET_ARCHS:
        bad("pretrained", run.pretrained, f"ImageNet weights exist for {', '.join(IMAGENET_ARCHS)}, not {run.model}")
    elif run.pretrained == "zoo" and run.model != "resnet50":
        bad("pretrained", run.pretrained, f"the native zoos are compared for resnet50, not {run.model}")
    elif run.pretrained == "zoo" and (run.bn.norm != "bn" or run.bn.epsilon is not None
                                      or run.bn.reinject_momentum is not None):
        bad("pretrained", run.pretrained, "the zoo networks run as shipped: norm 'bn', bn.epsilon and "
            "bn.reinject_momentum unset (bn.momentum, freezing and recalibration apply)")
    elif run.pretrained == "source" and run.model != "resnet-tiny":
        bad("pretrained", run.pretrained, f"the source-domain checkpoint is a resnet-tiny; {run.model} needs "
            "'imagenet', 'none' or a checkpoint path")


def _check_image_size(run: RunConfig, arch, bad) -> None:
    if not is_int(run.image_size) or run.image_size < 1:
        bad("image_size", run.image_size, "a positive integer")
    elif arch is not None and run.image_size < arch.min_image_size:
        bad("image_size", run.image_size, f"{run.model} needs at least {arch.min_image_size} pixels")
    elif run.image_size > 1024:
        bad("image_size", run.image_size, "at most 1024")


def _check_phases(run: RunConfig, bad) -> None:
    """head_epochs, the two-phase recipe's epochs, and Adam's epsilon only where Adam runs."""
    if not is_int(run.head_epochs) or run.head_epochs < 1:
        bad("head_epochs", run.head_epochs, "an integer >= 1")
    elif run.bn.freeze == "two_phase" and is_int(run.epochs) and run.epochs <= run.head_epochs:
        bad("epochs", run.epochs, f"two_phase needs more epochs than head_epochs ({run.head_epochs})")
    if run.adam_epsilon is not None and run.optimizer == "sgd":
        bad("adam_epsilon", run.adam_epsilon, "Adam's and AdamW's setting; unset it for sgd")


def _check_render_size(run: RunConfig, bad) -> None:
    if run.render_size is None:
        return
    if not is_int(run.render_size) or not (1 <= run.render_size <= 1024):
        bad("render_size", run.render_size, "an integer in [1, 1024], or unset to render at image_size")
    elif run.dataset not in SYNTHETIC_DATASETS:
        bad("render_size", run.render_size, "only the synthetic domains are rendered; unset it for "
            f"{run.dataset!r}")
    elif not is_int(run.image_size) or run.image_size < 1:
        pass   # image_size is refused itself; nothing to measure render_size against
    elif run.render_size < run.image_size:
        bad("render_size", run.render_size, f"at least image_size ({run.image_size})")
    elif run.pipeline == "shared" and run.render_size % run.image_size:
        bad("render_size", run.render_size, f"a multiple of image_size ({run.image_size}) with the shared "
            "pipeline: it downscales by averaging whole blocks of pixels")


def _check_pipeline(run: RunConfig, bad) -> None:
    """Say so rather than measure nothing: a framework's pipeline needs something of its own to do."""
    ds = run.dataset
    if run.pipeline not in PIPELINES or run.pipeline == "shared" or not isinstance(ds, str):
        return
    if ds in REAL_DATASETS:
        bad("pipeline", run.pipeline, "the real datasets are decoded once (PIL) and resized to image_size "
            "in numpy, so nothing is left for a framework's pipeline to do; use an image folder")
    elif ds in TFDS_DATASETS or ds.startswith("tfds:"):
        bad("pipeline", run.pipeline, "tfds datasets are decoded once (by TF) and cached at image_size, so "
            "nothing is left for a framework's pipeline to decode or resize; use a synthetic domain with "
            "render_size, or an image folder (its JPEGs are decoded by each framework)")
    elif ds in SYNTHETIC_DATASETS and (run.render_size is None or run.render_size == run.image_size):
        bad("pipeline", run.pipeline, "with a synthetic domain it needs render_size > image_size (the "
            "framework's resize is what it measures)")


def _check_norm(run: RunConfig, arch, bad) -> None:
    """The freezing mode, the normalization and what each of them needs of the other."""
    bn = run.bn
    if bn.freeze not in FREEZE_MODES:
        bad("bn.freeze", bn.freeze, f"one of {listing(FREEZE_MODES)}{did_you_mean(bn.freeze, FREEZE_MODES)}")
    if bn.norm not in NORMS:
        bad("bn.norm", bn.norm, f"one of {listing(NORMS)}")
    elif bn.freeze == "bn_frozen" and bn.norm != "bn":
        bad("bn.freeze", bn.freeze, "bn_frozen freezes the BN layers in inference mode: it needs norm = 'bn'")
    if not is_int(bn.recalibrate_batches) or bn.recalibrate_batches < 0:
        bad("bn.recalibrate_batches", bn.recalibrate_batches, "an integer >= 0 (0 = off)")
    elif bn.recalibrate_batches and bn.norm != "bn":
        bad("bn.recalibrate_batches", bn.recalibrate_batches, "recalibration needs norm = 'bn'")
    if bn.reinject_momentum is not None and bn.norm != "bn":
        bad("bn.reinject_momentum", bn.reinject_momentum, "re-injection needs norm = 'bn'")
    if not is_int(bn.gn_groups) or bn.gn_groups < 1:
        bad("bn.gn_groups", bn.gn_groups, "an integer >= 1")
    elif bn.norm == "gn" and arch is not None and any(c % bn.gn_groups for c in arch.norm_channels):
        bad("bn.gn_groups", bn.gn_groups, f"must divide every layer width of {run.model} "
            f"({listing(arch.norm_channels)})")


def validate_match_rules(run: RunConfig, where: str = "run") -> list[str]:
    """``match_rules``: known rule names, each one the run's optimizer applies, with what matching needs."""
    rules = run.match_rules
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        return [f"{where}.match_rules: {rules!r} is not allowed -- a list of rule names from {listing(UPDATE_RULES)}"]
    p = []
    for rule in rules:
        if rule not in UPDATE_RULES:
            p.append(f"{where}.match_rules: {rule!r} is not allowed -- rule names are {listing(UPDATE_RULES)}"
                     f"{did_you_mean(rule, UPDATE_RULES)}")
        elif run.optimizer in OPTIMIZERS and not rule_applies(rule, run.optimizer):
            p.append(f"{where}.match_rules: {rule!r} does not apply to optimizer {run.optimizer!r} -- "
                     f"{UPDATE_RULES[rule].split(':')[0]} only")
        elif rule == "adam_epsilon" and run.adam_epsilon is None:
            p.append(f"{where}.match_rules: 'adam_epsilon' needs adam_epsilon set -- the value both sides add "
                     "(Keras' default is 1e-7)")
    if len(set(rules)) != len(rules):
        p.append(f"{where}.match_rules: {rules!r} is not allowed -- each rule once")
    return p


def validate_suite(suite: SuiteConfig) -> None:
    """Raise ConfigError listing every problem of the suite."""
    p: list[str] = []
    if not isinstance(suite.name, str) or not SAFE_NAME.fullmatch(suite.name):   # the default results folder
        p.append(f"name: {suite.name!r} is not allowed -- {SAFE_NAME_RULE} (set name = ... in the file)")
    if not suite.runs:
        p.append(f"suite {suite.name!r}: no runs -- a suite needs at least one [run] or [[runs]] table")
    seen: dict[str, int] = {}
    for i, run in enumerate(suite.runs):
        p.extend(validate_run(run, "run" if len(suite.runs) == 1 else f"runs[{i}]"))
        if isinstance(run.scenario, str) and isinstance(run.variant, str) and isinstance(run.dataset, str):
            longest = len(f"{run.key()}__keras-torch__s{MAX_SEED}.json")
            names_ok = all(SAFE_NAME.fullmatch(n) for n in (run.scenario, run.variant))   # else said above
            if names_ok and longest > 255:   # a job's file name: most file systems allow 255 bytes
                where = "run" if len(suite.runs) == 1 else f"runs[{i}]"
                p.append(f"{where}: its job files' names would be up to {longest} characters (at most 255) -- "
                         "shorten the scenario, the variant or the image folder's path")
            if run.key() in seen:
                p.append(f"runs[{i}]: the same scenario/dataset/variant as runs[{seen[run.key()]}] -- give one of "
                         "them another 'variant' (or 'scenario') name")
            seen.setdefault(run.key(), i)
    if not isinstance(suite.seeds, list) or not suite.seeds or not all(is_int(s) and 0 <= s <= MAX_SEED
                                                                        for s in suite.seeds):
        p.append(f"seeds: {suite.seeds!r} is not allowed -- a non-empty list of integers 0..{MAX_SEED}")
    elif len(set(suite.seeds)) != len(suite.seeds):   # a seed names a job: twice would be one job run twice
        p.append(f"seeds: {suite.seeds!r} is not allowed -- each seed once")
    if not isinstance(suite.frameworks, list) or not suite.frameworks or any(f not in FRAMEWORKS for f in suite.frameworks):
        p.append(f"frameworks: {suite.frameworks!r} is not allowed -- a non-empty list from {listing(FRAMEWORKS)}")
    elif len(set(suite.frameworks)) != len(suite.frameworks):   # two workers of one column would share its files
        p.append(f"frameworks: {suite.frameworks!r} is not allowed -- each framework once")
    else:   # a precision a framework cannot train with: one line before anything runs
        for fw in suite.frameworks:
            info = frameworks.get(fw)
            wrong = sorted({r.precision for r in suite.runs if r.precision in PRECISIONS
                            and r.precision not in info.precisions})
            if wrong:
                p.append(f"precision: {', '.join(wrong)} is not supported by {fw} ({info.precision_note}); "
                         f"it trains with {listing(info.precisions)} -- leave {fw} out (--frameworks) or change it")
    if p:
        raise ConfigError(p)
