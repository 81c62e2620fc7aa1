"""Running jobs: the runner and Ray executor, the worker, one job, and every child process (process.py)."""
