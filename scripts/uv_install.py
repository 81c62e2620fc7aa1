"""`uv pip install ARGS...` with the package sources pip is configured with (pip.conf, PIP_* variables).

`make` installs with uv (it unpacks and byte-compiles in parallel: about 40 s here against pip's
80-100 s), and uv reads none of pip's configuration. A machine whose pip takes wheels from local
stores (this one: torch's CUDA build from a folder of its own), works offline or trusts a private
certificate must hand the same to uv, or uv would download from PyPI, or fail. For each setting pip
uses the value of its highest-precedence source (a PIP_* variable, then [install], then [global]);
so does this script. Run with the venv's Python, whose uv it calls:
    .venv/bin/python scripts/uv_install.py --python .venv/bin/python -c constraints.txt -e '.[...]'
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

SOURCES = (":env:", "install", "global")   # pip's precedence for `pip install`, highest first
# pip's setting -> uv's option; each value of a list setting becomes one option
OPTIONS = {"index-url": "--index-url", "extra-index-url": "--extra-index-url", "find-links": "--find-links",
           "constraint": "--constraint"}
TRUE = {"1", "true", "yes", "on"}


def pip_settings(config_list: str) -> dict[str, str]:
    """`pip config list` lines (``source.key='value'``, Python-quoted) -> key: value pip would use."""
    found: dict[tuple[str, str], str] = {}
    for line in config_list.splitlines():
        name, sep, value = line.partition("=")
        source, _, key = name.rpartition(".")
        if not sep or source not in SOURCES:
            continue
        try:
            found[(source, key)] = str(ast.literal_eval(value))
        except (ValueError, SyntaxError):
            found[(source, key)] = value
    keys = {key for _, key in found}
    return {key: next(found[(s, key)] for s in SOURCES if (s, key) in found) for key in keys}


def uv_options(settings: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv's options and environment for pip's settings."""
    args: list[str] = []
    for key, option in OPTIONS.items():
        values = settings.get(key, "").split()
        for value in values[:1] if key == "index-url" else values:   # pip keeps one index-url
            args += [option, value]
    if settings.get("no-index", "").lower() in TRUE:
        args.append("--no-index")
    env = {"SSL_CERT_FILE": settings["cert"]} if settings.get("cert") else {}
    return args, env


def main(argv: list[str]) -> int:
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    args, env = uv_options(pip_settings(listed.stdout if listed.returncode == 0 else ""))
    uv = Path(sys.executable).with_name("uv")
    command = [str(uv) if uv.exists() else "uv", "pip", "install", *args, *argv]
    return subprocess.run(command, env={**os.environ, **env}).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
