"""`parity bench` options: bad input stops before any worker starts; the options reach every worker request.

Nothing here starts a framework: bad input never gets that far, and the driver
logic is checked against a fake worker that answers as the real one would.
"""
import json

import pytest

from parity.bench import driver
from parity.bench.driver import BenchError
from parity.bench.timing import STEADY_MALLOC
from parity.cli import main


class _NoWorker:
    def __init__(self, *a, **k):
        raise AssertionError("a throughput worker was started for bad input")


@pytest.mark.parametrize("args, expected", [
    (["--modes", "eagr"], "--modes: unknown mode 'eagr' (did you mean 'eager'?)"),
    (["--frameworks", "torch", "--modes", "function"], "--modes: unknown mode 'function'"),
    (["--modes", "xla"], "--modes: none of xla is a torch mode"),
    (["--modes", ","], "--modes: give at least one mode"),
    (["--arch", "resnet5"], "--arch: unknown model 'resnet5' (did you mean 'resnet50'?)"),
    (["--arch", "vgg16"], "--arch: unknown model 'vgg16'; allowed: resnet-tiny, resnet18, resnet50"),
    (["--image-size", "8"], "--image-size: 8 is not allowed -- an integer from 16 to"),
    (["--arch", "resnet50", "--image-size", "16"], "resnet50 needs at least 32 pixels"),
    (["--image-size", "4096"], "--image-size: 4096 is not allowed"),
    (["--image-size", "0"], "--image-size: 0 is not allowed"),
    (["--image-size", "big"], "argument --image-size: invalid int value: 'big'"),
    (["--warmup", "-1"], "--warmup: -1 is not allowed -- an integer >= 0"),
    (["--batch-size", "0"], "--batch-size: 0 is not allowed -- an integer >= 1"),
    (["--batch-size", "5000"], "--batch-size: 5000 is not allowed -- at most 1500"),
    (["--rounds", "0"], "--rounds: 0 is not allowed"),
    (["--steps", "-1"], "--steps: -1 is not allowed"),
    (["--threads", "0"], "--threads: 0 is not allowed"),
    (["--frameworks", "jax"], "--frameworks: unknown framework 'jax'"),
])
def test_bad_input_is_one_line_and_exit_2(args, expected, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(driver, "BenchWorker", _NoWorker)
    out = tmp_path / "out"
    assert main(["bench", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(("parity: ", "parity bench: ")) and expected in err[0], err
    assert "Traceback" not in err[0]
    assert not out.exists()


def test_every_problem_at_once(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(driver, "BenchWorker", _NoWorker)
    assert main(["bench", "--arch", "nope", "--modes", "nope", "--rounds", "0", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [e.split(":")[1].strip() for e in err] == ["--rounds", "--arch", "--modes"], err


# ------------------------------------------------------------------ the driver, against a fake worker

class FakeWorker:
    """Answers like ``python -m parity.bench.driver``; ``modes`` / ``installed`` per framework, every call logged."""
    modes = {"tf": ["eager", "function", "xla"], "torch": ["eager", "eager-channels-last", "compile"]}
    installed = {"tf": True, "torch": True}
    device = "cpu"
    calls: list = []

    def __init__(self, framework, threads):
        self.framework = framework

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        FakeWorker.calls.append((self.framework, {"cmd": "exit"}))

    def call(self, **msg):
        FakeWorker.calls.append((self.framework, msg))
        if not self.installed[self.framework]:
            raise driver.BenchUnavailable(f"{self.framework}: not installed or broken (ImportError: no)")
        cmd = msg["cmd"]
        if cmd == "info":
            return {"device": self.device}
        if cmd == "modes":
            return list(self.modes[self.framework])
        if cmd == "measure":
            return {"framework": self.framework, "mode": msg["mode"], "kind": msg["kind"],
                    "loader": bool(msg.get("loader")), "device": "cpu", "threads": 1,
                    "batch_size": msg["batch_size"], "image_size": msg["image_size"], "arch": msg["arch"],
                    "steps_per_round": msg["steps"], "rounds": msg["rounds"],
                    "images_per_s": {"min": 9.0, "median": 10.0, "max": 11.0}, "spread_pct": 20.0}
        if cmd == "overhead":
            return {"framework": self.framework, "batch_size": msg["batch_size"], "arch": msg["arch"],
                    "image_size": msg["image_size"], "steps": 8, "threads": 1, "ratio": 1.01,
                    "overhead_pct": 1.0, "suite_s": 0.101, "minimal_s": 0.1}
        raise AssertionError(cmd)


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(driver, "BenchWorker", FakeWorker)
    monkeypatch.setattr(FakeWorker, "calls", [])
    monkeypatch.setattr(FakeWorker, "installed", {"tf": True, "torch": True})
    monkeypatch.setattr(FakeWorker, "modes", dict(FakeWorker.modes))
    return FakeWorker


def _measured(calls):
    return [(fw, m["mode"], m["kind"], bool(m.get("loader"))) for fw, m in calls if m["cmd"] == "measure"]


def test_modes_filter_each_framework_and_sizes_reach_every_request(fake):
    data = driver.run_throughput(["tf", "torch"], threads=1, rounds=1, steps=1, batch_size=4, image_size=64,
                                   arch="resnet50", modes=["eager", "function"], log=lambda m: None)
    assert _measured(fake.calls) == [
        ("tf", "eager", "train", False), ("tf", "eager", "inference", False),
        ("tf", "function", "train", False), ("tf", "function", "inference", False),
        ("tf", "function", "train", True),            # the loader row in tf's default mode
        ("torch", "eager", "train", False), ("torch", "eager", "inference", False),
        ("torch", "eager", "train", True)]
    sized = [m for _, m in fake.calls if m["cmd"] in ("measure", "overhead")]
    assert sized and all((m["arch"], m["image_size"], m["batch_size"]) == ("resnet50", 64, 4) for m in sized)
    assert [fw for fw, m in fake.calls if m["cmd"] == "overhead"] == ["tf", "torch"]
    st = data["settings"]
    assert (st["arch"], st["image_size"], st["batch_size"]) == ("resnet50", 64, 4)
    assert st["modes"] == {"tf": ["eager", "function"], "torch": ["eager"]}
    json.dumps(data)


def test_the_overhead_duet_replaces_the_in_process_pairs_on_a_cpu_only(fake, monkeypatch):
    """Given a duet, each framework's overhead row is the duet's, measured once its throughput worker is gone
    (never three processes at once); on a GPU the worker's in-process pairs, as without one."""
    duets = []

    def duet(fw, size, log):
        duets.append((fw, size, fake.calls[-1]))
        return {"framework": fw, "method": "duet", "measure": "cpu", "overhead_pct": 0.5, "ci_pct": [-1.0, 1.5],
                "pairs": 12, "goal": "met", "suite_s": 0.1005, "minimal_s": 0.1}

    data = driver.run_throughput(["tf", "torch"], threads=1, rounds=1, steps=1, modes=["eager"], loader=False,
                                 overhead_duet=duet, log=lambda m: None)
    assert [(fw, last) for fw, _, last in duets] == [("tf", ("tf", {"cmd": "exit"})),
                                                    ("torch", ("torch", {"cmd": "exit"}))]
    assert duets[0][1] == {"batch_size": 32, "image_size": 32, "arch": "resnet-tiny"}
    assert not [m for _, m in fake.calls if m["cmd"] == "overhead"]
    assert "| tf | duet (cpu) | 0.1005 | 0.1000 | +0.5% [-1.0, +1.5] | 12 | met |" in driver.markdown(data)
    monkeypatch.setattr(fake, "device", "NVIDIA H100")
    data = driver.run_throughput(["torch"], threads=1, rounds=1, steps=1, modes=["eager"], loader=False,
                                 overhead_duet=duet, log=lambda m: None)
    assert len(duets) == 2 and [o["method"] for o in data["overhead"]] == ["in-process"]


def test_loader_row_uses_a_selected_mode_and_skips_leave_rows_out(fake):
    driver.run_throughput(["torch"], modes=["eager-channels-last"], overhead=False, log=lambda m: None)
    assert _measured(fake.calls)[-1] == ("torch", "eager-channels-last", "train", True)
    assert not [m for _, m in fake.calls if m["cmd"] == "overhead"]
    fake.calls.clear()
    data = driver.run_throughput(["torch"], modes=["eager"], loader=False, overhead=False, log=lambda m: None)
    assert _measured(fake.calls) == [("torch", "eager", "train", False), ("torch", "eager", "inference", False)]
    assert data["overhead"] == [] and data["settings"]["loader"] is False
    md = driver.markdown(data)
    assert "not measured (--skip-loader)" in md and "Not measured (--skip-overhead)" in md


def test_missing_framework_and_gpu_modes_are_left_out_not_fatal(fake):
    fake.installed["tf"] = False
    logs = []
    data = driver.run_throughput(["tf", "torch"], modes=["eager", "eager-amp"], log=logs.append)
    assert {r["framework"] for r in data["rows"]} == {"torch"}
    assert "tf" in data["settings"]["not_installed"]
    assert data["settings"]["needs_gpu"] == {"torch": ["eager-amp"]}
    assert any("tf: skipped" in line for line in logs)
    md = driver.markdown(data)
    assert "Not measured: tf: not installed" in md and "eager-amp (needs a GPU" in md
    with pytest.raises(driver.BenchError, match="nothing measured"):
        driver.run_throughput(["tf", "torch"], modes=["eager-amp"], log=lambda m: None)


def test_markdown_header_names_model_and_image_size(fake):
    data = driver.run_throughput(["torch"], rounds=3, steps=2, batch_size=8, image_size=48, arch="resnet18",
                                   modes=["eager"], log=lambda m: None)
    header = driver.markdown(data).splitlines()[2]
    assert header.startswith("Model: resnet18, image size 48 px, batch size 8; steps per round: 2; timed rounds: 3")
    old = {"schema": 1, "env": {"threads": 2}, "rows": data["rows"], "overhead": []}   # a file from before settings
    assert driver.markdown(old).splitlines()[2].startswith("Model: resnet18, image size 48 px, batch size 8.")


def test_cli_passes_options_through(fake, tmp_path, capsys):
    out = tmp_path / "tp"
    assert main(["bench", "--frameworks", "torch", "--arch", "resnet18", "--image-size", "40", "--batch-size", "4",
                 "--modes", "compile", "--skip-overhead", "--skip-loader", "--rounds", "1", "--steps", "1",
                 "--out", str(out)]) == 0
    assert _measured(fake.calls) == [("torch", "compile", "train", False), ("torch", "compile", "inference", False)]
    data = json.loads((out / "throughput.json").read_text())
    assert {(r["arch"], r["image_size"], r["batch_size"]) for r in data["rows"]} == {("resnet18", 40, 4)}
    assert "Model: resnet18, image size 40 px" in (out / "throughput.md").read_text()


def test_json_prints_what_throughput_json_holds(fake, tmp_path, capsys):
    out = tmp_path / "tp"
    assert main(["bench", "--frameworks", "torch", "--modes", "eager", "--skip-overhead", "--skip-loader",
                 "--rounds", "1", "--steps", "1", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((out / "throughput.json").read_text())


def test_a_duet_worker_without_the_steady_malloc_is_refused():
    """The duet's workers must report ``STEADY_MALLOC`` (a TF process's speed depends on glibc's mode, README):
    missing, different, overridden by a glibc.malloc tunable, or a preloaded library that may replace malloc:
    the duet stops with one line."""
    from parity.bench.sidebyside import _check_malloc

    _check_malloc("tf", {**STEADY_MALLOC, "MALLOC_ARENA_MAX": "2", "LD_PRELOAD": ""})
    for seen in ({}, {**STEADY_MALLOC, "MALLOC_TRIM_THRESHOLD_": "0"},
                 {**STEADY_MALLOC, "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=4096"},
                 {**STEADY_MALLOC, "LD_PRELOAD": "/usr/lib/libjemalloc.so.2"}):
        with pytest.raises(BenchError, match="malloc settings"):
            _check_malloc("tf", seen)
