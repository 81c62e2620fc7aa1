"""Outputs never default onto tracked files (issue 28): every command's default --out is under the ignored
runs/ folder (or none: audit prints); a run without --out writes there and nowhere else (tested with the
installed wheel: tests/cli/test_wheel.py). What a script reads: --json, --version."""
import argparse
import json
from pathlib import Path

import pytest

from parity.cli.common import WORK_DIR
from parity.cli.parser import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _out_defaults() -> dict[str, object]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: action.default for name, sub in subparsers.choices.items()
            for action in sub._actions if action.dest == "out"}


def test_every_default_output_is_in_the_ignored_work_folder():
    defaults = _out_defaults()
    print(defaults)
    assert set(defaults) >= {"run", "bench", "upgrade-check", "audit", "pretrain"}
    for command, default in defaults.items():
        assert default is None or Path(default).parts[0] == WORK_DIR.name, (command, default)
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert f"{WORK_DIR}/" in ignored, f"{WORK_DIR}/ is not in .gitignore"


def test_compare_json_and_version(capsys):
    from parity.cli import main

    assert main(["compare", str(ROOT / "results/quick"), str(ROOT / "results/quick"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"]["jobs"] == result["counts"]["jobs_identical"] > 0 and not result["regressions"]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("bn-parity ")
