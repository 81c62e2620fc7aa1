"""The parity benchmarks that ``pytest parity/`` collects (see parity/pytest_plugin.py)."""
