"""The architecture's rules, checked from the source: a neutral core, no arrow up, no circle.

The core (``parity/``) never imports a framework or an implementation package -- not at
module level, not inside a function -- except where listed in ALLOWED with the reason;
the registry (``parity/frameworks.py``) imports implementation packages only through
``importlib`` by the names its entries hold. Role subpackages never import or start the
commands above them (cli, upgrade, pytest_plugin), and no package has an import circle.
"""
import ast
import subprocess
import sys

import imports
import pytest

ROOT = imports.ROOT
IMPL_PACKAGES = ("keras_impl", "tf_impl", "torch_impl", "keras_torch_impl", "keras_jax_impl")
FRAMEWORK_MODULES = (*IMPL_PACKAGES, "tensorflow", "torch", "torchvision", "keras", "jax",
                     "tensorflow_datasets")
ALLOWED = {
    # TF's dataset library decodes a tfds dataset once, in the CLI's preparation step, into a numpy
    # cache; jobs read the cache (parity/data/tfds_data.py: load_cached) without it.
    "parity.data.tfds_data": {"tensorflow_datasets"},
}
COMMANDS = ("parity.cli", "parity.upgrade", "parity.pytest_plugin", "parity.__main__")
ROLE_PACKAGES = ("parity.spec", "parity.data", "parity.assets", "parity.train", "parity.run", "parity.bench",
                 "parity.report")


def framework_imports(path) -> list[str]:
    """'line: module' for each import of a framework or implementation package in the file."""
    found = [f"{line}: {mod}" for line, mod in imports.imported_names(path)
             if mod.split(".")[0] in FRAMEWORK_MODULES]
    for node in ast.walk(ast.parse(path.read_text())):   # strings naming a twin's module (importlib, -m)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                node.value.split(".")[0] in IMPL_PACKAGES and " " not in node.value:
            found.append(f"{node.lineno}: {node.value!r}")
    return found


def core_violations() -> list[str]:
    bad = []
    for name, path in imports.modules("parity").items():
        if name == "parity.frameworks":
            continue
        allowed = ALLOWED.get(name, set())
        bad += [f"{path.relative_to(imports.ROOT)}:{hit}" for hit in framework_imports(path)
                if hit.split(": ", 1)[1].strip("'").split(".")[0] not in allowed]
    return bad


def test_the_core_never_imports_a_framework_or_a_twin_anywhere():
    bad = core_violations()
    print(f"\nscanned {len(imports.modules('parity'))} modules under parity/; framework imports outside "
          f"the allowed places: {len(bad)}")
    assert not bad, "the core imports a framework or a twin:\n" + "\n".join(bad)


def test_the_scan_catches_an_import_hidden_in_a_function(tmp_path, monkeypatch):
    """The scan itself can fail: a function-level twin import planted in a copy of a core module."""
    src = (ROOT / "parity" / "train" / "loop.py").read_text()
    planted = tmp_path / "parity" / "train" / "loop.py"
    planted.parent.mkdir(parents=True)
    planted.write_text(src + "\n\ndef _sneaky():\n    from torch_impl import train\n    return train\n")
    monkeypatch.setattr(imports, "ROOT", tmp_path)
    bad = core_violations()
    assert bad and "torch_impl" in bad[0], bad


def test_role_subpackages_never_reach_up_to_the_commands():
    bad = []
    for name, path in imports.modules("parity").items():
        if not any(name == p or name.startswith(p + ".") for p in ROLE_PACKAGES):
            continue
        bad += [f"{path.relative_to(ROOT)}:{line}: imports {mod}" for line, mod in imports.imported_names(path)
                if mod.startswith(COMMANDS)]
        for node in ast.walk(ast.parse(path.read_text())):   # a child started as `python -m parity[.cli]`
            if isinstance(node, ast.Constant) and node.value in ("-m parity", *COMMANDS) or \
                    name != "parity.process" and isinstance(node, ast.List) and any(isinstance(a, ast.Constant) and a.value == "-m" for a in node.elts):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: starts a command or bypasses parity.process")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", imports.PACKAGES)
def test_no_import_circle(package):
    circles = imports.cycles(imports.graph(package))
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_no_import_circle_between_the_core_subpackages():
    """Collapsed to parity's subpackages and top-level modules, the graph is still acyclic (spec -> ... -> report)."""
    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    collapsed: dict[str, set[str]] = {}
    for module, deps in imports.graph("parity").items():
        collapsed.setdefault(top(module), set()).update(top(d) for d in deps if d.startswith("parity.") and
                                                           top(d) != top(module))
    circles = imports.cycles(collapsed)
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


