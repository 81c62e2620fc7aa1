"""The package works installed (issue 28): a wheel built from this checkout carries the data files the code
reads, and installed in a fresh environment it runs the smoke suite without pretraining (the source
checkpoint was once missing from the wheel, and the first run pretrained into site-packages).

The fresh environment is a new venv with the wheel installed by pip; its other packages (the frameworks)
are this environment's, reached through a .pth path line -- which, unlike a site folder, does not
activate this checkout's editable install."""
import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from parity.spec.scenarios import build_suite

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "parity", "keras_impl", "tf_impl", "torch_impl", "keras_torch_impl",
           "keras_jax_impl"]


def _run(*args, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A new venv with the wheel of this checkout installed: its python."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"   # a copy: building writes build/ and *.egg-info beside the sources
    src.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if (ROOT / name).is_dir() else {}))
    _run(sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation", "-q", "-w", tmp / "dist")
    (wheel,) = (tmp / "dist").glob("bn_parity-*.whl")
    env = tmp / "env"
    _run(sys.executable, "-m", "venv", "--without-pip", env)
    python = env / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    (site / "frameworks-of-the-test-env.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel)
    return python


def test_the_installed_package_is_the_wheel_and_has_its_checkpoint(installed):
    where = _run(installed, "-c", "import parity.paths as p; print(p.PACKAGE_ROOT); "
                 "print((p.PACKAGE_CHECKPOINTS / 'resnet-tiny_source.safetensors').stat().st_size)",
                 cwd=installed.parents[2]).stdout.split()
    print(f"installed at {where[0]}, checkpoint {where[1]} bytes")
    assert where[0].startswith(str(installed.parents[1])), where   # not this checkout
    assert int(where[1]) == (ROOT / "parity/assets/checkpoints/resnet-tiny_source.safetensors").stat().st_size


@pytest.mark.needs("tf", "torch")
def test_the_installed_package_runs_the_smoke_suite_without_pretraining(installed, tmp_path, smoke_run):
    """Also what a run writes by default: runs/SUITE under the working folder and nothing else, and with
    --json its stdout is the table (parity.json's content) alone. Its jobs are bit-identical to the checkout's
    run of the suite (``smoke_run``): the wheel is this code, and a rerun compares clean."""
    proc = subprocess.run([str(installed.parent / "parity"), "run", "--suite", "smoke", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    print(proc.stderr[-800:])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "pretrain" not in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]
    assert json.loads(proc.stdout) == json.loads((tmp_path / "runs" / "smoke" / "parity.json").read_text())
    gate = subprocess.run([sys.executable, "-m", "parity.cli", "compare", str(smoke_run[0]),
                           str(tmp_path / "runs" / "smoke")], capture_output=True, text=True, timeout=120, cwd=ROOT)
    print(gate.stderr.strip())
    assert gate.returncode == 0, gate.stdout
    n = len(build_suite("smoke").runs) * 2   # runs x (tf, torch), one seed
    assert f"{n}/{n} jobs bit-identical" in gate.stderr, gate.stderr   # CPU jobs are bit-reproducible


def test_the_installed_package_adds_no_options_to_other_pytest_runs(installed):
    """The benchmarks' plugin is this checkout's (pyproject's -p), not a pytest11 entry point that every
    pytest run would load wherever the wheel is installed."""
    (record,) = (installed.parents[2] / "dist").glob("bn_parity-*.whl")
    with zipfile.ZipFile(record) as wheel:
        entry_points = wheel.read(next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))).decode()
    here = _run(sys.executable, "-m", "pytest", "--help", cwd=ROOT).stdout
    assert "[console_scripts]" in entry_points and "pytest11" not in entry_points, entry_points
    assert "--parity-suite" in here
