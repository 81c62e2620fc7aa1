from pathlib import Path

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


def pytest_collection_modifyitems(session, config, items):
    """The throughput tests grouped by framework (throughput, then harness overhead): one worker start per
    framework instead of two, the ``worker`` fixture replacing its worker only when the framework changes."""
    def framework_of(item):
        spec = getattr(item, "callspec", None)
        if item.path.parent != Path(__file__).parent or item.path.name != "test_throughput.py" or spec is None:
            return None
        return spec.params.get("framework") or (spec.params.get("throughput_case") or (None,))[0]

    order = {fw: i for i, fw in enumerate(frameworks.NAMES)}
    bench = [i for i in items if framework_of(i) is not None]
    if bench:
        first = items.index(bench[0])
        rest = [i for i in items if framework_of(i) is None]
        bench.sort(key=lambda i: order.get(framework_of(i), len(order)))   # stable: throughput before overhead
        items[:] = rest[:first] + bench + rest[first:]
