"""The one registry of frameworks: a name, its implementation package, what its processes need.

Adding a framework is one entry here plus one implementation package; together with the
shared Keras code an entry names, they satisfy ``parity.train.contract``
(tests/architecture/test_contract.py holds every column to it). ``load`` and ``Implementation``
are the only imports of an implementation, and they run inside that framework's own worker
process (``parity.process`` starts them). What still names frameworks in the core
is data about one of them (each zoo's weight file, torchvision's ImageNet file that only
torch reads, knob conversions).

Three of the columns are Keras 3 on one of its backends: "tf" (TensorFlow), "keras-torch" and
"keras-jax". They build the same Keras model code (``keras_impl``); each column's package
holds what its backend does its own way (the gradient step, tensors, tracing), and its entry's
``shared`` names the contract modules it takes from ``keras_impl`` unchanged. Keras reads
``KERAS_BACKEND`` once, at its first import, so each runs in worker processes of its own.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from types import ModuleType

from parity.hints import did_you_mean


@dataclass(frozen=True)
class Framework:
    name: str        # the column in tables and job files, and the --frameworks value
    package: str     # the column's implementation package (tf_impl, torch_impl, keras_torch_impl, ...)
    label: str       # how tables title the column
    # the contract modules this column takes unchanged from the shared Keras code (SHARED_PACKAGE)
    shared: tuple[str, ...] = ()
    # Set in every process that may import this framework (its workers; also any child that
    # could load several, e.g. the CLI re-run by upgrade-check), before the import.
    env: dict[str, str] = field(default_factory=dict)
    # throughput execution modes (its throughput module's ``modes()`` lists those it can run here)
    bench_modes: tuple[str, ...] = ()
    gpu_modes: tuple[str, ...] = ()     # only where the framework sees a GPU
    default_mode: str = ""              # what its users get without asking
    # what its backend.versions() reports -> the pip distributions that may provide it
    versions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the top-level modules that must be importable for the framework to count as installed
    requires: tuple[str, ...] = ()
    zoo: str = ""            # whose model-zoo weights file its native-zoo network reads (parity/assets/zoo.py)
    # the run precisions it can train with (the config checks a run's against them before anything runs)
    precisions: tuple[str, ...] = ("float32", "mixed_float16", "mixed_bfloat16")
    precision_note: str = ""   # why one is missing
    install_hint: str = ""   # how to install it, for the line that says it is missing


# The modules of the contract (parity/train/contract.py), each served by a column's package or the shared one.
MODULES: tuple[str, ...] = ("backend", "train", "models", "weights", "renorm", "zoo", "throughput", "audit",
                            "optim", "pipeline")
SHARED_PACKAGE = "keras_impl"   # the Keras model code the three Keras columns run, on their own backends
_KERAS_SHARED = ("models", "optim", "weights", "zoo")   # the tf column's pipeline and renorm are TF's own
FRAMEWORKS: dict[str, Framework] = {f.name: f for f in (
    Framework("tf", "tf_impl", "TF", shared=_KERAS_SHARED,
              env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
              bench_modes=("eager", "function", "xla"), gpu_modes=("function-amp",), default_mode="function",
              versions={"tensorflow": ("tensorflow", "tensorflow-cpu"), "keras": ("keras",)},
              requires=("tensorflow", "keras"), zoo="tf"),
    Framework("torch", "torch_impl", "torch",
              bench_modes=("eager", "eager-channels-last", "compile"), gpu_modes=("eager-amp",), default_mode="eager",
              versions={"torch": ("torch",), "torchvision": ("torchvision",)}, requires=("torch", "torchvision"),
              zoo="torch"),
    Framework("keras-torch", "keras_torch_impl", "Keras/torch", env={"KERAS_BACKEND": "torch"},
              shared=(*_KERAS_SHARED, "pipeline", "renorm"),
              bench_modes=("eager", "jit"), default_mode="eager",
              versions={"keras": ("keras",), "torch": ("torch",)}, requires=("keras", "torch"), zoo="tf"),
    Framework("keras-jax", "keras_jax_impl", "Keras/JAX", env={"KERAS_BACKEND": "jax"},
              shared=(*_KERAS_SHARED, "pipeline", "renorm"),
              bench_modes=("jit",), default_mode="jit",
              versions={"keras": ("keras",), "jax": ("jax",), "jaxlib": ("jaxlib",)}, requires=("keras", "jax"),
              zoo="tf", precisions=("float32", "mixed_bfloat16"),
              precision_note="its dynamic loss scale is optimizer state a stateless jitted step would not update",
              install_hint="install the [jax] extra: pip install -e '.[jax]' (make test does)"),
)}
NAMES: tuple[str, ...] = tuple(FRAMEWORKS)
# What runs when no framework is named: the two native columns. The Keras backends' columns are
# asked for (--frameworks, a suite's `frameworks`; the cpu suite names all four).
DEFAULT_NAMES: tuple[str, ...] = ("tf", "torch")
# The framework each column's gap is taken against unless a table asks for another.
REFERENCE = "torch"


class UnknownFramework(ValueError):
    """A framework name the registry does not hold; one line with a did-you-mean."""


class FrameworkUnavailable(RuntimeError):
    """The framework's implementation (or the framework itself) is not installed or fails to import."""


