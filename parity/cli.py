"""``parity list | run | report | compare | bench | upgrade-check | audit | pretrain``: the command line.

Exit codes everywhere: 0 success, 1 a finding the command exists to report,
2 bad input or usage (one line per problem on stderr, no traceback),
70 an internal error -- a bug, never a finding: one line naming the file that holds the traceback,
74 the output could not be written mid-run (a full disk; finished jobs are kept, ``--resume`` finishes),
130 interrupted by SIGINT, SIGTERM or SIGHUP (finished jobs are kept; ``--resume`` continues),
141 the output's reader went away (``parity list | head``).
"""
from __future__ import annotations

import argparse
import errno
import json
import math
import os
import signal
import sys
import time
from pathlib import Path

from parity import frameworks
from parity.hints import did_you_mean
from parity.spec.config import PRECISIONS

EXIT_OK, EXIT_FINDING, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
EXIT_UNWRITABLE = 74   # sysexits' EX_IOERR: the output could not be written (a full disk) mid-run
EXIT_PIPE_CLOSED = 141   # what a shell reports for a process ended by SIGPIPE
MAX_SEEDS = 1000   # --seeds N runs seeds 0..N-1: a bound before the list is built
# Where commands write by default: an ignored working folder, never a tracked file. Publishing into
# results/ (or the package's checkpoint) is a command of its own, with --out given on purpose.
WORK_DIR = Path("runs")


