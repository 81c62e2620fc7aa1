"""``report.png``: a picture of the top of ``report.html``, taken by headless Chromium, never stale.

The picture carries the SHA-256 of the page it shows (a PNG text chunk), so whoever rewrites a page
can tell whether the picture beside it still shows it: ``write_report`` deletes one that does not,
and ``parity report`` takes a new one where a Chromium is installed.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

STAMP_KEY = "bn-parity-page-sha256"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = "1200,1600"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def page_hash(page: Path) -> str:
    return hashlib.sha256(page.read_bytes()).hexdigest()


def stamp_of(png: Path) -> str | None:
    """The page hash a report.png was taken of; None for a picture without one (or no readable PNG)."""
    from PIL import Image

    try:
        with Image.open(png) as img:
            return getattr(img, "text", {}).get(STAMP_KEY)   # .text: PNG only
    except Exception:   # not a picture PIL can read: no stamp (PIL raises several kinds)
        return None


def is_current(page: Path, png: Path) -> bool:
    return page.exists() and png.exists() and stamp_of(png) == page_hash(page)


def drop_if_stale(page: Path, png: Path) -> bool:
    """Delete ``png`` when it does not show ``page`` as it now is; True when one was deleted."""
    if png.exists() and not is_current(page, png):
        png.unlink()
        return True
    return False


def take(page: Path, png: Path, timeout: float = 120) -> str | None:
    """Screenshot ``page`` into ``png``, stamped with the page's hash; None when done, else why not (one line)."""
    from PIL import Image, PngImagePlugin

    found = browser()
    if not found:
        return "no Chromium found (install chromium for a report.png)"
    with tempfile.TemporaryDirectory(prefix="parity-shot-") as tmp:
        raw = Path(tmp) / "shot.png"
        cmd = [found, *CHROMIUM_FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", "--virtual-time-budget=5000",
               f"--screenshot={raw}", f"--window-size={WINDOW}", page.resolve().as_uri()]
        try:
            subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{Path(found).name} failed: {e}"
        if not raw.exists():
            return f"{Path(found).name} wrote no screenshot"
        info = PngImagePlugin.PngInfo()
        info.add_text(STAMP_KEY, page_hash(page))
        tmp_png = png.with_name(png.name + ".tmp")
        try:
            with Image.open(raw) as img:
                img.save(tmp_png, format="PNG", pnginfo=info, optimize=True)
            tmp_png.replace(png)
        except Exception as e:   # a truncated shot, a full disk: said in one line, no half-written picture left
            tmp_png.unlink(missing_ok=True)
            return f"cannot write {png.name}: {' '.join(str(e).split())[:200]}"
    return None
