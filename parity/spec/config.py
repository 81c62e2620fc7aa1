"""Typed run and suite configuration, loaded from TOML or YAML, validated up front.

One convention for every knob, stated once here:

* A knob left unset (``None``) means *each framework's own installed default*
  ("native"), read from the framework at run time, never hard-coded.
* A knob that is set gets the *same* value on both sides. BN momentum is
  written in Keras' convention -- the fraction of the old running value kept
  (0.99 = Keras default, 0.9 = PyTorch's default 0.1) -- and converted for torch
  as ``1 - momentum`` by :mod:`parity.spec.knobs`.

Validation collects every problem and reports each on one line
(``field: bad value -- what is allowed``); the CLI prints them and exits 2.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parity import frameworks
from parity.hints import did_you_mean
from parity.spec.archs import ARCHS, IMAGENET_ARCHS
from parity.spec.knobs import UPDATE_RULES, rule_applies

SYNTHETIC_DATASETS = ("source", "near", "far")
REAL_DATASETS = ("digits", "photos")   # images shipped in scikit-learn / scikit-image (parity/data/real.py)
TFDS_DATASETS = (
    "imagenette/160px",
    "imagenette/320px",
    "imagenette/full-size",
    "colorectal_histology",
)
FRAMEWORKS = frameworks.NAMES
# Every name that becomes part of a file name (a run's scenario and variant, a suite's name): letters, digits
# and . _ + = -, a letter or digit first, at most 64 characters -- no path separator, no "..", no space.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]{0,63}")
SAFE_NAME_RULE = "letters, digits and . _ + = -, a letter or digit first, at most 64 characters"
MAX_SEED = 2**32 - 1   # every framework's and numpy's seed fits 32 bits (TF refuses 2**32)
MAX_CONFIG_BYTES = 2**20   # a config file is a few KB
DEFAULT_FRAMEWORKS = frameworks.DEFAULT_NAMES
OPTIMIZERS = ("sgd", "adam", "adamw")
LR_SCHEDULES = ("constant", "cosine")
FREEZE_MODES = ("none", "frozen_bn_inference", "frozen_bn_batchstats", "two_phase", "bn_frozen")
NORMS = ("bn", "renorm", "gn")
RENORM_SCHEDULES = ("paper", "constant")
PRETRAINED_NAMES = ("source", "imagenet", "zoo", "none")
# How images reach the model: the shared numpy loader (the same bytes on both sides), or each
# framework's own pipeline (tf.image vs torchvision.transforms.v2, their defaults; "-antialias":
# with the resize's antialiasing on in both) fed the loader's crop and flip draws.
PIPELINES = ("shared", "framework", "framework-antialias")
# Keras' dtype-policy names; torch runs the same as autocast (float16 with a loss scaler).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class ConfigError(ValueError):
    """One or more invalid settings; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]):
        # one line each, however odd the names a file holds (a key may contain a newline)
        self.problems = [" ".join(str(p).split()) for p in problems]
        super().__init__("\n".join(self.problems))


@dataclass
class BNConfig:
    momentum: float | None = None   # Keras convention; None = native
    epsilon: float | None = None    # None = native (Keras 1e-3, torch 1e-5)
    freeze: str = "none"
    norm: str = "bn"
    # The article's fix: after loading the pretrained weights, replace every BN
    # layer by a new one with this momentum (Keras convention), keeping its state.
    reinject_momentum: float | None = None
    # AdaBN / PreciseBN: before each evaluation, recompute every BN layer's population
    # statistics from this many batches of the target training data (0 = off).
    recalibrate_batches: int = 0
    # norm = "gn": GroupNorm's group count (torch has no default; Keras' is 32).
    gn_groups: int = 8
    # norm = "renorm": the final clipping bounds, the moving-average momentum of the
    # statistics r and d are computed against (Keras' convention; unset = Keras' 0.99),
    # and the schedule: "paper" (plain BN warm-up, then linear ramps; see
    # parity.train.plan.renorm_clip_at) or "constant" (the final bounds from step 0).
    renorm_rmax: float = 3.0
    renorm_dmax: float = 5.0
    renorm_rmin: float | None = None       # None = 1/rmax at every step, as the paper clips
    renorm_momentum: float | None = None
    renorm_schedule: str = "paper"


