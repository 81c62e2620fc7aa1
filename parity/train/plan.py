"""What a trainer is asked to do, resolved and framework-neutral.

``parity.run.job`` turns a RunConfig plus a framework's native defaults into a
TrainPlan; ``parity.train.loop.fit`` hands the same plan to each framework's hooks,
which must treat it the same way. Anything a framework decides for itself
(native momentum, epsilon) is already resolved here, so the result file
records exactly what ran.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from parity.spec.config import BNConfig


class Diverged(RuntimeError):
    """Training produced a non-finite loss: the job fails with this reason."""


# The plan's BN settings in the job file's flat keys (the files' format since the first schema): the two
# resolved knobs carry a "bn_" prefix there, every other BNConfig field its own name.
_BN_RECORD_KEYS = {"momentum": "bn_momentum", "epsilon": "bn_epsilon"}


@dataclass
class TrainPlan:
    arch: str
    num_classes: int
    image_size: int
    seed: int
    epochs: int
    optimizer: str             # sgd | adam | adamw
    lr: float
    lr_schedule: str           # constant | cosine
    sgd_momentum: float
    # The run's normalization settings, one object from the config to the layers (each column's build_model
    # takes it whole); momentum (Keras' convention) and epsilon resolved against the framework's defaults,
    # the epsilon None only for pretrained="zoo": the zoo network's own.
    bn: BNConfig
    head_epochs: int = 1       # two_phase: epochs with the base frozen
    lr_warmup_steps: int = 0   # the schedule's rate scaled by (step + 1) / lr_warmup_steps over a phase's first steps
    finetune_lr_factor: float = 0.1
    precision: str = "float32"  # float32 | mixed_float16 | mixed_bfloat16 (Keras policy names)
    weight_decay: float = 0.0   # resolved: the config's, else the framework's default for the optimizer
    adam_epsilon: float | None = None   # resolved likewise (None only in plans made before it existed)
    match_rules: tuple[str, ...] = ()   # update rules applied in Keras' form on both sides (spec/knobs.py)
    # pretrained = "zoo": each framework's own model-zoo network (parity/assets/zoo.py), fed the shared
    # loader's batches; pixel_mean/std undo the loader's normalization for the zoo's own preprocessing.
    zoo: bool = False
    pixel_mean: tuple[float, float, float] | None = None
    pixel_std: tuple[float, float, float] | None = None

    def to_dict(self) -> dict:
        """The job file's "plan": flat, the BN settings under their recorded names (``_BN_RECORD_KEYS``)."""
        record = {}
        for name, value in asdict(self).items():
            record.update({_BN_RECORD_KEYS.get(k, k): v for k, v in value.items()} if name == "bn" else {name: value})
        return record

    def initial_clipping(self) -> dict | None:
        """Renorm clipping bounds at step 0 (the schedule moves them from there)."""
        bn = self.bn
        if bn.norm != "renorm":
            return None
        rmax, rmin, dmax = renorm_clip_at(0, 1, bn.renorm_rmax, bn.renorm_dmax, bn.renorm_rmin, bn.renorm_schedule)
        return {"rmax": rmax, "rmin": rmin, "dmax": dmax}

    def apply_renorm_schedule(self, renorm, model, global_step: int, run_steps: int, trace: list) -> None:
        """Set this step's bounds through an implementation's renorm module, read them back into ``trace``.

        ``renorm`` is the column's renorm module (``Implementation.renorm``); the values recorded are
        the ones the layers will apply, which the schedule-parity test compares.
        """
        bn = self.bn
        if bn.norm != "renorm":
            return
        renorm.set_clipping(model, *renorm_clip_at(global_step, run_steps, bn.renorm_rmax, bn.renorm_dmax,
                                                   bn.renorm_rmin, bn.renorm_schedule))
        trace.append([global_step, *renorm.read_clipping(model)])

    def phases(self) -> list[tuple[str, int, float]]:
        """(phase name, epochs, base lr): two_phase trains the head, then everything at lr/10."""
        if self.bn.freeze == "two_phase":
            head = min(self.head_epochs, self.epochs - 1)
            return [("head", head, self.lr), ("finetune", self.epochs - head, self.lr * self.finetune_lr_factor)]
        return [("train", self.epochs, self.lr)]


def lr_at(base_lr: float, schedule: str, step: int, total_steps: int, warmup_steps: int = 0) -> float:
    """Learning rate for a step; both trainers set it explicitly so schedules match exactly. A warm-up
    scales the schedule's rate linearly over the first ``warmup_steps``: base_lr / warmup_steps at step 0."""
    lr = base_lr
    if schedule == "cosine" and total_steps > 0:
        lr = base_lr * 0.5 * (1.0 + math.cos(math.pi * step / total_steps))
    return lr * (step + 1) / warmup_steps if step < warmup_steps else lr


# Batch Renormalization's schedule (Ioffe 2017, sec. 4): 5000 steps of plain BN
# (rmax=1, dmax=0), then rmax ramps linearly to its final value at 40k steps and dmax
# at 25k. The suite scales those milestones by total_steps / PAPER_REFERENCE_STEPS:
# warm-up ends at 10% of the run, dmax is reached at 50% and rmax at 80%.
PAPER_REFERENCE_STEPS = 50_000
PAPER_WARMUP, PAPER_DMAX_AT, PAPER_RMAX_AT = 5_000, 25_000, 40_000


def renorm_clip_at(step: int, total_steps: int, rmax: float, dmax: float, rmin: float | None,
                   schedule: str) -> tuple[float, float, float]:
    """(rmax, rmin, dmax) for a global step; rmin None means 1/rmax, the paper's clip."""
    if schedule == "constant":
        r, d = rmax, dmax
    else:
        scale = total_steps / PAPER_REFERENCE_STEPS
        warm, d_at, r_at = PAPER_WARMUP * scale, PAPER_DMAX_AT * scale, PAPER_RMAX_AT * scale
        if step < warm:
            r, d = 1.0, 0.0
        else:
            r = 1.0 + (rmax - 1.0) * min(1.0, (step - warm) / max(r_at - warm, 1e-9))
            d = dmax * min(1.0, (step - warm) / max(d_at - warm, 1e-9))
    return float(r), float(1.0 / r if rmin is None else rmin), float(d)


def bn_distance(running_mean, running_var, true_mean, true_var, eps: float = 1e-5) -> tuple[float, float]:
    """How far a BN layer's running statistics are from the data's true ones.

    Mean: |running - true| in units of the true standard deviation, averaged
    over channels. Variance: |log(running / true)| averaged over channels.
    """
    rm, rv, tm, tv = (np.asarray(a, np.float64) for a in (running_mean, running_var, true_mean, true_var))
    mean_dist = float(np.mean(np.abs(rm - tm) / np.sqrt(tv + eps)))
    var_dist = float(np.mean(np.abs(np.log((rv + eps) / (tv + eps)))))
    return mean_dist, var_dist


def summarize_bn_lag(running: dict, true: dict) -> dict:
    """Per-layer and averaged distances; the history records both."""
    layers = {name: bn_distance(*running[name], *true[name]) for name in true}
    if not layers:
        return {"bn_mean_dist": None, "bn_var_dist": None, "bn_layers": {}}
    return {
        "bn_mean_dist": float(np.mean([v[0] for v in layers.values()])),
        "bn_var_dist": float(np.mean([v[1] for v in layers.values()])),
        "bn_layers": {k: [round(v[0], 5), round(v[1], 5)] for k, v in layers.items()},
    }
