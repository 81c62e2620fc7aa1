"""Import graph of the project's own packages, read from the source (function bodies included)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("parity", "keras_impl", "tf_impl", "torch_impl", "keras_torch_impl", "keras_jax_impl")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(package: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every import statement anywhere in the file, relative imports resolved."""
    out = []
    base = module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([mod] if mod else []))
            out.append((node.lineno, mod))
            out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]   # `from parity import frameworks`
    return out


def graph(package: str) -> dict[str, set[str]]:
    """Module -> the project's modules it imports (a `from pkg import mod` counts as importing pkg.mod)."""
    known = {m for pkg in PACKAGES for m in modules(pkg)}
    out = {}
    for name, path in modules(package).items():
        deps = set()
        for _, imported in imported_names(path):
            if imported in known and imported != name:
                deps.add(imported)
        out[name] = deps
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle (as one representative path each), by depth-first search."""
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(g.get(node, ())):
            if state.get(dep) == "open":
                found.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(g):
        if node not in state:
            visit(node, [])
    return found


def _aliases(path: Path, known: set[str]) -> dict[str, str]:
    """Local name -> the project module it names, for every `import x.y` / `from x import y` of one."""
    base = module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    out = {}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update({a.asname or a.name: a.name for a in node.names if a.name in known})
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([mod] if mod else []))
            out.update({a.asname or a.name: f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known})
    return out


def underscored_imports(path: Path) -> list[str]:
    """'line: module._name' wherever the file takes another project module's underscored name
    (`from m import _x`, or `m._x` on a module it imported)."""
    known = {m for pkg in PACKAGES for m in modules(pkg)}
    own = module_name(path)
    aliases = _aliases(path, known)
    base = own.split(".") if path.name == "__init__.py" else own.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[:len(base) - node.level + 1] + ([mod] if mod else []))
            found += [f"{node.lineno}: {mod}.{a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__") and mod in known and mod != own]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                aliases.get(node.value.id, own) != own and node.attr.startswith("_") and not node.attr.startswith("__"):
            found.append(f"{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return found


def only_reexports(path: Path) -> bool:
    """A module whose body, past its docstring, is nothing but imports: it exists only to re-export."""
    body = ast.parse(path.read_text()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return bool(body) and all(isinstance(node, (ast.Import, ast.ImportFrom)) for node in body)
