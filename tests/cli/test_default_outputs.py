"""Outputs never default onto tracked files (issue 28): every command's default --out is under the ignored
runs/ folder (or none: audit prints), and a run without --out writes there and nowhere else. What a
script reads: --json on run and compare, --version."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from parity.cli import WORK_DIR, build_parser

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


@pytest.mark.needs("torch")
def test_a_run_without_out_writes_into_runs_only_and_json_is_the_table(tmp_path):
    before = set(tmp_path.rglob("*"))
    proc = subprocess.run([sys.executable, "-m", "parity.cli", "run", "--suite", "smoke", "--frameworks", "torch",
                           "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    new = {p.relative_to(tmp_path).parts[0] for p in set(tmp_path.rglob("*")) - before}
    assert new == {WORK_DIR.name} and (tmp_path / WORK_DIR / "smoke" / "parity.md").is_file(), new
    # --json: stdout is parity.json's content, nothing else
    assert json.loads(proc.stdout) == json.loads((tmp_path / WORK_DIR / "smoke" / "parity.json").read_text())


def test_compare_json_and_version(capsys):
    from parity.cli import main

    assert main(["compare", str(ROOT / "results/quick"), str(ROOT / "results/quick"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"]["jobs"] == result["counts"]["jobs_identical"] > 0 and not result["regressions"]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("bn-parity ")
