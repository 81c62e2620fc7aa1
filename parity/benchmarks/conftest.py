from parity import frameworks

frameworks.set_process_env()


def pytest_generate_tests(metafunc):
    """Throughput cases: every framework x mode x {train, inference} with --benchmark, else each default mode."""
    if "throughput_case" not in metafunc.fixturenames:
        return
    from parity.bench.driver import DEFAULT_MODE, MODES

    full = metafunc.config.getoption("--benchmark")
    cases = [(fw, mode, kind) for fw in frameworks.NAMES for mode in (MODES[fw] if full else (DEFAULT_MODE[fw],))
             for kind in (("train", "inference") if full else ("train",))]
    metafunc.parametrize("throughput_case", cases, ids=["-".join(c) for c in cases])
