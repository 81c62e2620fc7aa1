"""The published report: every file from the job files alone, and the HTML in a real browser."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.needs("tf", "torch")

PARITY = [sys.executable, "-m", "parity.cli"]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def smoke_report(smoke_run, tmp_path_factory):
    """A copy of the shared smoke run: the tests below delete and rewrite its report."""
    out = tmp_path_factory.mktemp("report") / "smoke"
    shutil.copytree(smoke_run[0], out)
    return out


def test_report_regenerates_every_file_from_the_jobs_alone(smoke_report):
    from PIL import Image

    for name in ("parity.md", "parity.csv", "parity.json", "report.html"):
        (smoke_report / name).unlink()
    shutil.rmtree(smoke_report / "plots")
    proc = subprocess.run(PARITY + ["report", str(smoke_report)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("parity.md", "parity.csv", "parity.json", "report.html"):
        assert (smoke_report / name).stat().st_size > 200, name
    pngs = sorted((smoke_report / "plots").glob("*.png"))
    assert {p.name for p in pngs} >= {"curves_momentum-native_far_native.png", "bn_lag.png"}
    for p in pngs:
        with Image.open(p) as img:
            img.verify()
        assert p.stat().st_size > 10_000, p.name
    assert "![curves_momentum-native_far_native]" in (smoke_report / "parity.md").read_text()


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get"):   # the test setup installs Debian's chromium when it is missing
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], capture_output=True,
                       timeout=900)
    return shutil.which("chromium")


def test_report_html_in_a_real_browser(smoke_report, tmp_path):
    browser = _chromium()
    if not browser:
        pytest.skip("Chromium is not installed and could not be installed (apt-get install chromium)")
    url = (smoke_report / "report.html").resolve().as_uri()
    common = [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    match = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert match, "the page's load script did not run"
    loaded, total = int(match.group(1)), int(match.group(2))
    assert total >= 2 and loaded == total, f"{loaded} of {total} images loaded"
    for table_id in ("eval-acc", "env"):
        assert f'id="{table_id}"' in dom
    assert "momentum-native" in dom
    shot = smoke_report / "report.png"
    subprocess.run(common + [f"--screenshot={shot}", "--window-size=1200,1600", url], capture_output=True,
                   timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000
