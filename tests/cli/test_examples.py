"""What a user starts from is checked: every config file in examples/ and every TOML block of the README
loads and validates (the README's block was rejected as written once), and every `parity` command in
examples/ (its scripts and README) parses with the real command line and names files that exist."""
import re
import shlex
from pathlib import Path

import pytest

from parity.cli.parser import build_parser
from parity.spec.config_file import load_config_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CONFIGS = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".toml", ".yaml", ".yml"))
SCRIPTS = sorted(EXAMPLES.glob("*.sh"))


def _readme_blocks() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_there_are_examples_to_start_from():
    assert len(CONFIGS) >= 3 and SCRIPTS and _readme_blocks()
    listed = (EXAMPLES / "README.md").read_text()
    assert all(f"`{p.name}`" in listed for p in CONFIGS + SCRIPTS)   # each one explained


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_example_config_validates(path):
    suite = load_config_file(path)
    print(f"{path.name}: {len(suite.runs)} runs x {len(suite.seeds)} seeds, {suite.frameworks}")
    assert suite.runs


@pytest.mark.parametrize("index", range(len(_readme_blocks())))
def test_every_readme_config_block_validates(tmp_path, index):
    path = tmp_path / "readme.toml"
    path.write_text(_readme_blocks()[index])
    assert load_config_file(path).runs


def _parity_commands(script: Path) -> list[list[str]]:
    lines = script.read_text().replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True)[1:] for line in lines if re.match(r"\s*(\.venv/bin/)?parity ", line)]


@pytest.mark.parametrize("script", SCRIPTS + [EXAMPLES / "README.md"], ids=[p.name for p in SCRIPTS] + ["README.md"])
def test_every_parity_command_in_the_examples_parses(script):
    commands = _parity_commands(script)
    assert commands
    for argv in commands:
        args = build_parser().parse_args(argv)   # an unknown option or a missing value: SystemExit
        if getattr(args, "config", None):
            assert (ROOT / args.config).is_file(), args.config
