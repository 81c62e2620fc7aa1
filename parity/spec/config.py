"""Typed run and suite configuration: what a run is, read from a file by :mod:`config_file` and checked
up front by :mod:`validate`.

One convention for every knob, stated once here:

* A knob left unset (``None``) means *each framework's own installed default*
  ("native"), read from the framework at run time, never hard-coded.
* A knob that is set gets the *same* value on both sides. BN momentum is
  written in Keras' convention -- the fraction of the old running value kept
  (0.99 = Keras default, 0.9 = PyTorch's default 0.1) -- and converted for torch
  as ``1 - momentum`` by :mod:`parity.spec.knobs`.

Validation collects every problem and reports each on one line
(``field: bad value -- what is allowed``: ConfigError); the CLI prints them and exits 2.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from parity import frameworks

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


def listing(values) -> str:
    """Allowed values as a problem line lists them."""
    return ", ".join(str(v) for v in values)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def number_rule(low=None, high=None, *, low_open=False, high_open=False, integer=False, optional=False):
    """A check: an int (or any number) within [low, high] (an end open where said); None only if ``optional``."""
    def ok(v) -> bool:
        if v is None:
            return optional
        if not (is_int(v) if integer else is_number(v)):
            return False
        above = low is None or (v > low if low_open else v >= low)
        below = high is None or (v < high if high_open else v <= high)
        return above and below
    return ok


def one_of(values):
    return lambda v: isinstance(v, str) and v in values


_UNSET_DEFAULT = ", or unset for each framework's default"
# (setting, its check, what is allowed): the settings whose check needs no other setting, in the order
# the problems are listed. Checks that depend on other settings are validate.py's _check_* functions.
RUN_RULES = (
    ("batch_size", number_rule(1, integer=True), "an integer >= 1"),
    ("epochs", number_rule(1, integer=True), "an integer >= 1"),
    ("steps_per_epoch", number_rule(1, integer=True, optional=True), "an integer >= 1, or unset for a full pass"),
    ("train_images", number_rule(1, integer=True, optional=True), "an integer >= 1, or unset for the whole split"),
    ("optimizer", one_of(OPTIMIZERS), f"one of {listing(OPTIMIZERS)}"),
    ("lr", number_rule(0, 10, low_open=True), "a number in (0, 10]"),
    ("lr_schedule", one_of(LR_SCHEDULES), f"one of {listing(LR_SCHEDULES)}"),
    ("lr_warmup_steps", number_rule(0, integer=True), "an integer >= 0"),
    ("sgd_momentum", number_rule(0, 1, high_open=True), "a number in [0, 1)"),
    ("weight_decay", number_rule(0, 1, high_open=True, optional=True), "a number in [0, 1)" + _UNSET_DEFAULT),
    ("adam_epsilon", number_rule(0, 1, low_open=True, optional=True), "a number in (0, 1]" + _UNSET_DEFAULT),
    ("augment", lambda v: isinstance(v, bool), "true or false"),
    ("precision", one_of(PRECISIONS), f"one of {listing(PRECISIONS)}"),
    ("pipeline", one_of(PIPELINES), f"one of {listing(PIPELINES)}"),
)
_BN_MOMENTUM = "a number in [0, 1) (fraction of the old running value kept, Keras' convention)" + _UNSET_DEFAULT
BN_RULES = (
    ("momentum", number_rule(0, 1, high_open=True, optional=True), _BN_MOMENTUM),
    ("reinject_momentum", number_rule(0, 1, high_open=True, optional=True), _BN_MOMENTUM),
    ("epsilon", number_rule(0, 1, low_open=True, optional=True), "a number in (0, 1]" + _UNSET_DEFAULT),
    ("renorm_rmax", number_rule(1), "a number >= 1"),
    ("renorm_dmax", number_rule(0), "a number >= 0"),
    ("renorm_rmin", number_rule(0, 1, optional=True), "a number in [0, 1], or unset for 1/rmax (the paper's)"),
    ("renorm_momentum", number_rule(0, 1, high_open=True, optional=True), "a number in [0, 1) (Keras' convention), or unset"),
    ("renorm_schedule", one_of(RENORM_SCHEDULES), f"one of {listing(RENORM_SCHEDULES)}"),
)


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
