"""Property: a job file or config file damaged at random -- a value of another type at any depth, a key
removed or added, the text cut anywhere -- is a named problem or a clean refusal for report, compare,
run --resume and the config reader: never a traceback, never exit 70 (an internal error).

CI runs PARITY_PROPERTY_EXAMPLES (default 60) examples per property; the issue's figure is 1,000
(PARITY_PROPERTY_EXAMPLES=1000, about 15 minutes on 2 cores)."""
import json
import os
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.cli import main
from parity.run import matrix, resume
from parity.spec.config import ConfigError
from parity.spec.config_file import load_config_file

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "results" / "quick" / "jobs"
NAMES = ["momentum-native__far__native__tf__s0.json", "momentum-native__far__native__torch__s0.json"]
EXAMPLES = int(os.environ.get("PARITY_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)


def _paths(value, prefix=()):
    """Every key path into a JSON value (a path is a tuple of keys and indices)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):
            yield from _paths(v, prefix + (i,))


@st.composite
def damaged(draw, original: dict) -> str:
    """The text of ``original`` with one random damage."""
    data = json.loads(json.dumps(original))
    paths = [p for p in _paths(data) if p]
    kind = draw(st.sampled_from(["replace", "delete", "add", "truncate"]))
    if kind == "truncate":
        text = json.dumps(data)
        return text[:draw(st.integers(0, len(text) - 1))]
    path = draw(st.sampled_from(paths))
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    if kind == "replace":
        parent[path[-1]] = draw(JSON_VALUES)
    elif kind == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=10))] = draw(JSON_VALUES)
    else:
        parent.append(draw(JSON_VALUES))
    return json.dumps(data)


VICTIM = json.loads((GOOD / NAMES[0]).read_text())


def _folder(root: Path, text: str | None) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    (root / "jobs").mkdir(parents=True)
    for name in NAMES:
        shutil.copy(GOOD / name, root / "jobs" / name)
    if text is not None:
        (root / "jobs" / NAMES[0]).write_text(text)
    return root


def _no_crash(code: int, captured) -> None:
    out, err = captured
    assert code in (0, 1, 2) and "Traceback" not in err and "internal error" not in err, err[-2000:]


@SETTINGS
@given(text=damaged(VICTIM))
def test_report_and_compare_take_any_damaged_job_file(tmp_path, capsys, text):
    clean, hurt = _folder(tmp_path / "clean", None), _folder(tmp_path / "hurt", text)
    _no_crash(main(["report", str(hurt)]), capsys.readouterr())
    _no_crash(main(["compare", str(clean), str(hurt)]), capsys.readouterr())
    _no_crash(main(["compare", str(hurt), str(clean)]), capsys.readouterr())


CONFIG = {"name": "prop", "seeds": [0, 1], "frameworks": ["tf", "torch"],
          "runs": [{"scenario": "s", "variant": "a", "dataset": "far", "epochs": 1, "train_images": 64,
                    "bn": {"momentum": 0.9, "epsilon": 1e-5}},
                   {"scenario": "s", "variant": "b", "dataset": "near", "optimizer": "adam", "lr": 0.001}]}


@SETTINGS
@given(text=damaged(VICTIM))
def test_resume_takes_any_damaged_job_file(tmp_path, text):
    folder = _folder(tmp_path / "resume", text)
    suite = load_config_file(_write(tmp_path / "one.yaml", {"run": {"scenario": "momentum-native",
                                                                    "variant": "native", "dataset": "far"}}))
    logs = []
    resume.select_pending(matrix.expand(suite, folder), folder, resume=True, log=logs.append)


@SETTINGS
@given(text=damaged(CONFIG))
def test_the_config_reader_takes_any_damaged_config(tmp_path, text):
    path = tmp_path / "c.yaml"   # YAML reads JSON: every damaged text is a config file's text
    path.write_text(text)
    try:
        suite = load_config_file(path)
    except ConfigError as e:
        assert all("\n" not in line and len(line) < 1000 for line in e.problems), e.problems
        return
    matrix.expand(suite, tmp_path / "out")   # a config that validates expands into jobs


def _write(path: Path, data) -> Path:
    path.write_text(json.dumps(data))
    return path
