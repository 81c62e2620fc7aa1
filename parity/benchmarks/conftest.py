import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_generate_tests(metafunc):
    """Throughput cases: every framework x mode x {train, inference} with --benchmark, else each default mode."""
    if "throughput_case" not in metafunc.fixturenames:
        return
    from parity.bench.driver import DEFAULT_MODE, MODES

    full = metafunc.config.getoption("--benchmark")
    cases = [(fw, mode, kind) for fw in ("tf", "torch") for mode in (MODES[fw] if full else (DEFAULT_MODE[fw],))
             for kind in (("train", "inference") if full else ("train",))]
    metafunc.parametrize("throughput_case", cases, ids=["-".join(c) for c in cases])
