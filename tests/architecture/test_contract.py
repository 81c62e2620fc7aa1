"""Every registered column satisfies the written contract (parity/train/contract.py).

Signatures are compared with ``inspect.signature``: parameter names, kinds and defaults
(annotations name each framework's own types, so they may differ); a side may add keyword-only
parameters with defaults after the contract's. Beyond the contract, a public function that
several columns define in the same module has one signature, so a reader can hold one side
against the other. A contract module a Keras column takes from the shared Keras code
(``keras_impl``, its registry entry's ``shared``) counts as its own.

Each package is read in a process of its own with its framework's environment, as its workers
run it: Keras picks its backend once per process, so keras-torch and keras-jax cannot be
imported beside the tf column.
"""
import functools
import inspect
import json
import pathlib
import subprocess
import sys

import pytest

from parity import frameworks, process
from parity.train.contract import CONTRACT

SHARED = ("keras_impl.",)   # code a package may take as its own


def shape(fn, drop_self: bool = False) -> list:
    params = list(inspect.signature(fn).parameters.values())[1 if drop_self else 0:]
    return [[p.name, p.kind.name, repr(p.default)] for p in params]


def contract_members(protocol) -> dict:
    """name -> the Protocol's function (or its attribute annotation) for every public member."""
    out = {n: f for n, f in vars(protocol).items() if inspect.isfunction(f) and not n.startswith("_")}
    out.update({n: t for n, t in vars(protocol).get("__annotations__", {}).items() if not n.startswith("_")})
    return out


def public_functions(module) -> dict:
    return {n: f for n, f in vars(module).items()   # unwrap: functools.cache wraps torch's device()
            if inspect.isfunction(inspect.unwrap(f)) and not n.startswith("_")
            and (f.__module__ == module.__name__ or f.__module__.startswith(SHARED))}


def describe(framework: str) -> dict:
    """Inside a framework's process: each contract module's public functions and what it lacks."""
    out = {}
    for module in sorted(CONTRACT):
        try:
            impl = frameworks.load(framework, module)
        except frameworks.FrameworkUnavailable as e:
            return {"unavailable": str(e)}
        members = contract_members(CONTRACT[module])
        out[module] = {
            "name": impl.__name__, "NAME": getattr(impl, "NAME", None),
            "missing": sorted(n for n in members if not hasattr(impl, n)),
            "contract": {n: shape(getattr(impl, n)) for n, m in members.items()
                         if inspect.isfunction(m) and hasattr(impl, n)},
            "public": {n: shape(f) for n, f in public_functions(impl).items()},
        }
    return out


@functools.cache
def package_of(framework: str) -> dict:
    code = (f"import json; from tests.architecture.test_contract import describe; "
            f"print(json.dumps(describe({framework!r})))")
    root = pathlib.Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=600,
                          env=process.child_env(framework=framework))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _package(framework: str) -> dict:
    """The package as its process saw it; skipped only where the framework itself is not installed (a package
    that fails to import for any other reason -- a wrong KERAS_BACKEND, a bug -- fails the test)."""
    missing = frameworks.missing_modules(framework)
    if missing:
        pytest.skip(f"{framework}: {', '.join(missing)} not installed")
    described = package_of(framework)
    assert "unavailable" not in described, described.get("unavailable")
    return described


def fits(got: list, want: list) -> bool:
    """The contract's parameters first, unchanged; anything after them keyword-only with a default."""
    extra = got[len(want):]
    return got[:len(want)] == want and all(kind == "KEYWORD_ONLY" and default != repr(inspect.Parameter.empty)
                                           for _, kind, default in extra)


def test_fits_refuses_a_changed_or_a_required_extra_parameter():
    want = [["x", "POSITIONAL_OR_KEYWORD", repr(inspect.Parameter.empty)]]
    assert fits(want + [["jit", "KEYWORD_ONLY", "True"]], want)
    assert not fits(want + [["jit", "POSITIONAL_OR_KEYWORD", "True"]], want)
    assert not fits(want + [["jit", "KEYWORD_ONLY", repr(inspect.Parameter.empty)]], want)
    assert not fits([["y", "POSITIONAL_OR_KEYWORD", repr(inspect.Parameter.empty)]], want)


def test_the_registry_and_the_contract_name_the_same_modules():
    assert set(frameworks.MODULES) == set(CONTRACT)


@pytest.mark.parametrize("framework", frameworks.NAMES)
def test_each_package_satisfies_the_contract(framework):
    described = _package(framework)
    for module, protocol in sorted(CONTRACT.items()):
        got = described[module]
        assert not got["missing"], f"{got['name']} lacks {got['missing']} ({protocol.__name__})"
        for name, member in contract_members(protocol).items():
            if inspect.isfunction(member):
                want = shape(member, drop_self=True)
                assert fits(got["contract"][name], want), \
                    f"{got['name']}.{name} {got['contract'][name]} differs from the contract's {want}"
        if module == "backend":
            assert got["NAME"] == framework
    print(f"\n{frameworks.get(framework).package}: {len(CONTRACT)} modules, every contract signature fits")


@pytest.mark.parametrize("module", sorted(CONTRACT))
def test_a_function_several_columns_define_has_one_signature(module):
    sides = {fw: _package(fw)[module]["public"] for fw in frameworks.NAMES if not frameworks.missing_modules(fw)}
    if len(sides) < 2:
        pytest.skip("fewer than two frameworks installed")
    names = {n for public in sides.values() for n in public} - set(contract_members(CONTRACT[module]))
    shared = 0
    for name in sorted(names):
        shapes = {fw: public[name] for fw, public in sides.items() if name in public}
        if len(shapes) > 1:
            shared += 1
            first = next(iter(shapes.values()))
            assert all(s == first for s in shapes.values()), f"{module}.{name} differs: {shapes}"
    print(f"\n{module}: {shared} of {len(names)} public functions defined by several columns, one signature each")


def test_each_column_package_holds_exactly_the_contract_modules_it_does_not_share():
    """No module both the column's own and shared, none missing, nothing outside the contract (plus __init__);
    the shared package holds every module a column takes from it."""
    root = pathlib.Path(__file__).resolve().parents[2]
    taken = set()
    for fw in frameworks.NAMES:
        entry = frameworks.get(fw)
        own = {p.stem for p in (root / entry.package).glob("*.py")} - {"__init__"}
        want = set(CONTRACT) - set(entry.shared)
        assert own == want, f"{entry.package}: not its own {sorted(own - want)}, missing {sorted(want - own)}"
        taken |= set(entry.shared)
    shared = {p.stem for p in (root / frameworks.SHARED_PACKAGE).glob("*.py")}
    assert taken <= shared, f"{frameworks.SHARED_PACKAGE} lacks {sorted(taken - shared)}"
