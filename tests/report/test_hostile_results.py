"""Damaged or hostile job files: report, compare and run --resume name each one as a problem -- never a
traceback, never a silent "not run" -- and the readable jobs beside it are still used."""
import json
import os
import shutil
from pathlib import Path

import pytest

from parity import results
from parity.cli import main
from parity.run import matrix, resume
from parity.spec.config_file import load_config_file

ROOT = Path(__file__).resolve().parents[2]
GOOD = ROOT / "results" / "quick" / "jobs"
NAMES = ["momentum-native__far__native__tf__s0.json", "momentum-native__far__native__torch__s0.json"]
VICTIM = NAMES[0]


def _edit(change):
    def mutate(path: Path):
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return mutate


def _replace(text: str):
    return lambda path: path.write_text(text)


def _folder(path: Path):
    path.unlink()
    path.mkdir()


def _symlink_loop(path: Path):
    path.unlink()
    os.symlink(path.name, path)


CASES = {   # name: (how the victim file is damaged, what the problem line says)
    "a-folder": (_folder, "unreadable result file (Is a directory)"),
    "a-symlink-loop": (_symlink_loop, "Too many levels of symbolic links"),
    "nested-100000-deep": (_replace("[" * 100_000 + "]" * 100_000), "nested too deep"),
    "final-null": (_edit(lambda d: d.update(final=None)), "final: None is not of type 'object'"),
    "env-a-string": (_edit(lambda d: d.update(env="garbage")), "env: 'garbage' is not of type 'object'"),
    "seed-a-list": (_edit(lambda d: d.update(seed=[0])), "seed: [0] is not of type 'integer'"),
    "seed-a-bool": (_edit(lambda d: d.update(seed=True)), "seed: True is not of type 'integer'"),
    "eval-acc-a-string": (_edit(lambda d: d["final"].update(eval_acc="high")), "final.eval_acc: 'high' is not of type 'number'"),
    "eval-acc-null": (_edit(lambda d: d["final"].update(eval_acc=None)), "final.eval_acc: None is not of type 'number'"),
    "eval-acc-missing": (_edit(lambda d: d["final"].pop("eval_acc")), "final: 'eval_acc' is a required property"),
    "unknown-framework": (_edit(lambda d: d.update(framework="jax")), "framework 'jax' is none of"),
    "status-a-number": (_edit(lambda d: d.update(status=5)), "status: 5 is not of type 'string'"),
    "history-of-numbers": (_edit(lambda d: d.update(history=[1, 2])), "history.1: 2 is not of type 'object'"),
    "config-a-list": (_edit(lambda d: d.update(config=[])), "config: [] is not of type 'object'"),
    "history-missing": (_edit(lambda d: d.pop("history")), "'history' is a required property"),
    "a-key-with-a-newline": (_edit(lambda d: d["env"].update({"a\nb": [1]})), "env.a b: [1] is not of type"),
    "a-list": (_replace("[1, 2]"), "expected a JSON object"),
    "not-utf8": (lambda p: p.write_bytes(b'{"schema": 1, "id": "\xff"}'), "UnicodeDecodeError"),
    "empty": (_replace(""), "not a complete JSON"),
}


def _results(tmp_path: Path, case: str) -> Path:
    out = tmp_path / case
    (out / "jobs").mkdir(parents=True)
    for name in NAMES:
        shutil.copy(GOOD / name, out / "jobs" / name)
    CASES[case][0](out / "jobs" / VICTIM)
    return out


@pytest.mark.parametrize("case", CASES)
def test_report_and_compare_name_the_damaged_file(tmp_path, capsys, case):
    folder, expected = _results(tmp_path, case), CASES[case][1]
    assert main(["report", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    problems = (folder / "parity.md").read_text().split("## Problems")[1]
    assert f"{VICTIM}: " in problems and expected in problems, problems[:600]
    assert len([line for line in err.splitlines() if VICTIM in line]) == 1, err   # one line on stderr too
    assert "97.1" in (folder / "parity.md").read_text()   # the readable torch job is still reported

    clean = tmp_path / "clean"
    (clean / "jobs").mkdir(parents=True)
    for name in NAMES:
        shutil.copy(GOOD / name, clean / "jobs" / name)
    for a, b in ((clean, folder), (folder, clean)):
        code = main(["compare", str(a), str(b)])
        out, err = capsys.readouterr()
        assert "Traceback" not in err + out
        assert code in (1, 2), (case, code)   # a regression (the file is named), or a baseline refused
        assert expected in out + err, (out + err)[-800:]


def test_an_oversized_file_is_refused_unread(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"pad": "x" * 5000}))
    monkeypatch.setattr(results, "MAX_FILE_BYTES", 1000)
    with pytest.raises(results.ResultError, match="more than a result file holds"):
        results.read_job(path)


@pytest.mark.parametrize("case", ["a-folder", "eval-acc-a-string", "unknown-framework", "nested-100000-deep"])
def test_resume_reruns_a_damaged_job_and_says_why(tmp_path, case):
    folder = _results(tmp_path, case)
    config = tmp_path / "quick.toml"
    config.write_text('[run]\nscenario = "momentum-native"\nvariant = "native"\ndataset = "far"\nseeds = [0]\n'
                      'frameworks = ["tf", "torch"]\n')
    suite = load_config_file(config)
    logs = []
    pending = resume.select_pending(matrix.expand(suite, folder), folder, resume=True, log=logs.append)
    assert VICTIM in [j.path.name for j in pending]   # (the good one too: its commit is not this checkout's)
    assert any(line.startswith("rerunning") and VICTIM in line and CASES[case][1] in line for line in logs), logs
