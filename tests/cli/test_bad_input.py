"""Bad checkpoints, image folders and result files: one clear line, exit 2, nothing written.

Config-file cases live in tests/cli/test_config.py (42 of them); this table covers
what a config points at. A case is one line: (id, setup, command, expected text).
A setup writes the bad thing into the test's folder and returns the CLI
arguments that use it ({out} is the output folder that must stay empty).
"""
import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import OK_FIELDS

from parity.cli import main


def _config(tmp: Path, **run) -> str:
    """A one-run config; a keyword set to None drops that setting."""
    settings = {"scenario": "bad", "epochs": 1, "train_images": 64, **run}
    lines = ["[run]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items() if v is not None]
    path = tmp / "run.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _ckpt(tmp: Path, name: str, mutate=None) -> str:
    from parity.assets.canonical import load_checkpoint, save_checkpoint
    from parity.assets.starting import default_checkpoint

    tensors, recipe, _ = load_checkpoint(default_checkpoint("resnet-tiny"))
    path = tmp / name
    if mutate == "shape":
        tensors["layer2.0.conv1.weight"] = np.zeros((8, 16, 3, 3), np.float32)
    if mutate == "arch":
        from parity.spec.archs import get_arch
        from parity.train.initial import init_network
        tensors = init_network(get_arch("resnet18"), 10, 0)
    save_checkpoint(path, tensors, recipe)
    if mutate == "tamper":
        data = bytearray(path.read_bytes())
        data[-3] ^= 0xFF          # one byte of the last tensor
        path.write_bytes(bytes(data))
    return str(path)


def _images(folder: Path, n: int, mode="RGB", size=8):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        arr = np.random.default_rng(i).integers(0, 255, (size, size, 3 if mode == "RGB" else 1), np.uint8)
        Image.fromarray(arr if mode == "RGB" else arr[..., 0], mode).save(folder / f"{i}.png")


def _folder(tmp: Path, kind: str) -> str:
    root = tmp / "imgs"
    if kind == "empty":
        root.mkdir()
    if kind in ("no-images", "unreadable", "grayscale", "few", "one-class"):
        _images(root / "a", 40 if kind != "few" else 5)
    if kind in ("unreadable", "grayscale", "few"):
        _images(root / "b", 40 if kind != "few" else 5, mode="L" if kind == "grayscale" else "RGB")
    if kind == "no-images":
        (root / "b").mkdir()
        (root / "b" / "notes.txt").write_text("no images here")
    if kind == "unreadable":
        (root / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    if kind in ("bomb", "huge"):   # a header that claims 30000 x 30000 (900 M pixels) or 10000 x 10000
        _images(root / "a", 40)
        _images(root / "b", 40)
        side = 30000 if kind == "bomb" else 10000
        (root / "b" / "bomb.png").write_bytes(_png_header(side, side))
    return f"folder:{root}"


def _png_header(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims width x height RGB pixels (no pixel data follows)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def _results(tmp: Path, kind: str) -> list[str]:
    d = tmp / "res"
    (d / "jobs").mkdir(parents=True)
    if kind == "truncated-job":
        (d / "jobs" / "a.json").write_text('{"schema": 1, "id": "a", ')
    if kind == "old-schema-job":
        (d / "jobs" / "a.json").write_text(json.dumps({"schema": 0, "id": "a"}))
    if kind == "ok-job":
        (d / "jobs" / "a.json").write_text(json.dumps({
            "schema": 1, "id": "a", "scenario": "s", "variant": "v", "dataset": "far", "framework": "torch",
            "seed": 0, **OK_FIELDS}))
    return [str(d)]


CASES = [
    # checkpoints
    ("ckpt-missing", lambda t: ["run", "--config", _config(t, pretrained=str(t / "nope.safetensors"))], "checkpoint not found"),
    ("ckpt-not-safetensors", lambda t: ["run", "--config", _config(t, pretrained=str(_write(t / "x.safetensors", "hello")))], "not a safetensors file"),
    ("ckpt-checksum", lambda t: ["run", "--config", _config(t, pretrained=_ckpt(t, "c.safetensors", "tamper"))], "checksum"),
    ("ckpt-shape", lambda t: ["run", "--config", _config(t, pretrained=_ckpt(t, "s.safetensors", "shape"))], "layer2.0.conv1.weight"),
    ("ckpt-wrong-arch", lambda t: ["run", "--config", _config(t, pretrained=_ckpt(t, "r.safetensors", "arch"))], "bn1.bias"),
    # image folders
    ("tfds-name-without-its-prefix", lambda t: ["run", "--config", _config(t, dataset="cifar10")], "write 'tfds:cifar10'"),
    ("tfds-without-a-name", lambda t: ["run", "--config", _config(t, dataset="tfds:")], "needs a name"),
    ("tfds-unknown-dataset", lambda t: ["run", "--config", _config(t, dataset="tfds:no_such_dataset")],
     "has no dataset 'no_such_dataset'"),
    ("tfds-not-classification", lambda t: ["run", "--config", _config(t, dataset="tfds:coco/2017")],
     "is not image classification"),
    ("folder-missing", lambda t: ["run", "--config", _config(t, dataset=f"folder:{t / 'nothing'}")], "does not exist"),
    ("folder-empty", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "empty"), train_images=None)], "no class folders"),
    ("folder-one-class", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "one-class"))], "at least two"),
    ("folder-class-without-images", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "no-images"))], "class 'b' has no images"),
    ("folder-unreadable-image", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "unreadable"))], "broken.png: unreadable image"),
    ("folder-decompression-bomb", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "bomb"))], "decompression bomb"),
    ("folder-image-too-large", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "huge"))], "10000x10000 pixels"),
    ("folder-grayscale-image", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "grayscale"))], "L image, not RGB"),
    ("folder-fewer-than-a-batch", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "few"), train_images=None)], "fewer than one batch"),
    ("folder-fewer-than-train-images", lambda t: ["run", "--config", _config(t, dataset=_folder(t, "few"), batch_size=4)], "has only 8"),
    # result files
    ("report-no-jobs", lambda t: ["report", str(t / "nowhere")], "no jobs/ folder"),
    ("report-old-schema-job", lambda t: ["report"] + _results(t, "old-schema-job"), "schema 0"),
    ("compare-missing", lambda t: ["compare", str(t / "a"), str(t / "b")], "no such results folder"),
    ("compare-truncated", lambda t: ["compare"] + _results(t, "truncated-job") * 2, "not a complete JSON"),
    ("compare-old-schema", lambda t: ["compare"] + _results(t, "old-schema-job") * 2, "schema 0"),
    # names that become paths
    ("variant-escapes", lambda t: ["run", "--config", _config(t, variant="x/../../../ESCAPED")], "run.variant"),
    ("scenario-dot-dot", lambda t: ["run", "--config", _config(t, scenario="..")], "run.scenario"),
    ("job-file-name-too-long", lambda t: ["run", "--config", _config(t, scenario="s" * 60, variant="v" * 60,
                                                                     dataset="folder:/" + "d" * 150)], "at most 255"),
    ("scenario-too-long", lambda t: ["run", "--config", _config(t, scenario="s" * 300)], "at most 64 characters"),
    ("suite-name-a-path", lambda t: ["run", "--config", str(_write(t / "n.toml", 'name = "../up"\n' + Path(
        _config(t)).read_text()))], "name: '../up' is not allowed"),
    # bounded input
    ("yaml-nested-aliases", lambda t: ["run", "--config", str(_write(t / "laughs.yaml", "a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))))],
     "aliases (*name) are not read"),
    ("config-too-large", lambda t: ["run", "--config", str(_write(t / "big.toml", "# " + "x" * 2**21 + "\n"))],
     "a config file is at most"),
    # values that validated and failed later
    ("seed-beyond-32-bits", lambda t: ["run", "--config", _config(t, seeds=[4294967296])], "integers 0..4294967295"),
    ("framework-twice", lambda t: ["run", "--config", _config(t, frameworks=["torch", "torch"])], "each framework once"),
    ("seeds-too-many", lambda t: ["run", "--config", _config(t), "--seeds", str(10**12)], "an integer 1..1000"),
    ("seeds-neither-a-number-nor-auto", lambda t: ["run", "--config", _config(t), "--seeds", "many"], "an integer or auto"),
    ("max-seeds-below-two", lambda t: ["run", "--config", _config(t), "--seeds", "auto", "--max-seeds", "1"],
     "an integer 2..1000"),
    ("job-timeout-nan", lambda t: ["run", "--config", _config(t), "--job-timeout", "nan"], "finite number of seconds"),
    # output files, refused before any work
    ("compare-md-is-a-folder", lambda t: ["compare"] + _results(t, "ok-job") * 2 + ["--md", str(t)], "is a folder"),
    ("compare-md-under-a-file", lambda t: ["compare"] + _results(t, "ok-job") * 2 + ["--md", str(
        _write(t / "f", "") / "x.md")], "is a file, not a folder"),
    ("run-out-is-a-file", lambda t: ["run", "--config", _config(t), "--out", str(_write(t / "out-file", ""))],
     "is a file, not a folder"),
    ("run-out-under-proc", lambda t: ["run", "--config", _config(t), "--out", "/proc/parity-results"],
     "cannot be made"),
    ("run-out-name-too-long", lambda t: ["run", "--config", _config(t), "--out", str(t / ("x" * 300))],
     "File name too long"),
    ("bench-out-is-a-file", lambda t: ["bench", "--frameworks", "torch", "--out", str(_write(t / "b", ""))],
     "is a file, not a folder"),
    ("audit-out-is-a-folder", lambda t: ["audit", "--out", str(t)], "is a folder; give a file name"),
    # nothing made where a refused command would have written (OUT is the folder the test checks)
    ("compare-refused-md-not-made", lambda t: ["compare", str(t / "a"), str(t / "b"), "--md", str(t / "out" / "c.md")],
     "no such results folder"),
    ("audit-refused-out-not-made", lambda t: ["audit", "--frameworks", "tff", "--out", str(t / "out" / "d.json")],
     "did you mean 'tf'"),
    ("config-file-name-with-spaces-is-no-problem", lambda t: ["run", "--config", str(_write(
        t / "my runs (v2).toml", Path(_config(t, epochs=0)).read_text()))], "run.epochs: 0"),   # the only line
    # a Ray cluster that cannot be reached: said before the folder is made or any result moves
    ("ray-address-nothing-answers", lambda t: ["run", "--config", _config(t), "--executor", "ray",
                                               "--address", "127.0.0.1:1"], "nothing answers there"),
    ("ray-address-not-host-port", lambda t: ["run", "--config", _config(t), "--executor", "ray",
                                             "--address", "nowhere"], "auto, local, HOST:PORT"),
    ("audit-out-name-too-long", lambda t: ["audit", "--out", str(t / ("y" * 300) / "d.json")], "File name too long"),
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("case_id,setup,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_and_exit_2(tmp_path, capsys, case_id, setup, expected):
    if case_id.startswith("ray-"):
        pytest.importorskip("ray", reason="Ray is not installed: --executor ray is refused before its address")
    args = setup(tmp_path)
    out = tmp_path / "out"
    if args[0] == "run" and "--out" not in args:
        args = args + ["--out", str(out)]
    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("parity"), err
    assert len(lines[0]) <= 1000, f"{len(lines[0])} characters"   # a line a person reads
    assert expected in lines[0], lines[0]
    assert "Traceback" not in err
    assert not out.exists(), sorted(out.rglob("*"))   # nothing made, nothing written


@pytest.mark.system
@pytest.mark.needs("tf", "torch")
def test_a_good_image_folder_runs_end_to_end(tmp_path):
    """The folder dataset itself works: 2 classes of real PNGs through both frameworks."""
    root = tmp_path / "imgs"
    _images(root / "cats", 30, size=40)
    _images(root / "dogs", 30, size=40)
    from parity.data import load_dataset
    ds = load_dataset(f"folder:{root}", 32)
    assert ds.num_classes == 2 and len(ds.train_x) == 48 and len(ds.eval_x) == 12
    assert ds.train_x.shape[1:] == (32, 32, 3) and ds.train_x.dtype == np.uint8
    cfg = _config(tmp_path, dataset=f"folder:{root}", train_images=None, batch_size=16)
    assert main(["run", "--config", cfg, "--out", str(tmp_path / "out")]) == 0
    table = json.loads((tmp_path / "out" / "parity.json").read_text())
    assert {r["verdict"] for r in table["rows"]} != {"failed"}


def test_an_internal_error_is_exit_70_one_line_and_the_traceback_in_a_file(monkeypatch, capsys):
    """A bug is neither a finding (1) nor bad input (2): planted here as a command that raises."""
    from parity.cli import commands

    def broken(args):
        raise KeyError("planted bug")

    monkeypatch.setattr(commands, "cmd_list", broken)
    code = main(["list"])
    lines = capsys.readouterr().err.strip().splitlines()
    print("\n" + "\n".join(lines))
    assert code == 70 and len(lines) == 1, lines
    assert lines[0].startswith("parity: internal error, not a finding (KeyError: 'planted bug')")
    log = Path(lines[0].split("the traceback is in ")[1].split(";")[0])
    text = log.read_text()
    log.unlink()
    assert text.startswith("parity list") and "Traceback" in text and "planted bug" in text


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM])
def test_a_closed_terminal_or_a_kill_is_an_interrupt(monkeypatch, capsys, signum):
    """SIGHUP and SIGTERM take Ctrl-C's path (130, one line; a run's finished jobs kept and its workers stopped:
    tests/run/test_reliability.py sends SIGINT and SIGTERM to a real run)."""
    from parity.cli import commands

    def killed(args):
        os.kill(os.getpid(), signum)
        time.sleep(5)   # the handler raises before this ends
        return 0

    monkeypatch.setattr(commands, "cmd_list", killed)
    previous = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM)}
    try:
        code = main(["list"])
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and lines == ["parity: interrupted: finished jobs are kept; rerun with --resume to finish "
                                     "the suite"], lines