class UsageError(Exception):
    """Bad input: the CLI prints the message (one line per problem) and exits 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _err(msg: str) -> None:
    _say(f"parity: {msg}")


def _say(line: str) -> None:
    """One line on stderr; a closed terminal (SIGHUP) cannot turn it into a traceback."""
    try:
        print(line, file=sys.stderr)
    except OSError:   # the exit code still says what happened
        pass


def _output_file(path: str | Path, flag: str) -> Path:
    """A file the command will write, refused before any work when it cannot be one."""
    out = Path(path)
    try:
        if out.is_dir():
            raise UsageError(f"{flag}: {path} is a folder; give a file name")
    except OSError as e:   # e.g. a name too long
        raise UsageError(f"{flag}: {out} cannot be written ({e.strerror or type(e).__name__})") from None
    _output_folder(out.parent, flag)
    return out


def _first_existing(path: Path) -> Path:
    """The nearest of ``path`` and its parents that exists (os.path.exists: False, not an error, for a name
    too long or a folder that may not be read -- _output_file then refuses it in one line)."""
    return next(p for p in (path, *path.parents) if os.path.exists(p))


def _remove_made_folders(folder: Path, kept: Path) -> None:
    """Remove ``folder`` and its parents up to ``kept`` (which existed before), each only while empty."""
    for p in (folder, *folder.parents):
        if p == kept or not p.is_relative_to(kept):
            return
        try:
            p.rmdir()
        except OSError:
            return


def _output_folder(path: str | Path, flag: str) -> Path:
    """A folder the command will write into, made (or found) and tried before any work."""
    out = Path(path)
    try:
        if out.exists() and not out.is_dir():
            raise UsageError(f"{flag}: {out} is a file, not a folder")
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:   # a file somewhere above it
        raise UsageError(f"{flag}: {out} cannot be made (a file is in its path)") from None
    except OSError as e:
        raise UsageError(f"{flag}: {out} cannot be made ({e.strerror or type(e).__name__})") from None
    _try_writing(out, flag)
    return out


def _try_writing(folder: Path, flag: str) -> None:
    """A file made and removed in ``folder``: a read-only, full or pseudo file system is found now, not
    after the work."""
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".parity-write-test-") as f:
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise UsageError(f"{flag}: {folder} cannot be written ({e.strerror or type(e).__name__})") from None


def _json(data) -> str:
    """--json: what the command found, on stdout for a script (progress and summaries stay on stderr)."""
    return json.dumps(data, indent=1, default=str)


def _internal_error(argv: list[str]) -> int:
    """An exception nothing expected: a bug, never a finding. One line; the traceback kept in a file."""
    import tempfile
    import traceback

    from parity.process import one_line

    summary = one_line(sys.exc_info()[1], limit=300)
    try:
        fd, path = tempfile.mkstemp(prefix="bn-parity-error-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as log:
            log.write(f"parity {' '.join(argv)}\n\n")
            traceback.print_exc(file=log)
        where = f"the traceback is in {path}"
    except OSError:   # nowhere to write it: the traceback is all that can be said
        traceback.print_exc()
        where = "the traceback is above"
    _err(f"internal error, not a finding ({summary}); {where}; please report it")
    return EXIT_INTERNAL


def cmd_list(args) -> int:
    from parity.spec.scenarios import SCENARIOS, SUITES

    print("Scenarios (name, datasets: claim tested)")
    for s in SCENARIOS.values():
        print(f"  {s.name:<18} {','.join(s.datasets):<9} {s.claim}")
    print("\nSuites (name: scenarios, seeds, budget)")
    for s in SUITES.values():
        budget = ", ".join(f"{k}={v}" for k, v in s.budget.items())
        print(f"  {s.name:<6} {s.description}: {', '.join(s.scenarios)}; seeds {len(s.seeds)}; {budget}")
    return EXIT_OK


def _parse_frameworks(text: str | None, here: bool = True) -> list[str] | None:
    """--frameworks -> names; with ``here``, a named framework this environment lacks is refused before
    anything runs (a suite's own list still runs without it: its column reads "not installed")."""
    try:
        names = frameworks.parse(text)
    except frameworks.UnknownFramework as e:
        raise UsageError(f"--frameworks: {e}") from None
    for name in (names or []) if here else []:
        lacking = frameworks.missing_modules(name)
        if lacking:
            raise UsageError(f"--frameworks: {name} is not installed here (no module {', '.join(lacking)})"
                             + (f"; {frameworks.get(name).install_hint}" if frameworks.get(name).install_hint else ""))
    return names


def _reference(name: str) -> str:
    """--reference -> a registered framework's name (one line, exit 2, with a did-you-mean, when it is not)."""
    try:
        return frameworks.get(name).name
    except frameworks.UnknownFramework as e:
        raise UsageError(f"--reference: {e}") from None


def load_suite(args):
    from parity.spec.config import ConfigError, apply_overrides, load_config_file, validate_suite
    from parity.spec.scenarios import SUITES, build_suite

    if args.seeds not in (None, "auto") and not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"--seeds: {args.seeds} is not allowed -- an integer 1..{MAX_SEEDS}")
    if getattr(args, "max_seeds", None) is not None and not 2 <= args.max_seeds <= MAX_SEEDS:
        raise UsageError(f"--max-seeds: {args.max_seeds} is not allowed -- an integer 2..{MAX_SEEDS}")
    overrides = {"seeds": list(range(args.seeds)) if isinstance(args.seeds, int) else None,
                 "frameworks": _parse_frameworks(args.frameworks), "precision": args.precision}
    if args.scenarios and not args.suite:
        raise UsageError("--scenarios selects scenarios of a --suite")
    if bool(args.suite) == bool(args.config):
        raise UsageError("run: give exactly one of --suite NAME or --config FILE")
    try:
        if args.suite:
            if args.suite not in SUITES:
                raise UsageError(f"--suite: unknown suite {args.suite!r}{did_you_mean(args.suite, SUITES)}; "
                                 f"allowed: {', '.join(SUITES)}")
            suite = build_suite(args.suite)
            if args.scenarios:
                wanted = [x.strip() for x in args.scenarios.split(",") if x.strip()]
                have = {r.scenario for r in suite.runs}
                unknown = [w for w in wanted if w not in have]
                if unknown or not wanted:
                    raise UsageError(f"--scenarios: {args.scenarios!r} is not allowed -- a comma-separated list "
                                     f"from the suite's scenarios: {', '.join(sorted(have))}")
                suite.other_runs = [r for r in suite.runs if r.scenario not in wanted]
                suite.runs = [r for r in suite.runs if r.scenario in wanted]
            apply_overrides(suite, overrides)
            validate_suite(suite)
            if not any(suite.frameworks_of(run) for run in suite.runs):
                raise UsageError(f"--frameworks {','.join(suite.frameworks)} runs none of the chosen scenarios "
                                 f"of suite {args.suite} (each scenario's columns: parity list)")
            return suite
        return load_config_file(args.config, overrides)
    except ConfigError as e:
        raise UsageError("\n".join(e.problems)) from None


