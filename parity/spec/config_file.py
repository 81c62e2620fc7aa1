"""A suite from a TOML or YAML file (or a parsed mapping), with the command line's overrides applied;
unknown keys and wrong kinds are problems like any other (ConfigError)."""
from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from parity.hints import did_you_mean
from parity.spec.config import (DEFAULT_FRAMEWORKS, MAX_CONFIG_BYTES, BNConfig, ConfigError, RunConfig,
                                SuiteConfig)
from parity.spec.validate import validate_suite

_SUITE_KEYS = {"name", "description", "seeds", "frameworks", "run", "runs"}


def _build(cls, data: Any, where: str, problems: list[str]):
    """Make a dataclass from a mapping, reporting unknown keys and wrong kinds."""
    if not isinstance(data, dict):
        problems.append(f"{where}: expected a table of settings, got {type(data).__name__}")
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            problems.append(f"{where}.{key}: unknown setting{did_you_mean(key, fields)}; "
                            f"allowed: {', '.join(sorted(fields))}")
            continue
        if key == "bn":
            kwargs[key] = _build(BNConfig, value, f"{where}.bn", problems)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def suite_from_dict(data: dict, name: str, overrides: dict | None = None) -> SuiteConfig:
    """Build and validate a suite from a parsed config file (see README: Config files)."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError([f"{name}: the file must hold a table of settings"])
    for key in data:
        if key not in _SUITE_KEYS:
            problems.append(f"{key}: unknown top-level setting{did_you_mean(key, _SUITE_KEYS)}; "
                            f"allowed: {', '.join(sorted(_SUITE_KEYS))}")
    run_tables: list = []
    seeds = data.get("seeds")
    frameworks = data.get("frameworks")
    if "run" in data:
        table = data["run"]
        if isinstance(table, dict):
            table = dict(table)
            # The design's single-run file keeps seeds and frameworks inside [run].
            seeds = table.pop("seeds", seeds)
            frameworks = table.pop("frameworks", frameworks)
        run_tables.append(table)
    if "runs" in data:
        if not isinstance(data["runs"], list):
            problems.append("runs: expected an array of tables ([[runs]])")
        else:
            run_tables.extend(data["runs"])
    runs = []
    for i, table in enumerate(run_tables):
        where = "run" if len(run_tables) == 1 and "run" in data else f"runs[{i}]"
        runs.append(_build(RunConfig, table, where, problems))
    if problems:
        raise ConfigError(problems)
    suite = SuiteConfig(
        name=str(data.get("name", name)),
        runs=runs,
        seeds=list(seeds) if isinstance(seeds, list) else ([0, 1, 2] if seeds is None else seeds),
        frameworks=list(frameworks) if isinstance(frameworks, list) else (list(DEFAULT_FRAMEWORKS) if frameworks is None else frameworks),
        description=str(data.get("description", "")),
    )
    apply_overrides(suite, overrides or {})
    validate_suite(suite)
    return suite


def apply_overrides(suite: SuiteConfig, overrides: dict) -> None:
    """Command-line overrides (--seeds N, --frameworks a,b, --precision P) replace the file's values."""
    if overrides.get("precision") is not None:
        for run in suite.runs + suite.other_runs:
            run.precision = overrides["precision"]
    if overrides.get("seeds") is not None:
        suite.seeds = overrides["seeds"]
    if overrides.get("frameworks") is not None:
        suite.other_frameworks = [fw for fw in [*suite.frameworks, *suite.other_frameworks]
                                  if fw not in overrides["frameworks"]]
        suite.frameworks = overrides["frameworks"]


def load_config_file(path: str | os.PathLike, overrides: dict | None = None) -> SuiteConfig:
    """Read a TOML (.toml) or YAML (.yaml/.yml) suite file; ConfigError on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"config: {str(path)!r} does not exist or is not a file"])
    suffix = path.suffix.lower()
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError([f"config: {path.name} is {path.stat().st_size:,} bytes; a config file is at most "
                               f"{MAX_CONFIG_BYTES:,}"])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"config: cannot read {str(path)!r}: {e}"]) from None
    if suffix == ".toml":
        import tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError([f"config: {path.name} is not valid TOML: {e}"]) from None
    elif suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.load(text, Loader=_yaml_loader())
        except yaml.YAMLError as e:
            msg = " ".join(str(e).split())
            msg = msg if len(msg) <= 300 else msg[:297] + "..."
            raise ConfigError([f"config: {path.name} is not valid YAML: {msg}"]) from None
        if data is None:
            raise ConfigError([f"config: {path.name} is empty"])
    else:
        raise ConfigError([f"config: {path.name}: unknown file type {suffix or '(none)'!r} -- use .toml, .yaml or .yml"])
    return suite_from_dict(data, name=name_from_file(path.stem), overrides=overrides)


def name_from_file(stem: str) -> str:
    """A suite named after its config file, made safe ("my runs (v2)" -> "my-runs-v2"); a name set in the
    file (``name = ...``) is checked as written instead."""
    safe = re.sub(r"[^A-Za-z0-9._+=-]+", "-", stem).strip("-._+=")[:64]
    return safe or stem


def _yaml_loader():
    """SafeLoader that also reads 1e-3 (no decimal point) as a float, as TOML and Python do."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            """No aliases: a settings file needs none, and nested ones expand exponentially."""
            if self.check_event(yaml.AliasEvent):
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not read in a config file",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)

    Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                                 re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                 list("-+0123456789"))
    return Loader
