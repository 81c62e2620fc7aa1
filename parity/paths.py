"""Where things are: this checkout's code, the checkpoints shipped with the package, the user's cache."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
# The folder holding the parity package: a child started in another environment's interpreter
# (an upgrade check) runs this checkout's code, not whatever that environment has installed.
CODE_ROOT = PACKAGE_ROOT.parent
PACKAGE_CHECKPOINTS = PACKAGE_ROOT / "assets" / "checkpoints"


def cache_dir() -> Path:
    """Converted ImageNet weights and decoded tfds datasets ($PARITY_CACHE, else ~/.cache/bn-parity)."""
    return Path(os.environ.get("PARITY_CACHE", Path.home() / ".cache" / "bn-parity")).expanduser()
