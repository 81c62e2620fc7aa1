"""Where things are: this checkout's code and the checkpoints shipped with the package."""
from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
# The folder holding the parity package: a child started in another environment's interpreter
# (an upgrade check) runs this checkout's code, not whatever that environment has installed.
CODE_ROOT = PACKAGE_ROOT.parent
PACKAGE_CHECKPOINTS = PACKAGE_ROOT / "assets" / "checkpoints"
