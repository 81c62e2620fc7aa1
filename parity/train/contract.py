"""The contract every framework column satisfies, written down.

A column is an entry in ``parity.frameworks`` plus the modules ``CONTRACT`` lists, each served by
the column's own package (``tf_impl``, ``torch_impl``, ...) or, where its entry's ``shared`` says
so, by the Keras code the three Keras columns share (``keras_impl``). Each Protocol below lists
what the core calls in one of them (``Models`` and parts of ``Weights``/``Renorm``: what the
twins' parity tests compare), with the signature it is called with;
tests/architecture/test_contract.py checks every column against these signatures
(``inspect.signature``; a side may add keyword-only parameters with defaults), and that a
function several columns define under one name has one signature there. The core only ever
reaches a column through ``parity.frameworks.load`` / ``Implementation``, inside that
framework's own worker process.

Conventions: batches are the shared loader's numpy arrays (NHWC float32 images, int64
labels) -- each package converts them itself; weights cross the boundary as canonical
tensors (torch names and layouts, numpy); BN momentum in a plan is Keras' convention
(``parity.spec.knobs`` converts).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol

import numpy as np

from parity.spec.config import BNConfig
from parity.train.plan import TrainPlan

Model = Any          # a keras.Model, a torch nn.Module, ...
Tensors = dict[str, np.ndarray]
BNStats = dict[str, tuple[np.ndarray, np.ndarray]]   # BN layer (canonical name) -> (mean, variance)


@dataclass(frozen=True)
class Phase:
    """One training phase as the shared loop drives it (``parity.train.loop``)."""
    step: Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]   # batch -> (loss, float32 logits)
    set_lr: Callable[[float], None]                                     # before every step


class Backend(Protocol):
    """``<package>.backend``: what a worker needs before and around a job."""
    NAME: str

    def versions(self) -> dict[str, str]: ...
    def native_defaults(self) -> dict[str, float]: ...
    def configure(self, threads: int, seed: int, deterministic: bool = True) -> dict: ...
    def device_info(self) -> dict: ...


class Trainer(Protocol):
    """``<package>.train``: the hooks of the shared loop (which also uses the column's ``renorm``, ``weights``
    and ``zoo``: ``parity.train.loop.fit``)."""

    def build(self, plan: TrainPlan, init: Tensors) -> Model: ...
    def prepare_phase(self, model: Model, plan: TrainPlan, phase: str, lr: float) -> Phase: ...
    def make_predict(self, model: Model, precision: str = "float32") -> Callable[[np.ndarray], np.ndarray]: ...
    def running_stats(self, model: Model) -> BNStats: ...
    def true_bn_stats(self, model: Model, batches: list) -> BNStats: ...
    def recalibrate_bn(self, model: Model, batches: list) -> None: ...


class Models(Protocol):
    """``<package>.models``: the mirrored ResNets (tests compare them layer by layer)."""

    def native_bn_defaults(self) -> dict[str, float]: ...
    def native_gn_defaults(self) -> dict[str, float]: ...
    def build_model(self, arch: str, num_classes: int, image_size: int, bn: BNConfig | None = None,
                    renorm_clipping: dict | None = None) -> Model: ...
    def canonical_layers(self, model: Model) -> dict: ...
    def layer_outputs(self, model: Model, x, training: bool = False) -> dict[str, np.ndarray]: ...


class Weights(Protocol):
    """``<package>.weights``: canonical tensors in and out (bit-exact both ways)."""

    def to_canonical(self, model: Model) -> Tensors: ...
    def from_canonical(self, model: Model, tensors: Tensors, skip: tuple[str, ...] = ()) -> None: ...


class Renorm(Protocol):
    """``<package>.renorm``: the renorm clipping bounds a schedule moves between steps."""

    def renorm_layers(self, model: Model) -> dict: ...
    def sync_renorm_state(self, model: Model) -> None: ...
    def set_clipping(self, model: Model, rmax: float, rmin: float | None, dmax: float) -> None: ...
    def read_clipping(self, model: Model) -> tuple[float, float | None, float] | None: ...


class Zoo(Protocol):
    """``<package>.zoo``: the framework's own ImageNet ResNet with its own weights file."""

    def build(self, plan: TrainPlan, init: Tensors) -> Model: ...
    def bn_settings(self, model: Model) -> dict[str, float]: ...


class Throughput(Protocol):
    """``<package>.throughput``: execution modes for the shared timing loop (``parity.bench.timing``)."""

    def device_name(self) -> str: ...
    def threads(self) -> int: ...
    def modes(self) -> list[str]: ...
    def steps(self, plan: TrainPlan, init: Tensors, mode: str) -> tuple[Callable, Callable, Callable]: ...
    def sync(self, result=None) -> None: ...
    def minimal_round(self, model: Model, plan: TrainPlan, batches: list) -> Callable[[], None]: ...


class Optim(Protocol):
    """``<package>.optim``: the optimizer a phase trains with, native or with the other side's update rule.

    ``plan.optimizer`` / ``plan.weight_decay`` / ``plan.adam_epsilon`` are resolved; ``plan.match_rules``
    names the update rules (``parity.spec.knobs.UPDATE_RULES``) both sides apply in Keras' form.
    """

    def make_optimizer(self, plan: TrainPlan, params: list, lr: float) -> Any: ...
    def set_lr(self, optimizer: Any, lr: float) -> None: ...


class Pipeline(Protocol):
    """``<package>.pipeline``: the framework's own input pipeline (the input-pipeline scenario).

    ``preprocess`` takes uint8 NHWC images at any size and returns float32 NHWC model input: resized to
    ``size`` with the framework's default interpolation (``antialias`` None = its default), reflection-padded
    by ``pad``, cropped at the shared loader's offsets ``crops``, flipped where ``flips``, normalized with
    ``mean``/``std`` ([0, 1] units) -- each step with the framework's own ops. ``decode_jpeg`` is its decoder.
    """

    def preprocess(self, images: np.ndarray, size: int, mean, std, crops: np.ndarray | None = None,
                   flips: np.ndarray | None = None, pad: int = 0, antialias: bool | None = None) -> np.ndarray: ...
    def decode_jpeg(self, data: bytes) -> np.ndarray: ...
    def resize_defaults(self) -> dict: ...


class Audit(Protocol):
    """``<package>.audit``: the defaults and probes ``parity audit`` compares."""

    def read_defaults(self) -> dict[str, dict]: ...
    def versions(self) -> dict[str, str]: ...


# module name -> the Protocol it satisfies (the names are parity.frameworks.MODULES; a test holds them equal)
CONTRACT: dict[str, type] = {"backend": Backend, "train": Trainer, "models": Models, "weights": Weights,
                             "renorm": Renorm, "zoo": Zoo, "throughput": Throughput, "audit": Audit,
                             "optim": Optim, "pipeline": Pipeline}