@dataclass
class RunConfig:
    dataset: str = "far"
    model: str = "resnet-tiny"
    pretrained: str = "source"
    image_size: int = 32
    batch_size: int = 32
    epochs: int = 3
    steps_per_epoch: int | None = None     # None = one pass over the training split
    train_images: int | None = None        # None = the whole training split
    optimizer: str = "sgd"                 # sgd | adam | adamw: each framework's own (Keras', torch's)
    lr: float = 0.01
    lr_schedule: str = "constant"          # set before every step from one function on both sides
    lr_warmup_steps: int = 0               # linear warm-up over a phase's first steps (0 = none), on both sides
    sgd_momentum: float = 0.9
    weight_decay: float | None = None      # None = each framework's default (AdamW: Keras 0.004, torch 0.01)
    adam_epsilon: float | None = None      # None = each framework's default (Keras 1e-7, torch 1e-8)
    # update rules (parity.spec.knobs.UPDATE_RULES) both sides apply in Keras' form; the rest stay
    # each framework's own, and a run that depends on one of those says so in its row
    match_rules: list[str] = field(default_factory=list)
    head_epochs: int = 1                   # two_phase: epochs that train the head only
    augment: bool = True
    precision: str = "float32"             # float32 | mixed_float16 | mixed_bfloat16
    bn: BNConfig = field(default_factory=BNConfig)
    # synthetic domains rendered at this size and brought to image_size by the pipeline (None = rendered
    # at image_size); the shared pipeline downscales by area averaging, so a multiple of image_size
    render_size: int | None = None
    pipeline: str = "shared"               # shared | framework | framework-antialias (PIPELINES)
    scenario: str = "custom"
    variant: str = "default"               # the scenario's label for this run
    data_dir: str | None = None

    def lr_changes(self) -> bool:
        """Whether the learning rate changes within a phase (a schedule, a warm-up): where SGD's two
        momentum forms part (``knobs.unmatched_rules``)."""
        return self.lr_schedule != "constant" or self.lr_warmup_steps > 0

    def key(self) -> str:
        """A short, filesystem-safe identity of the run (without seed/framework)."""
        ds = self.dataset.replace("/", "-").replace(":", "-")
        return f"{self.scenario}__{ds}__{self.variant}"


@dataclass
class SuiteConfig:
    name: str
    runs: list[RunConfig]
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    frameworks: list[str] = field(default_factory=lambda: list(frameworks.DEFAULT_NAMES))
    description: str = ""
    # the runs of the suite's scenarios left out this time (``--scenarios``): with --resume their
    # results in the output folder (these runs, these seeds) stay where they are and stay in the report
    other_runs: list[RunConfig] = field(default_factory=list)
    # the suite's columns left out this time (``--frameworks`` narrowed it): likewise kept with --resume,
    # so a column can be added to a results folder, or one rerun, without setting the others aside
    other_frameworks: list[str] = field(default_factory=list)
    # scenario -> the columns that run it, when not all of the suite's (the real suite's Keras columns
    # run only some rows); the report shows "—" there
    scenario_frameworks: dict[str, list[str]] = field(default_factory=dict)

    def frameworks_of(self, run: RunConfig) -> list[str]:
        """The suite's columns that run ``run``."""
        only = self.scenario_frameworks.get(run.scenario)
        return [fw for fw in self.frameworks if only is None or fw in only]


# --------------------------------------------------------------------------- validation

def _allowed(values) -> str:
    return ", ".join(str(v) for v in values)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(low=None, high=None, *, low_open=False, high_open=False, integer=False, optional=False):
    """A check: an int (or any number) within [low, high] (an end open where said); None only if ``optional``."""
    def ok(v) -> bool:
        if v is None:
            return optional
        if not (_is_int(v) if integer else _is_number(v)):
            return False
        above = low is None or (v > low if low_open else v >= low)
        below = high is None or (v < high if high_open else v <= high)
        return above and below
    return ok


def _one_of(values):
    return lambda v: isinstance(v, str) and v in values