def test_importing_every_core_module_loads_no_framework():
    """The same rule, observed: import all of parity/ and look at sys.modules."""
    names = sorted(n for n in imports.modules("parity") if not n.endswith("__main__"))
    code = ("import sys\n" + "".join(f"import {m}\n" for m in names) +
            "bad = [m for m in ('tensorflow', 'torch', 'keras', 'torchvision', 'jax') if sys.modules.get(m)]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"parity imported {out.stdout.strip()}"


# What each implementation package may import of the others: the Keras columns share keras_impl,
# which imports no backend; no column imports another column but for LENT, with the reason.
LENT = {
    # Keras on torch runs every op on torch: torch's threads and determinism are set as the torch column sets them
    "keras_torch_impl": {"torch_impl.backend"},
}
BACKENDS = {"tf_impl": "tensorflow", "torch_impl": "torch", "keras_torch_impl": "torch", "keras_jax_impl": "jax"}


@pytest.mark.parametrize("package", IMPL_PACKAGES)
def test_implementation_packages_import_only_the_shared_keras_code(package):
    allowed = {package, "keras_impl"} if package != "torch_impl" else {package}
    own_backend = {BACKENDS.get(package, "")}
    if package == "torch_impl":
        own_backend.add("torchvision")
    if package == "keras_jax_impl":
        own_backend.add("jaxlib")
    backends = {"tensorflow", "torch", "torchvision", "jax", "jaxlib"}
    bad = []
    for name, path in imports.modules(package).items():
        for line, mod in imports.imported_names(path):
            top = mod.split(".")[0]
            lent = any(mod == m or mod.startswith(m + ".") for m in LENT.get(package, ()))
            if (top in IMPL_PACKAGES and top not in allowed and not lent) or \
                    (top in backends and top not in own_backend):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {mod}")
    print(f"\n{package}: {len(imports.modules(package))} modules; imports outside its own backend and keras_impl: "
          f"{len(bad)}")
    assert not bad, "\n".join(bad)


def test_no_module_only_re_exports_and_none_takes_another_modules_private_name():
    """A column is what it needs (the registry's ``shared`` serves the Keras code it runs unchanged), and what
    one module lends another is public there."""
    reexports, private = [], []
    for package in imports.PACKAGES:
        for name, path in imports.modules(package).items():
            where = path.relative_to(ROOT)
            if package != "parity" and imports.only_reexports(path):
                reexports.append(str(where))
            private += [f"{where}:{hit}" for hit in imports.underscored_imports(path)]
    print(f"\nscanned {sum(len(imports.modules(p)) for p in imports.PACKAGES)} modules: {len(reexports)} only "
          f"re-export, {len(private)} uses of another module's private name")
    assert not reexports, "modules that only re-export:\n" + "\n".join(reexports)
    assert not private, "another module's private name taken:\n" + "\n".join(private)


def test_the_scan_catches_a_re_export_module_and_a_private_name(tmp_path, monkeypatch):
    """Planted in a copy: a stub module of imports only, and a throughput module reaching train's private step."""
    (tmp_path / "keras_torch_impl").mkdir()
    stub = tmp_path / "keras_torch_impl" / "models.py"
    stub.write_text('"""The shared models."""\nfrom keras_impl.models import build_model  # noqa: F401\n')
    (tmp_path / "keras_torch_impl" / "train.py").write_text("def _make_train_step():\n    pass\n")
    user = tmp_path / "keras_torch_impl" / "throughput.py"
    user.write_text("from keras_torch_impl import train\nfrom keras_torch_impl.train import _make_train_step\n\n"
                    "step = train._make_train_step()\n")
    monkeypatch.setattr(imports, "ROOT", tmp_path)
    assert imports.only_reexports(stub)
    assert imports.underscored_imports(user) == ["2: keras_torch_impl.train._make_train_step",
                                                 "4: keras_torch_impl.train._make_train_step"]


def test_did_you_mean_is_written_once():
    """Every refusal of a mistyped name takes its hint from parity/hints.py."""
    places = [f"{path.relative_to(ROOT)}" for package in imports.PACKAGES for path in imports.modules(package).values()
              if "get_close_matches" in path.read_text() or "did you mean" in path.read_text()]
    assert places == ["parity/hints.py"], places


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 60   # a module one reader can hold; a function one screen


def size_problems() -> list[str]:
    """Modules over MAX_MODULE_LINES in any package, functions over MAX_FUNCTION_LINES under parity/."""
    bad = []
    for package in imports.PACKAGES:
        for path in imports.modules(package).values():
            source = path.read_text()
            where = path.relative_to(imports.ROOT)
            if len(source.splitlines()) > MAX_MODULE_LINES:
                bad.append(f"{where}: {len(source.splitlines())} lines")
            for node in ast.walk(ast.parse(source)) if package == "parity" else ():
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                        node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                    bad.append(f"{where}:{node.lineno}: {node.name} is {node.end_lineno - node.lineno + 1} lines")
    return bad


def test_no_module_over_400_lines_and_no_function_over_60():
    bad = size_problems()
    longest = max(len(p.read_text().splitlines()) for pkg in imports.PACKAGES for p in imports.modules(pkg).values())
    print(f"\nlongest module: {longest} lines (at most {MAX_MODULE_LINES}); too long: {len(bad)}")
    assert not bad, "\n".join(bad)


def test_the_size_scan_catches_a_long_function(tmp_path, monkeypatch):
    """Planted in a copy of the core: a 61-line function."""
    planted = tmp_path / "parity" / "long.py"
    planted.parent.mkdir()
    planted.write_text("def long():\n" + "    x = 1\n" * 59 + "    return x\n")
    monkeypatch.setattr(imports, "ROOT", tmp_path)
    assert size_problems() == ["parity/long.py:1: long is 61 lines"], size_problems()
