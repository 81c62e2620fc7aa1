"""``parity run``: a suite or a config file, checked whole before any job starts, run, and its tables."""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from parity.cli.common import (EXIT_FINDING, EXIT_OK, EXIT_UNWRITABLE, WORK_DIR, UsageError, err, output_folder,
                               parse_frameworks, say, to_json)

MAX_SEEDS = 1000   # --seeds N runs seeds 0..N-1: a bound before the list is built


def load_suite(args):
    """The suite or config file the options name, narrowed and checked whole (UsageError: one line each)."""
    from parity.spec.config import ConfigError
    from parity.spec.config_file import load_config_file
    from parity.spec.scenarios import narrowed_suite

    if args.seeds not in (None, "auto") and not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds: {args.seeds} is not allowed -- an integer 1..{MAX_SEEDS}")
    if getattr(args, "max_seeds", None) is not None and not 2 <= args.max_seeds <= MAX_SEEDS:
        raise UsageError(f"--max-seeds: {args.max_seeds} is not allowed -- an integer 2..{MAX_SEEDS}")
    overrides = {"seeds": list(range(args.seeds)) if isinstance(args.seeds, int) else None,
                 "frameworks": parse_frameworks(args.frameworks), "precision": args.precision}
    if args.scenarios and not args.suite:
        raise UsageError("--scenarios selects scenarios of a --suite")
    if bool(args.suite) == bool(args.config):
        raise UsageError("run: give exactly one of --suite NAME or --config FILE")
    try:
        if args.suite:
            return narrowed_suite(args.suite, args.scenarios, overrides)
        return load_config_file(args.config, overrides)
    except ConfigError as e:
        raise UsageError("\n".join(e.problems)) from None


def cmd_run(args) -> int:
    from parity.assets.starting import PretrainFailed
    from parity.results import OutputUnwritable
    from parity.run import preflight
    from parity.run.ray_executor import RayUnavailable   # Ray itself is imported only to run
    from parity.run.resume import ResumeMismatch
    from parity.run.runner import OutputLocked, run_suite

    _check_run_options(args)
    suite = load_suite(args)
    problems = preflight.problems(suite, log=lambda m: print(m, file=sys.stderr, flush=True))
    if problems:
        raise UsageError("\n".join(problems))
    _check_executor(args)
    out = output_folder(args.out or WORK_DIR / suite.name, "--out")   # the last check: it makes the folder
    t0 = time.perf_counter()
    options = dict(resume=args.resume, threads=args.threads, job_timeout=args.job_timeout, executor=args.executor,
                   address=args.address)
    had = None
    try:
        if args.seeds == "auto":
            from parity import more_seeds

            summary, had = more_seeds.run_until_decided(suite, out, args.max_seeds, log=say, **options)
        else:
            summary = run_suite(suite, out, **options)
    except (OutputLocked, RayUnavailable, ResumeMismatch) as e:
        raise UsageError(str(e)) from None
    except PretrainFailed as e:
        err(str(e))
        return EXIT_FINDING
    except OutputUnwritable as e:
        err(f"{e}: the run stopped; every finished job in {out / 'jobs'} is kept -- free space (or mend the "
             f"folder) and run the same command with --resume to finish")
        return EXIT_UNWRITABLE
    return _report_run(args, suite, out, summary, had, t0)


def _check_run_options(args) -> None:
    """The options a run reads before it sets any result aside, each refused in one line."""
    from parity.data.loader import default_workers

    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads: {args.threads} is not allowed -- an integer >= 1")
    if not (math.isfinite(args.job_timeout) and args.job_timeout > 0):   # nan would mean no timeout at all
        raise UsageError(f"--job-timeout: {args.job_timeout} is not allowed -- a finite number of seconds > 0")
    try:   # read by every job: a bad value would fail them all, after the folder's results were set aside
        default_workers()
    except ValueError as e:
        raise UsageError(str(e)) from None


def _check_executor(args) -> None:
    """--executor ray needs Ray and a reachable --address; --address needs --executor ray."""
    from parity.run.ray_executor import RayUnavailable, check_address

    if args.address and args.executor != "ray":
        raise UsageError("--address is for --executor ray")
    if args.executor == "ray":
        import importlib.util
        if importlib.util.find_spec("ray") is None:
            raise UsageError("--executor ray needs Ray: pip install '.[ray]' (or pip install ray)")
        try:
            check_address(args.address)
        except RayUnavailable as e:
            raise UsageError(str(e)) from None


def _report_run(args, suite, out: Path, summary: dict, had: dict | None, t0: float) -> int:
    """The tables of a finished run, its closing lines, and its exit code (1 when a job failed)."""
    from parity.report import aggregate, tables

    try:
        table = tables.write_report(out, suite.name)
    except OSError as e:
        err(f"cannot write the tables in {out}: {e.strerror or e}; every job result is kept -- free space and "
             f"run: parity report {out}")
        return EXIT_UNWRITABLE
    print(to_json(tables.to_json(table)) if args.json else tables.terminal(table))
    failed = len(aggregate.failed_jobs(table))
    missing = sorted({fw for r in table["rows"] for fw in r.get("not_installed", [])})
    for fw in missing:
        err(f"{fw} is not installed or fails to import: its column is marked 'not installed'")
    if had is not None:
        say("--seeds auto: seeds per row: " + "; ".join(f"{'/'.join(k)} {n}" for k, n in sorted(had.items())))
    print(f"\n{summary['ran']} job(s) run in {time.perf_counter() - t0:.0f}s "
          f"({summary['threads']} thread(s) per framework); {failed} failed. "
          f"Tables: {out}/parity.md, parity.csv, parity.json", file=sys.stderr if args.json else sys.stdout)
    if failed:   # a run with failed jobs never passes for a result (scripts and CI read the code)
        err(f"{failed} job(s) failed (their reasons: Problems in {out}/parity.md): exit 1")
        return EXIT_FINDING
    return EXIT_OK