def test_a_bad_loader_variable_is_refused_before_a_folder_s_results_move(tmp_path, capsys, monkeypatch):
    """PARITY_LOADER_WORKERS is read by every job: refused at the start, the folder left as it was."""
    out = tmp_path / "out"
    (out / "jobs").mkdir(parents=True)
    (out / "jobs" / "done.json").write_text("{}")
    monkeypatch.setenv("PARITY_LOADER_WORKERS", "abc")
    code = main(["run", "--config", _config(tmp_path), "--out", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines == ["parity: PARITY_LOADER_WORKERS='abc' is not allowed -- an integer >= 1"], lines
    assert sorted(p.name for p in out.rglob("*")) == ["done.json", "jobs"]


def test_a_reader_that_goes_away_is_not_a_crash():
    """`parity list | head -1`: the pipe closes under the command; exit 141 as SIGPIPE would, no traceback."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "parity", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()   # the reader is gone before the command writes
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == "", err


def test_a_failed_audit_probe_leaves_no_folder_behind(tmp_path, monkeypatch, capsys):
    """--out's folder is made before the probes (an unwritable one is refused at once) and removed again,
    with the folders above it that the command made, when a probe fails."""
    from parity import audit

    def probe_fails(names):
        raise audit.AuditError("torch: the audit probe failed (planted)")

    monkeypatch.setattr(audit, "collect", probe_fails)
    (tmp_path / "kept").mkdir()
    assert main(["audit", "--out", str(tmp_path / "kept" / "new" / "deeper" / "d.json")]) == 2
    assert "the audit probe failed" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept"]