def _preflight(suite) -> None:
    """Stop before any job starts when a dataset or checkpoint cannot be used."""
    from parity.assets import canonical, starting
    from parity.data import DataError, load_dataset, prepare_dataset

    problems = []
    for run in suite.runs:
        try:   # weights first, on their own: a missing dataset must not hide a missing file
            starting.check(run, suite.frameworks_of(run))
        except canonical.CheckpointError as e:
            problems.append(str(e))
        try:
            prepare_dataset(run.dataset, run.image_size, run.data_dir,
                            log=lambda m: print(m, file=sys.stderr, flush=True))
            ds = load_dataset(run.dataset, run.image_size)
            if run.train_images is not None and run.train_images > len(ds.train_x):
                problems.append(f"train_images={run.train_images}: {run.dataset} has only {len(ds.train_x)}")
            n = min(run.train_images or len(ds.train_x), len(ds.train_x))
            if n < run.batch_size:
                problems.append(f"batch_size={run.batch_size}: {run.dataset} has {n} training images, "
                                "fewer than one batch")
            if run.pretrained not in ("zoo", "source") or starting.default_checkpoint(run.model).exists():
                starting.starting_weights(run, ds.num_classes, suite.seeds[0])   # the file loads and fits
        except (DataError, canonical.CheckpointError) as e:
            problems.append(str(e))
    if problems:
        raise UsageError("\n".join(dict.fromkeys(problems)))