_UNSET_DEFAULT = ", or unset for each framework's default"
# (setting, its check, what is allowed): the settings whose check needs no other setting, in the order
# the problems are listed. Checks that depend on other settings are the _check_* functions below.
RUN_RULES = (
    ("batch_size", _number(1, integer=True), "an integer >= 1"),
    ("epochs", _number(1, integer=True), "an integer >= 1"),
    ("steps_per_epoch", _number(1, integer=True, optional=True), "an integer >= 1, or unset for a full pass"),
    ("train_images", _number(1, integer=True, optional=True), "an integer >= 1, or unset for the whole split"),
    ("optimizer", _one_of(OPTIMIZERS), f"one of {_allowed(OPTIMIZERS)}"),
    ("lr", _number(0, 10, low_open=True), "a number in (0, 10]"),
    ("lr_schedule", _one_of(LR_SCHEDULES), f"one of {_allowed(LR_SCHEDULES)}"),
    ("lr_warmup_steps", _number(0, integer=True), "an integer >= 0"),
    ("sgd_momentum", _number(0, 1, high_open=True), "a number in [0, 1)"),
    ("weight_decay", _number(0, 1, high_open=True, optional=True), "a number in [0, 1)" + _UNSET_DEFAULT),
    ("adam_epsilon", _number(0, 1, low_open=True, optional=True), "a number in (0, 1]" + _UNSET_DEFAULT),
    ("augment", lambda v: isinstance(v, bool), "true or false"),
    ("precision", _one_of(PRECISIONS), f"one of {_allowed(PRECISIONS)}"),
    ("pipeline", _one_of(PIPELINES), f"one of {_allowed(PIPELINES)}"),
)
_BN_MOMENTUM = "a number in [0, 1) (fraction of the old running value kept, Keras' convention)" + _UNSET_DEFAULT
BN_RULES = (
    ("momentum", _number(0, 1, high_open=True, optional=True), _BN_MOMENTUM),
    ("reinject_momentum", _number(0, 1, high_open=True, optional=True), _BN_MOMENTUM),
    ("epsilon", _number(0, 1, low_open=True, optional=True), "a number in (0, 1]" + _UNSET_DEFAULT),
    ("renorm_rmax", _number(1), "a number >= 1"),
    ("renorm_dmax", _number(0), "a number >= 0"),
    ("renorm_rmin", _number(0, 1, optional=True), "a number in [0, 1], or unset for 1/rmax (the paper's)"),
    ("renorm_momentum", _number(0, 1, high_open=True, optional=True), "a number in [0, 1) (Keras' convention), or unset"),
    ("renorm_schedule", _one_of(RENORM_SCHEDULES), f"one of {_allowed(RENORM_SCHEDULES)}"),
)


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
        bad("dataset", ds, f"one of {_allowed(known)}, tfds:NAME (any tensorflow-datasets image classification "
            f"dataset) or folder:PATH{hint}")
    elif ds in ("folder:", "tfds:"):
        bad("dataset", ds, f"{ds}{'PATH' if ds == 'folder:' else 'NAME'} needs a {'path' if ds == 'folder:' else 'name'} "
            "after the colon")
    arch = ARCHS.get(run.model) if isinstance(run.model, str) else None
    if arch is None:
        bad("model", run.model, f"one of {_allowed(ARCHS)}{did_you_mean(run.model, ARCHS)}")
    elif isinstance(ds, str) and (ds in REAL_DATASETS) != (arch.family == "efficientnet-lite"):
        # the normalization is the dataset's (the loader applies it): each pairs with the network it was made for
        bad("dataset", ds, "the real datasets (digits, photos) are normalized as EfficientNet-Lite was trained, "
            "(pixel - 127) / 128, and the others with ImageNet's mean/std as the ResNets expect: "
            "efficientnet-lite0 runs on digits or photos, the ResNets on the others")
    return arch


def _check_pretrained(run: RunConfig, bad) -> None:
    if not isinstance(run.pretrained, str) or not run.pretrained:
        bad("pretrained", run.pretrained, f"one of {_allowed(PRETRAINED_NAMES)} or a checkpoint path")
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
    if not _is_int(run.image_size) or run.image_size < 1:
        bad("image_size", run.image_size, "a positive integer")
    elif arch is not None and run.image_size < arch.min_image_size:
        bad("image_size", run.image_size, f"{run.model} needs at least {arch.min_image_size} pixels")
    elif run.image_size > 1024:
        bad("image_size", run.image_size, "at most 1024")


def _check_phases(run: RunConfig, bad) -> None:
    """head_epochs, the two-phase recipe's epochs, and Adam's epsilon only where Adam runs."""
    if not _is_int(run.head_epochs) or run.head_epochs < 1:
        bad("head_epochs", run.head_epochs, "an integer >= 1")
    elif run.bn.freeze == "two_phase" and _is_int(run.epochs) and run.epochs <= run.head_epochs:
        bad("epochs", run.epochs, f"two_phase needs more epochs than head_epochs ({run.head_epochs})")
    if run.adam_epsilon is not None and run.optimizer == "sgd":
        bad("adam_epsilon", run.adam_epsilon, "Adam's and AdamW's setting; unset it for sgd")


