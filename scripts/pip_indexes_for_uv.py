"""Print uv's index options for the package sources pip is configured with (pip.conf, PIP_* variables).

`make` installs with uv (it unpacks and compiles in parallel: about 40 s here against pip's 80-100 s),
and uv reads none of pip's configuration; a machine whose pip takes wheels from local stores (this
one: torch's from a folder of its own) must hand the same sources to uv, or uv would download them.
Prints nothing where pip has no such settings. Run with the Python whose pip is meant:
    .venv/bin/python scripts/pip_indexes_for_uv.py
"""
from __future__ import annotations

import shlex
import subprocess
import sys

# pip's setting -> uv's option (uv takes each value as a separate option)
OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links"}


def uv_args(config_list: str) -> list[str]:
    """`pip config list` lines (``section.key='value'``) -> uv options, values split on whitespace."""
    pairs: list[tuple[str, str]] = []   # in pip's order, each once (a file and a variable may both set it)
    for line in config_list.splitlines():
        name, sep, value = line.partition("=")
        option = OPTIONS.get(name.rpartition(".")[2])
        if sep and option:
            pairs += [(option, item) for item in " ".join(shlex.split(value)).split() if (option, item) not in pairs]
    return [part for pair in pairs for part in pair]


def main() -> int:
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    print(" ".join(shlex.quote(a) for a in uv_args(listed.stdout if listed.returncode == 0 else "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
