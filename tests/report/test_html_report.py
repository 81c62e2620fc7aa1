"""The published report: every file from the job files alone, and the HTML in a real browser."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from parity.report import screenshot, tables

pytestmark = pytest.mark.needs("tf", "torch")

PARITY = [sys.executable, "-m", "parity"]


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
    assert {p.name for p in pngs} >= {"curves_momentum-native_far_native.png", "bn_lag.png", "gaps.png"}
    for p in pngs:
        with Image.open(p) as img:
            img.verify()
        assert p.stat().st_size > 10_000, p.name
    assert "![curves_momentum-native_far_native]" in (smoke_report / "parity.md").read_text()
    page = (smoke_report / "report.html").read_text()
    for table_id in ("eval-acc", "train-acc", "eval-loss", "env"):   # every metric, as parity.md has them
        assert f'id="{table_id}"' in page, table_id
    assert 'alt="gaps"' in page
    assert re.search(r'<span class="none">0 failed</span>', page), "a count of 0 is not shown as a finding"


def test_a_screenshot_never_outlives_its_page(smoke_report):
    """write_report deletes a report.png that shows another page (the committed one was stale once:
    102.0 in the picture where the page said 100.0)."""
    shot, page = smoke_report / "report.png", smoke_report / "report.html"
    shutil.copy(smoke_report / "plots" / "bn_lag.png", shot)   # a picture without the page's stamp
    tables.write_report(smoke_report)
    assert not shot.exists()
    assert not screenshot.drop_if_stale(page, shot)


def test_every_published_screenshot_shows_its_page():
    """results/*/report.png carries the hash of the report.html beside it: `parity report` retakes it."""
    shots = sorted((Path(__file__).resolve().parents[2] / "results").glob("*/report.png"))
    assert shots, "no published report.png"
    for shot in shots:
        page = shot.with_name("report.html")
        assert screenshot.is_current(page, shot), (
            f"{shot} does not show {page} as it is (stamp {screenshot.stamp_of(shot)}, page "
            f"{screenshot.page_hash(page) if page.exists() else 'missing'}): run `parity report {shot.parent}`")


def _chromium() -> str | None:
    if not screenshot.browser() and shutil.which("apt-get"):   # the test setup installs Debian's chromium
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"], capture_output=True,
                       timeout=900)
    return screenshot.browser()


def test_report_html_in_a_real_browser(smoke_report, tmp_path):
    browser = _chromium()
    if not browser:
        pytest.skip("Chromium is not installed and could not be installed (apt-get install chromium)")
    url = (smoke_report / "report.html").resolve().as_uri()
    common = [browser, *screenshot.CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
              "--virtual-time-budget=5000"]
    dom = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    match = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert match, "the page's load script did not run"
    loaded, total = int(match.group(1)), int(match.group(2))
    assert total >= 2 and loaded == total, f"{loaded} of {total} images loaded"
    for table_id in ("eval-acc", "env"):
        assert f'id="{table_id}"' in dom
    assert "momentum-native" in dom
    proc = subprocess.run(PARITY + ["report", str(smoke_report), "--screenshot"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    shot = smoke_report / "report.png"
    assert screenshot.is_current(smoke_report / "report.html", shot), proc.stderr
    assert shot.stat().st_size > 20_000