def _check_render_size(run: RunConfig, bad) -> None:
    if run.render_size is None:
        return
    if not _is_int(run.render_size) or not (1 <= run.render_size <= 1024):
        bad("render_size", run.render_size, "an integer in [1, 1024], or unset to render at image_size")
    elif run.dataset not in SYNTHETIC_DATASETS:
        bad("render_size", run.render_size, "only the synthetic domains are rendered; unset it for "
            f"{run.dataset!r}")
    elif not _is_int(run.image_size) or run.image_size < 1:
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
        bad("bn.freeze", bn.freeze, f"one of {_allowed(FREEZE_MODES)}{did_you_mean(bn.freeze, FREEZE_MODES)}")
    if bn.norm not in NORMS:
        bad("bn.norm", bn.norm, f"one of {_allowed(NORMS)}")
    elif bn.freeze == "bn_frozen" and bn.norm != "bn":
        bad("bn.freeze", bn.freeze, "bn_frozen freezes the BN layers in inference mode: it needs norm = 'bn'")
    if not _is_int(bn.recalibrate_batches) or bn.recalibrate_batches < 0:
        bad("bn.recalibrate_batches", bn.recalibrate_batches, "an integer >= 0 (0 = off)")
    elif bn.recalibrate_batches and bn.norm != "bn":
        bad("bn.recalibrate_batches", bn.recalibrate_batches, "recalibration needs norm = 'bn'")
    if bn.reinject_momentum is not None and bn.norm != "bn":
        bad("bn.reinject_momentum", bn.reinject_momentum, "re-injection needs norm = 'bn'")
    if not _is_int(bn.gn_groups) or bn.gn_groups < 1:
        bad("bn.gn_groups", bn.gn_groups, "an integer >= 1")
    elif bn.norm == "gn" and arch is not None and any(c % bn.gn_groups for c in arch.norm_channels):
        bad("bn.gn_groups", bn.gn_groups, f"must divide every layer width of {run.model} "
            f"({_allowed(arch.norm_channels)})")