def cmd_run(args) -> int:
    from parity.assets.starting import PretrainFailed
    from parity.results import OutputUnwritable
    from parity.run.ray_executor import RayUnavailable   # Ray itself is imported only to run
    from parity.run.resume import ResumeMismatch
    from parity.run.runner import OutputLocked, run_suite

    _check_run_options(args)
    suite = load_suite(args)
    _preflight(suite)
    _check_executor(args)
    out = _output_folder(args.out or WORK_DIR / suite.name, "--out")   # the last check: it makes the folder
    t0 = time.perf_counter()
    options = dict(resume=args.resume, threads=args.threads, job_timeout=args.job_timeout, executor=args.executor,
                   address=args.address)
    had = None
    try:
        if args.seeds == "auto":
            from parity import more_seeds

            summary, had = more_seeds.run_until_decided(suite, out, args.max_seeds, log=_say, **options)
        else:
            summary = run_suite(suite, out, **options)
    except (OutputLocked, RayUnavailable, ResumeMismatch) as e:
        raise UsageError(str(e)) from None
    except PretrainFailed as e:
        _err(str(e))
        return EXIT_FINDING
    except OutputUnwritable as e:
        _err(f"{e}: the run stopped; every finished job in {out / 'jobs'} is kept -- free space (or mend the "
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
    from parity.report import tables

    try:
        table = tables.write_report(out, suite.name)
    except OSError as e:
        _err(f"cannot write the tables in {out}: {e.strerror or e}; every job result is kept -- free space and "
             f"run: parity report {out}")
        return EXIT_UNWRITABLE
    print(_json(tables.to_json(table)) if args.json else tables.terminal(table))
    failed = len(tables.failed_jobs(table))
    missing = sorted({fw for r in table["rows"] for fw in r.get("not_installed", [])})
    for fw in missing:
        _err(f"{fw} is not installed or fails to import: its column is marked 'not installed'")
    if had is not None:
        _say("--seeds auto: seeds per row: " + "; ".join(f"{'/'.join(k)} {n}" for k, n in sorted(had.items())))
    print(f"\n{summary['ran']} job(s) run in {time.perf_counter() - t0:.0f}s "
          f"({summary['threads']} thread(s) per framework); {failed} failed. "
          f"Tables: {out}/parity.md, parity.csv, parity.json", file=sys.stderr if args.json else sys.stdout)
    if failed:   # a run with failed jobs never passes for a result (scripts and CI read the code)
        _err(f"{failed} job(s) failed (their reasons: Problems in {out}/parity.md): exit 1")
        return EXIT_FINDING
    return EXIT_OK


def cmd_report(args) -> int:
    from parity.report import tables

    out = Path(args.dir)
    reference = _reference(args.reference)
    if not (out / "jobs").is_dir():
        raise UsageError(f"report: {out} has no jobs/ folder of results")
    jobs, problems = tables.load_jobs(out)
    if not jobs:
        raise UsageError(f"report: no readable job results in {out / 'jobs'}"
                         + (f" ({problems[0]})" if problems else ""))
    from parity.report import screenshot

    if args.screenshot and not screenshot.browser():
        raise UsageError("report --screenshot: no Chromium found (install chromium, or leave out --screenshot)")
    shot = out / "report.png"
    had_screenshot = shot.exists()
    table = tables.write_report(out, reference=reference)
    print(tables.terminal(table))
    for p in problems:
        _err(f"skipped unreadable result: {p}")
    # a picture of the old page was deleted by write_report: retake it (an unchanged page keeps its picture)
    if args.screenshot or (args.screenshot is None and had_screenshot and not shot.exists()):
        why_not = screenshot.take(out / "report.html", shot)
        if why_not:
            _err(f"report.png: {why_not}")
            return EXIT_UNWRITABLE if args.screenshot else EXIT_OK
        _err(f"wrote {shot} (a picture of report.html's top)")
    return EXIT_OK


def cmd_compare(args) -> int:
    from parity.report import compare, gate_text
    from parity.results import ResultError, write_text_atomic

    for name in ("acc_threshold", "loss_threshold"):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            raise UsageError(f"--{name.replace('_', '-')}: {getattr(args, name)} is not allowed -- a finite number > 0")
    reference = _reference(args.reference)
    try:   # the inputs first (a few seconds): a refused comparison leaves no --md folder behind
        result = compare.compare_dirs(args.baseline, args.current, args.acc_threshold, args.loss_threshold, reference)
    except ResultError as e:
        raise UsageError(f"compare: {e}") from None
    md = _output_file(args.md, "--md") if args.md else None
    text = gate_text.markdown(result)
    print(_json(result) if args.json else text)
    if md:
        try:
            write_text_atomic(md, text)
        except OSError as e:
            raise UsageError(f"--md: {md} could not be written ({e.strerror or e})") from None
    print(gate_text.summary_line(result), file=sys.stderr)
    return EXIT_OK if gate_text.is_clean(result) else EXIT_FINDING


def cmd_bench(args) -> int:
    from parity.bench import driver

    names = _parse_frameworks(args.frameworks) or list(frameworks.DEFAULT_NAMES)
    problems = [f"--{name.replace('_', '-')}: {getattr(args, name)} is not allowed -- an integer >= 1"
                for name in ("rounds", "steps", "batch_size", "threads")
                if getattr(args, name) is not None and getattr(args, name) < 1]
    if args.warmup < 0:
        problems.append(f"--warmup: {args.warmup} is not allowed -- an integer >= 0")
    modes = None if args.modes is None else [m.strip() for m in args.modes.split(",") if m.strip()]
    problems += driver.check_settings(names, arch=args.arch, image_size=args.image_size,
                                        batch_size=args.batch_size, modes=modes)
    if problems:   # every problem at once, before any worker starts
        raise UsageError("\n".join(problems))
    _output_folder(args.out, "--out")   # before measuring: the figures must have somewhere to go
    try:
        data = driver.run_throughput(names, threads=args.threads, rounds=args.rounds, warmup=args.warmup,
                                       steps=args.steps,
                                       batch_size=args.batch_size, image_size=args.image_size, arch=args.arch,
                                       modes=modes, loader=not args.skip_loader, overhead=not args.skip_overhead,
                                       log=lambda m: print(m, file=sys.stderr, flush=True))
    except driver.BenchError as e:
        raise UsageError(str(e)) from None
    driver.write(data, args.out)
    print(_json(data) if args.json else driver.markdown(data))
    for fw in data["settings"].get("not_installed", {}):
        _err(f"{fw} is not installed or fails to import: not measured")
    for fw, gpu_modes in data["settings"].get("needs_gpu", {}).items():
        _err(f"{fw} {', '.join(gpu_modes)}: needs a GPU {fw} does not see here: not measured")
    print(f"written: {args.out}/throughput.json, throughput.md", file=sys.stderr)
    return EXIT_OK


def cmd_upgrade_check(args) -> int:
    from parity import upgrade
    from parity.bench import sidebyside

    names = _parse_frameworks(args.frameworks, here=False) or list(frameworks.DEFAULT_NAMES)
    problems = [f"--{n.replace('_', '-')}: {getattr(args, n)} is not allowed -- a number > 0"
                for n in ("threshold", "acc_threshold", "loss_threshold")
                if not (math.isfinite(getattr(args, n)) and getattr(args, n) > 0)]
    if args.seeds is not None and args.seeds < 1:
        problems.append(f"--seeds: {args.seeds} is not allowed -- an integer >= 1")
    if not 8 <= args.pairs <= args.max_pairs:
        problems.append(f"--pairs {args.pairs} / --max-pairs {args.max_pairs}: need 8 <= pairs <= max-pairs "
                        "(the signed-rank test cannot call a change at p < 0.01 with fewer than 8 pairs)")
    modes = None
    if args.bench_modes:
        from parity.bench import driver

        wanted = [m.strip() for m in args.bench_modes.split(",") if m.strip()]
        problems += driver.check_settings(names, arch="resnet-tiny", image_size=32, batch_size=32,
                                            modes=wanted)
        modes = {fw: [m for m in wanted if m in driver.known_modes(fw)] for fw in names}
    if problems:
        raise UsageError("\n".join(problems))
    try:   # the environments first: a refused check leaves no --out folder behind
        upgrade.check_environments(args.base_env, args.new_env, Path(args.out), names)
    except sidebyside.EnvError as e:
        raise UsageError(f"upgrade-check: {e}") from None
    out = _output_folder(args.out, "--out")
    try:
        result, code = upgrade.run_upgrade_check(
            args.base_env, args.new_env, out, frameworks=names, seeds=args.seeds, scenarios=args.scenarios,
            throughput=not args.skip_throughput, bench_modes=modes, threshold=args.threshold / 100,
            min_pairs=args.pairs, max_pairs=args.max_pairs, acc_threshold=args.acc_threshold,
            loss_threshold=args.loss_threshold, log=lambda m: print(m, file=sys.stderr, flush=True))
    except upgrade.ChildCrashed as e:   # a bug in parity itself, in one environment: not bad input
        _err(f"upgrade-check: {e}")
        return EXIT_INTERNAL
    except upgrade.ChildUnwritable as e:   # a full disk in a child: its finished jobs are kept
        _err(f"upgrade-check: {e}")
        return EXIT_UNWRITABLE
    except (sidebyside.EnvError, upgrade.UpgradeError) as e:
        raise UsageError(f"upgrade-check: {e}") from None
    report_dir = out / f"{result['labels']['base']}-vs-{result['labels']['new']}"
    print(upgrade.markdown(result))
    print(f"upgrade-check: {'no regression' if code == 0 else 'REGRESSION'}; report: {report_dir}/upgrade.md, "
          "upgrade.json, upgrade.html", file=sys.stderr)
    return code


def cmd_audit(args) -> int:
    from parity import audit
    from parity.results import write_json_atomic

    names = _parse_frameworks(args.frameworks)
    if args.check and args.out:
        raise UsageError("audit: give --check FILE (compare) or --out FILE (write), not both")
    kept = _first_existing(Path(args.out).parent) if args.out else None
    out = _output_file(args.out, "--out") if args.out else None
    try:
        snapshot = audit.load_snapshot(args.check) if args.check else None
        live = audit.collect(names)
    except audit.AuditError as e:
        if out:   # refused: leave no folder behind that this command made
            _remove_made_folders(out.parent, kept)
        raise UsageError(str(e)) from None
    if args.json:
        print(json.dumps(live, indent=1))
    else:
        print(audit.table(live))
    if snapshot is not None:
        changes = audit.drift(snapshot, live)
        for line in changes:
            print(f"drift: {line}", file=sys.stderr)
        if changes:
            return EXIT_FINDING
        print(f"no drift against {args.check}", file=sys.stderr)
        return EXIT_OK
    if out:
        write_json_atomic(out, live)
        print(f"snapshot written to {out}", file=sys.stderr)
    return EXIT_OK


def cmd_pretrain(args) -> int:
    from parity import process

    out = _output_file(args.out, "--out")
    done = process.run("parity.assets.pretrain", out, args.threads or (os.cpu_count() or 1), capture=False)
    return EXIT_OK if done.returncode == 0 else EXIT_FINDING


def cmd_convert(args) -> int:
    from parity.assets import imagenet
    from parity.assets.canonical import CheckpointError, load_checkpoint

    if args.arch not in imagenet.CONVERTIBLE:
        raise UsageError(f"convert: {args.arch!r} is not allowed -- one of {', '.join(imagenet.CONVERTIBLE)}")
    src = Path(args.file)
    if not src.is_file():
        raise UsageError(f"convert: {src} does not exist or is not a file")
    out = _output_file(args.out or WORK_DIR / f"{args.arch}-{src.stem}.safetensors", "--out")
    try:
        imagenet.convert(args.arch, src, out, origin=f"file:{src.name}")
        _, _, digest = load_checkpoint(out)
    except CheckpointError as e:
        raise UsageError(f"convert: {e}") from None
    print(f"{out}: canonical checkpoint of {args.arch}, checksum {digest}; use it with "
          f"model = \"{args.arch}\" and pretrained = \"{out}\"")
    return EXIT_OK


def _seeds_option(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not allowed -- an integer or auto") from None


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("bn-parity")
    except importlib.metadata.PackageNotFoundError:   # run from a checkout without installing
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="parity", description="BatchNorm parity between Keras 3 and PyTorch fine-tuning.")
    p.add_argument("--version", action="version", version=f"bn-parity {_version()}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    sub.add_parser("list", help="scenarios and suites, with the claim each tests").set_defaults(fn=cmd_list)
    _add_run(sub)
    _add_report(sub)
    _add_compare(sub)
    _add_bench(sub)
    _add_upgrade_check(sub)
    _add_audit(sub)
    _add_convert(sub)
    _add_pretrain(sub)
    return p


def _add_run(sub) -> None:
    """`parity run`'s options."""
    r = sub.add_parser("run", help="run a suite or a config file")
    r.add_argument("--suite")
    r.add_argument("--config")
    r.add_argument("--scenarios", help="comma-separated: run only these scenarios of the suite")
    r.add_argument("--out")
    r.add_argument("--seeds", type=_seeds_option, metavar="N|auto",
                   help="run seeds 0..N-1; auto: the suite's seeds, then 2 more at a time for each row whose "
                        "verdict is still inconclusive, up to --max-seeds")
    r.add_argument("--max-seeds", type=int, default=10, help="with --seeds auto: seeds a row gets at most "
                                                              "(default %(default)s)")
    r.add_argument("--frameworks", help=f"comma-separated: {','.join(frameworks.NAMES)}")
    r.add_argument("--precision", choices=PRECISIONS, help="every run in this precision")
    r.add_argument("--resume", action="store_true", help="keep finished jobs in --out, run the rest")
    r.add_argument("--threads", type=int, help="threads per framework worker (default: cores / frameworks)")
    r.add_argument("--job-timeout", type=float, default=1800.0, help="seconds before a job is failed")
    r.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local worker processes (default) or one Ray task per job")
    r.add_argument("--address", help="with --executor ray: auto or HOST:PORT of a running cluster")
    r.add_argument("--json", action="store_true", help="print the table as JSON (parity.json's content)")
    r.set_defaults(fn=cmd_run)


def _add_report(sub) -> None:
    """`parity report`'s options."""
    rep = sub.add_parser("report", help="rebuild tables from DIR/jobs/")
    rep.add_argument("dir")
    rep.add_argument("--reference", default=frameworks.REFERENCE, metavar="NAME",
                     help=f"the framework every gap is taken against (default %(default)s; "
                          f"{', '.join(frameworks.NAMES)})")
    rep.add_argument("--screenshot", action=argparse.BooleanOptionalAction, default=None,
                     help="take report.png, a picture of report.html's top, with headless Chromium (default: "
                          "retake one only where the page changed; a picture of an older page is always deleted)")
    rep.set_defaults(fn=cmd_report)


def _add_compare(sub) -> None:
    """`parity compare`'s options."""
    from parity.report import compare

    c = sub.add_parser("compare", help="regression gate between two result folders (exit 1 on regression)")
    c.add_argument("baseline")
    c.add_argument("current")
    c.add_argument("--md", metavar="FILE", help="also write the markdown summary here")
    c.add_argument("--json", action="store_true", help="print the comparison as JSON instead of markdown")
    c.add_argument("--acc-threshold", type=float, default=compare.ACC_THRESHOLD_PP, metavar="PP",
                   help="smallest accuracy change that counts, in percentage points (default %(default)s)")
    c.add_argument("--loss-threshold", type=float, default=compare.LOSS_THRESHOLD, metavar="X",
                   help="smallest eval-loss change that counts (default %(default)s)")
    c.add_argument("--reference", default=frameworks.REFERENCE, metavar="NAME",
                   help="the framework each gap the gate compares is taken against (default %(default)s)")
    c.set_defaults(fn=cmd_compare)


def _add_bench(sub) -> None:
    """`parity bench`'s options."""
    from parity.bench import driver
    from parity.spec.archs import ARCHS

    b = sub.add_parser("bench", help="throughput per framework and mode, and the harness overhead")
    b.add_argument("--out", default=str(WORK_DIR / "throughput"), help="default: %(default)s")
    b.add_argument("--frameworks", help=f"comma-separated: {','.join(frameworks.NAMES)}")
    b.add_argument("--threads", type=int, help="threads for each framework (default: all cores)")
    b.add_argument("--rounds", type=int, default=5)
    b.add_argument("--warmup", type=int, default=2, help="untimed rounds first (torch.compile wants more)")
    b.add_argument("--steps", type=int, default=10, help="steps per timed round")
    b.add_argument("--batch-size", type=int, default=32)
    b.add_argument("--arch", default="resnet-tiny", help=f"model: {', '.join(ARCHS)}")
    b.add_argument("--image-size", type=int, default=32,
                   help=f"square input size in pixels, at most {driver.MAX_IMAGE_SIZE} (default 32)")
    b.add_argument("--modes", help="comma-separated: only these modes, each framework running the ones it has; "
                                   + "; ".join(driver.mode_list(fw) for fw in driver.MODES))
    b.add_argument("--skip-loader", action="store_true", help="leave out the row with batches through the loader")
    b.add_argument("--skip-overhead", action="store_true", help="leave out the harness overhead measurement")
    b.add_argument("--json", action="store_true", help="print the measurements as JSON (throughput.json's content)")
    b.set_defaults(fn=cmd_bench)


def _add_upgrade_check(sub) -> None:
    """`parity upgrade-check`'s options."""
    from parity.report import compare

    u = sub.add_parser("upgrade-check", help="two environments: audit, upgrade suite, throughput side by side; "
                                              "exit 1 on a regression or changed default")
    u.add_argument("base_env", help="[LABEL=]PATH: the environment upgraded from (a venv folder or its python)")
    u.add_argument("new_env", help="[LABEL=]PATH: the environment upgraded to")
    u.add_argument("--out", default=str(WORK_DIR / "upgrades"),
                   help="one folder per environment label, and the report (default: %(default)s)")
    u.add_argument("--frameworks", help=f"comma-separated: {','.join(frameworks.NAMES)}")
    u.add_argument("--seeds", type=int, help="run seeds 0..N-1 of the upgrade suite (default: its 3)")
    u.add_argument("--scenarios", help="comma-separated: only these scenarios of the upgrade suite")
    u.add_argument("--skip-throughput", action="store_true", help="leave out the side-by-side throughput")
    u.add_argument("--bench-modes", help="throughput modes to compare (default: each framework's default mode)")
    u.add_argument("--threshold", type=float, default=5.0, metavar="PCT",
                   help="throughput change that counts, in percent (default %(default)s)")
    u.add_argument("--pairs", type=int, default=8, help="interleaved pairs at least (default %(default)s)")
    u.add_argument("--max-pairs", type=int, default=12, help="pairs at most, while a row is unknown (default %(default)s)")
    u.add_argument("--acc-threshold", type=float, default=compare.ACC_THRESHOLD_PP, metavar="PP")
    u.add_argument("--loss-threshold", type=float, default=compare.LOSS_THRESHOLD, metavar="X")
    u.set_defaults(fn=cmd_upgrade_check)


def _add_audit(sub) -> None:
    """`parity audit`'s options."""
    aud = sub.add_parser("audit", help="every framework's defaults, side by side; --check exits 1 on drift")
    aud.add_argument("--json", action="store_true", help="print JSON instead of the table")
    aud.add_argument("--check", metavar="FILE", help="compare with a snapshot instead of writing one")
    aud.add_argument("--out", metavar="FILE", help="write the snapshot there (results/defaults.json is the published one)")
    aud.add_argument("--frameworks", help=f"comma-separated: read only these columns (tf and torch always; "
                                          f"default: every installed one of {','.join(frameworks.NAMES)})")
    aud.set_defaults(fn=cmd_audit)


def _add_convert(sub) -> None:
    """`parity convert`'s options."""
    conv = sub.add_parser("convert", help="a torch checkpoint (.pth) of a supported architecture -> a canonical "
                                           "checkpoint both frameworks start from")
    conv.add_argument("arch", help="resnet18, resnet50 (torchvision's keys) or efficientnet-lite0 "
                                   "(EfficientNet-PyTorch's keys)")
    conv.add_argument("file", help="the .pth state dict")
    conv.add_argument("--out", metavar="FILE", help="default: runs/ARCH-FILESTEM.safetensors")
    conv.set_defaults(fn=cmd_convert)


def _add_pretrain(sub) -> None:
    """`parity pretrain`'s options."""
    pre = sub.add_parser("pretrain", help="train the source-domain checkpoint")
    pre.add_argument("--out", default=str(WORK_DIR / "resnet-tiny_source.safetensors"),
                     help="default: %(default)s (the package's own checkpoint only when named: --out "
                          "parity/assets/checkpoints/resnet-tiny_source.safetensors)")
    pre.add_argument("--threads", type=int)
    pre.set_defaults(fn=cmd_pretrain)


def main(argv: list[str] | None = None) -> int:
    def on_term(signum, frame):
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):   # as Ctrl-C: finished jobs kept, one line, exit 130
        signal.signal(signum, on_term)
    frameworks.set_process_env()   # tfds (dataset preparation) imports TensorFlow in this process
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "fn", None):
            raise UsageError("parity: give a command: list, run, report, compare, bench, upgrade-check, audit or "
                             "pretrain (see --help)")
        return args.fn(args)
    except UsageError as e:
        for line in str(e).splitlines():
            _say(line if line.startswith(("parity:", "parity ")) else f"parity: {line}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        _err("interrupted: finished jobs are kept; rerun with --resume to finish the suite")
        return EXIT_INTERRUPTED
    except BrokenPipeError:   # the reader went away (`parity list | head`): nothing more to say, no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # Python's exit flush must not fail too
        return EXIT_PIPE_CLOSED
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            return _internal_error(sys.argv[1:] if argv is None else argv)
        _err(f"no space left on device writing {e.filename or 'the output'}: free space and run the command again")
        return EXIT_UNWRITABLE
    except Exception:
        return _internal_error(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