def get(name: str) -> Framework:
    if name not in FRAMEWORKS:
        raise UnknownFramework(f"unknown framework {name!r}{did_you_mean(name, NAMES)}; allowed: {', '.join(NAMES)}")
    return FRAMEWORKS[name]


def parse(text: str | None) -> list[str] | None:
    """A --frameworks value ("tf,torch") -> names in the given order; None when not given."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise UnknownFramework(f"give at least one framework; allowed: {', '.join(NAMES)}")
    for name in names:
        get(name)
    return list(dict.fromkeys(names))


def missing_modules(name: str) -> list[str]:
    """The top-level modules a framework needs that this environment lacks (found, not imported)."""
    import importlib.util

    out = []
    for module in get(name).requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(module)
    return out


def version_keys() -> dict[str, tuple[str, ...]]:
    """Every framework's version keys (as job files record them) -> the distributions providing each."""
    return {key: dists for fw in FRAMEWORKS.values() for key, dists in fw.versions.items()}


def installed_versions() -> dict[str, str]:
    """This environment's framework versions by the keys job files record, read from pip's metadata
    (no framework is imported); a framework that is not installed is left out."""
    from importlib import metadata

    out = {}
    for key, dists in version_keys().items():
        for dist in dists:
            try:
                out[key] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def process_env(name: str | None = None) -> dict[str, str]:
    """What a process needs set before it imports a framework: ``name``'s worker gets that framework's
    variables; a process that may import several (the CLI, tests) gets every framework's, where the
    first registered wins a conflict (KERAS_BACKEND=tensorflow: Keras in such a process is the tf column's)."""
    env: dict[str, str] = {}
    for fw in reversed(FRAMEWORKS.values()):
        env.update(fw.env)
    if name is not None:
        env.update(get(name).env)
    return env


def set_process_env() -> None:
    """In this process (the CLI, pytest): the frameworks' variables, unless the user set them."""
    for key, value in process_env().items():
        os.environ.setdefault(key, value)


def source(name: str, module: str) -> str:
    """The dotted module that serves contract ``module`` for framework ``name`` (its own, or the shared one)."""
    fw = get(name)
    if module not in MODULES:
        raise ValueError(f"{module!r} is not a contract module; allowed: {', '.join(MODULES)}")
    return f"{SHARED_PACKAGE if module in fw.shared else fw.package}.{module}"


def load(name: str, module: str = "backend") -> ModuleType:
    """Import contract ``module`` of a framework's implementation (inside that framework's worker).

    The column's own package is imported first even for a shared module: a Keras backend column's
    ``__init__`` refuses a process whose Keras runs another backend."""
    try:
        importlib.import_module(get(name).package)
        return importlib.import_module(source(name, module))
    except ImportError as e:
        raise FrameworkUnavailable(f"{name}: not installed or broken ({type(e).__name__}: {e})") from e


class Implementation:
    """One column's implementation as one object: ``impl.train``, ``impl.weights``, ... are its contract
    modules, each imported on first use (``load``). The shared loop takes this, so a column's modules
    need not reach each other to be found."""

    def __init__(self, name: str):
        self.name = get(name).name

    def __getattr__(self, module: str) -> ModuleType:
        if module not in MODULES:
            raise AttributeError(module)
        loaded = load(self.name, module)
        setattr(self, module, loaded)
        return loaded
