"""Every registered implementation package satisfies the written contract (parity/train/contract.py).

Signatures are compared with ``inspect.signature``: parameter names, kinds and defaults
(annotations name each framework's own types, so they may differ). Beyond the contract,
the twins' other public functions mirror each other module for module with identical
signatures, so a reader can hold one side against the other.
"""
import inspect

import pytest

from parity import frameworks
from parity.train.contract import CONTRACT


def shape(fn, drop_self: bool = False) -> list[tuple]:
    params = list(inspect.signature(fn).parameters.values())[1 if drop_self else 0:]
    return [(p.name, p.kind.name, p.default) for p in params]


def contract_members(protocol) -> dict:
    """name -> the Protocol's function (or its attribute annotation) for every public member."""
    out = {n: f for n, f in vars(protocol).items() if inspect.isfunction(f) and not n.startswith("_")}
    out.update({n: t for n, t in vars(protocol).get("__annotations__", {}).items() if not n.startswith("_")})
    return out


def public_functions(module) -> dict:
    return {n: f for n, f in vars(module).items()   # unwrap: functools.cache wraps torch's device()
            if inspect.isfunction(inspect.unwrap(f)) and f.__module__ == module.__name__ and not n.startswith("_")}


def _load(framework, module):
    try:
        return frameworks.load(framework, module)
    except frameworks.FrameworkUnavailable as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("module", sorted(CONTRACT))
@pytest.mark.parametrize("framework", frameworks.NAMES)
def test_each_package_satisfies_the_contract(framework, module):
    impl = _load(framework, module)
    checked = 0
    for name, member in contract_members(CONTRACT[module]).items():
        assert hasattr(impl, name), f"{impl.__name__} lacks {name} ({CONTRACT[module].__name__})"
        if inspect.isfunction(member):
            got, want = shape(getattr(impl, name)), shape(member, drop_self=True)
            assert got == want, f"{impl.__name__}.{name}{inspect.signature(getattr(impl, name))} differs from " \
                                f"the contract's {name}{inspect.signature(member)}"
        checked += 1
    print(f"\n{impl.__name__}: {checked} contract members, signatures equal")
    if module == "backend":
        assert impl.NAME == framework


@pytest.mark.parametrize("module", sorted(CONTRACT))
def test_the_twins_public_functions_mirror_with_identical_signatures(module):
    sides = {fw: public_functions(_load(fw, module)) for fw in frameworks.NAMES}
    names = {fw: set(fns) for fw, fns in sides.items()}
    first, *others = frameworks.NAMES
    for fw in others:
        assert names[fw] == names[first], f"{module}: only {first} {sorted(names[first] - names[fw])}, " \
                                          f"only {fw} {sorted(names[fw] - names[first])}"
        for name in sorted(names[first]):
            assert shape(sides[fw][name]) == shape(sides[first][name]), \
                f"{module}.{name}: {first}{inspect.signature(sides[first][name])} vs " \
                f"{fw}{inspect.signature(sides[fw][name])}"


def test_every_module_of_a_package_is_in_the_contract():
    """A package's modules are the contract's (plus __init__): nothing public hides outside it."""
    import pathlib

    for fw in frameworks.NAMES:
        package = frameworks.get(fw).package
        root = pathlib.Path(__file__).resolve().parents[2] / package
        modules = {p.stem for p in root.glob("*.py")} - {"__init__"}
        assert modules == set(CONTRACT), f"{package}: not in the contract {sorted(modules - set(CONTRACT))}, " \
                                         f"missing {sorted(set(CONTRACT) - modules)}"