def validate_match_rules(run: RunConfig, where: str = "run") -> list[str]:
    """``match_rules``: known rule names, each one the run's optimizer applies, with what matching needs."""
    rules = run.match_rules
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        return [f"{where}.match_rules: {rules!r} is not allowed -- a list of rule names from {_allowed(UPDATE_RULES)}"]
    p = []
    for rule in rules:
        if rule not in UPDATE_RULES:
            p.append(f"{where}.match_rules: {rule!r} is not allowed -- rule names are {_allowed(UPDATE_RULES)}"
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
    if not isinstance(suite.seeds, list) or not suite.seeds or not all(_is_int(s) and 0 <= s <= MAX_SEED
                                                                        for s in suite.seeds):
        p.append(f"seeds: {suite.seeds!r} is not allowed -- a non-empty list of integers 0..{MAX_SEED}")
    elif len(set(suite.seeds)) != len(suite.seeds):   # a seed names a job: twice would be one job run twice
        p.append(f"seeds: {suite.seeds!r} is not allowed -- each seed once")
    if not isinstance(suite.frameworks, list) or not suite.frameworks or any(f not in FRAMEWORKS for f in suite.frameworks):
        p.append(f"frameworks: {suite.frameworks!r} is not allowed -- a non-empty list from {_allowed(FRAMEWORKS)}")
    elif len(set(suite.frameworks)) != len(suite.frameworks):   # two workers of one column would share its files
        p.append(f"frameworks: {suite.frameworks!r} is not allowed -- each framework once")
    else:   # a precision a framework cannot train with: one line before anything runs
        for fw in suite.frameworks:
            info = frameworks.get(fw)
            wrong = sorted({r.precision for r in suite.runs if r.precision in PRECISIONS
                            and r.precision not in info.precisions})
            if wrong:
                p.append(f"precision: {', '.join(wrong)} is not supported by {fw} ({info.precision_note}); "
                         f"it trains with {_allowed(info.precisions)} -- leave {fw} out (--frameworks) or change it")
    if p:
        raise ConfigError(p)


# --------------------------------------------------------------------------- loading

_SUITE_KEYS = {"name", "description", "seeds", "frameworks", "run", "runs"}


def _build(cls, data: Any, where: str, problems: list[str]):
    """Make a dataclass from a mapping, reporting unknown keys and wrong kinds."""
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a table of settings, got {type(data).__name__}")
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            problems.append(f"{where}.{key}: unknown setting{did_you_mean(key, fields)}; "
                            f"allowed: {_allowed(sorted(fields))}")
            continue
        if key == "bn":
            kwargs[key] = _build(BNConfig, value, f"{where}.bn", problems)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def suite_from_dict(data: dict, name: str, overrides: dict | None = None) -> SuiteConfig:
    """Build and validate a suite from a parsed config file (see README: Config files)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError([f"{name}: the file must hold a table of settings"])
    for key in data:
        if key not in _SUITE_KEYS:
            problems.append(f"{key}: unknown top-level setting{did_you_mean(key, _SUITE_KEYS)}; "
                            f"allowed: {_allowed(sorted(_SUITE_KEYS))}")
    run_tables: list = []
    seeds = data.get("seeds")
    frameworks = data.get("frameworks")
    if "run" in data:
        table = data["run"]
        if isinstance(table, dict):
            table = dict(table)
            # The design's single-run file keeps seeds and frameworks inside [run].
            seeds = table.pop("seeds", seeds)
            frameworks = table.pop("frameworks", frameworks)
        run_tables.append(table)
    if "runs" in data:
        if not isinstance(data["runs"], list):
            problems.append("runs: expected an array of tables ([[runs]])")
        else:
            run_tables.extend(data["runs"])
    runs = []
    for i, table in enumerate(run_tables):
        where = "run" if len(run_tables) == 1 and "run" in data else f"runs[{i}]"
        runs.append(_build(RunConfig, table, where, problems))
    if problems:
        raise ConfigError(problems)
    suite = SuiteConfig(
        name=str(data.get("name", name)),
        runs=runs,
        seeds=list(seeds) if isinstance(seeds, list) else ([0, 1, 2] if seeds is None else seeds),
        frameworks=list(frameworks) if isinstance(frameworks, list) else (list(DEFAULT_FRAMEWORKS) if frameworks is None else frameworks),
        description=str(data.get("description", "")),
    )
    apply_overrides(suite, overrides or {})
    validate_suite(suite)
    return suite


def apply_overrides(suite: SuiteConfig, overrides: dict) -> None:
    """Command-line overrides (--seeds N, --frameworks a,b, --precision P) replace the file's values."""
    if overrides.get("precision") is not None:
        for run in suite.runs + suite.other_runs:
            run.precision = overrides["precision"]
    if overrides.get("seeds") is not None:
        suite.seeds = overrides["seeds"]
    if overrides.get("frameworks") is not None:
        suite.other_frameworks = [fw for fw in [*suite.frameworks, *suite.other_frameworks]
                                  if fw not in overrides["frameworks"]]
        suite.frameworks = overrides["frameworks"]


def load_config_file(path: str | os.PathLike, overrides: dict | None = None) -> SuiteConfig:
    """Read a TOML (.toml) or YAML (.yaml/.yml) suite file; ConfigError on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"config: {str(path)!r} does not exist or is not a file"])
    suffix = path.suffix.lower()
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError([f"config: {path.name} is {path.stat().st_size:,} bytes; a config file is at most "
                               f"{MAX_CONFIG_BYTES:,}"])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"config: cannot read {str(path)!r}: {e}"]) from None
    if suffix == ".toml":
        import tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError([f"config: {path.name} is not valid TOML: {e}"]) from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError as e:
            msg = " ".join(str(e).split())
            msg = msg if len(msg) <= 300 else msg[:297] + "..."
            raise ConfigError([f"config: {path.name} is not valid YAML: {msg}"]) from None
        if data is None:
            raise ConfigError([f"config: {path.name} is empty"])
    else:
        raise ConfigError([f"config: {path.name}: unknown file type {suffix or '(none)'!r} -- use .toml, .yaml or .yml"])
    return suite_from_dict(data, name=name_from_file(path.stem), overrides=overrides)


def name_from_file(stem: str) -> str:
    """A suite named after its config file, made safe ("my runs (v2)" -> "my-runs-v2"); a name set in the
    file (``name = ...``) is checked as written instead."""
    safe = re.sub(r"[^A-Za-z0-9._+=-]+", "-", stem).strip("-._+=")[:64]
    return safe or stem


def _yaml_loader():
    """SafeLoader that also reads 1e-3 (no decimal point) as a float, as TOML and Python do."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            """No aliases: a settings file needs none, and nested ones expand exponentially."""
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not read in a config file",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)

    Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    return Loader


def run_to_dict(run: RunConfig) -> dict:
    return dataclasses.asdict(run)


def run_from_dict(data: dict) -> RunConfig:
    data = dict(data)
    bn = BNConfig(**data.pop("bn", {}))
    return RunConfig(bn=bn, **data)


def stored_settings(data) -> dict | None:
    """A job file's run config with today's defaults filled in (files written before a setting existed),
    or None where it cannot be read as one: what a resume and the gate compare."""
    try:
        return run_to_dict(run_from_dict(data))
    except (TypeError, ValueError, KeyError, AttributeError):
        return None
