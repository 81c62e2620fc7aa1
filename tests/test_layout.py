"""The architecture's rules, checked: a neutral core and two mirrored implementations."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_parity_never_imports_a_framework_at_module_level():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts)
                     for p in (ROOT / "parity").rglob("*.py") if p.name != "__main__.py")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules) +
            "bad = [m for m in ('tensorflow', 'torch', 'keras', 'torchvision') if m in sys.modules]\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"parity imported {out.stdout.strip()} at module level"


def _public_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}


def test_tf_impl_and_torch_impl_mirror_module_for_module_and_function_for_function():
    tf_mods = {p.name for p in (ROOT / "tf_impl").glob("*.py")}
    torch_mods = {p.name for p in (ROOT / "torch_impl").glob("*.py")}
    assert tf_mods == torch_mods
    for name in sorted(tf_mods):
        tf_fns = _public_functions(ROOT / "tf_impl" / name)
        torch_fns = _public_functions(ROOT / "torch_impl" / name)
        assert tf_fns == torch_fns, f"{name}: only tf {sorted(tf_fns - torch_fns)}, only torch {sorted(torch_fns - tf_fns)}"
