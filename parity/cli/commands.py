"""The commands other than ``run``: list, report, compare, bench, upgrade-check, audit, pretrain, convert."""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from parity import frameworks
from parity.cli.common import (EXIT_FINDING, EXIT_INTERNAL, EXIT_OK, EXIT_UNWRITABLE, WORK_DIR, UsageError, err,
                               first_existing, output_file, output_folder, parse_frameworks, parse_reference,
                               remove_made_folders, to_json)


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


def cmd_report(args) -> int:
    from parity.report import aggregate, tables

    out = Path(args.dir)
    reference = parse_reference(args.reference)
    if not (out / "jobs").is_dir():
        raise UsageError(f"report: {out} has no jobs/ folder of results")
    jobs, problems = aggregate.load_jobs(out)
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
        err(f"skipped unreadable result: {p}")
    # a picture of the old page was deleted by write_report: retake it (an unchanged page keeps its picture)
    if args.screenshot or (args.screenshot is None and had_screenshot and not shot.exists()):
        why_not = screenshot.take(out / "report.html", shot)
        if why_not:
            err(f"report.png: {why_not}")
            return EXIT_UNWRITABLE if args.screenshot else EXIT_OK
        err(f"wrote {shot} (a picture of report.html's top)")
    return EXIT_OK


def cmd_compare(args) -> int:
    from parity.report import compare, gate_text
    from parity.results import ResultError, write_text_atomic

    for name in ("acc_threshold", "loss_threshold"):
        if not (math.isfinite(getattr(args, name)) and getattr(args, name) > 0):
            raise UsageError(f"--{name.replace('_', '-')}: {getattr(args, name)} is not allowed -- a finite number > 0")
    reference = parse_reference(args.reference)
    try:   # the inputs first (a few seconds): a refused comparison leaves no --md folder behind
        result = compare.compare_dirs(args.baseline, args.current, args.acc_threshold, args.loss_threshold, reference)
    except ResultError as e:
        raise UsageError(f"compare: {e}") from None
    md = output_file(args.md, "--md") if args.md else None
    text = gate_text.markdown(result)
    print(to_json(result) if args.json else text)
    if md:
        try:
            write_text_atomic(md, text)
        except OSError as e:
            raise UsageError(f"--md: {md} could not be written ({e.strerror or e})") from None
    print(gate_text.summary_line(result), file=sys.stderr)
    return EXIT_OK if gate_text.is_clean(result) else EXIT_FINDING


def cmd_bench(args) -> int:
    from parity.bench import driver, sidebyside

    names = parse_frameworks(args.frameworks) or list(frameworks.DEFAULT_NAMES)
    problems = [f"--{name.replace('_', '-')}: {getattr(args, name)} is not allowed -- an integer >= 1"
                for name in ("rounds", "steps", "batch_size", "threads")
                if getattr(args, name) is not None and getattr(args, name) < 1]
    if args.warmup < 0:
        problems.append(f"--warmup: {args.warmup} is not allowed -- an integer >= 0")
    modes = None if args.modes is None else [m.strip() for m in args.modes.split(",") if m.strip()]
    problems += driver.check_settings(names, arch=args.arch, image_size=args.image_size,
                                        batch_size=args.batch_size, modes=modes)
    if args.overhead_method == "duet" and not args.skip_overhead and not sidebyside.duet_cores():
        problems.append("--overhead-method duet: needs two cores this process may use (in-process does with one)")
    if problems:   # every problem at once, before any worker starts
        raise UsageError("\n".join(problems))
    output_folder(args.out, "--out")   # before measuring: the figures must have somewhere to go
    duet = args.overhead_method == "duet" or (args.overhead_method is None and sidebyside.duet_cores())
    try:
        data = driver.run_throughput(names, threads=args.threads, rounds=args.rounds, warmup=args.warmup,
                                       steps=args.steps,
                                       batch_size=args.batch_size, image_size=args.image_size, arch=args.arch,
                                       modes=modes, loader=not args.skip_loader, overhead=not args.skip_overhead,
                                       overhead_duet=sidebyside.overhead_duet_here if duet else None,
                                       log=lambda m: print(m, file=sys.stderr, flush=True))
    except driver.BenchError as e:
        raise UsageError(str(e)) from None
    driver.write(data, args.out)
    print(to_json(data) if args.json else driver.markdown(data))
    for fw in data["settings"].get("not_installed", {}):
        err(f"{fw} is not installed or fails to import: not measured")
    for fw, gpu_modes in data["settings"].get("needs_gpu", {}).items():
        err(f"{fw} {', '.join(gpu_modes)}: needs a GPU {fw} does not see here: not measured")
    print(f"written: {args.out}/throughput.json, throughput.md", file=sys.stderr)
    return EXIT_OK


def cmd_upgrade_check(args) -> int:
    from parity import upgrade
    from parity.bench import sidebyside

    names = parse_frameworks(args.frameworks, here=False) or list(frameworks.DEFAULT_NAMES)
    problems = [f"--{n.replace('_', '-')}: {getattr(args, n)} is not allowed -- a number > 0"
                for n in ("threshold", "acc_threshold", "loss_threshold")
                if getattr(args, n) is not None and not (math.isfinite(getattr(args, n)) and getattr(args, n) > 0)]
    if args.method == "duet" and not args.skip_throughput and not sidebyside.duet_cores():
        problems.append("--method duet: needs two cores this process may use (--method sequential does with one)")
    if args.seeds is not None and args.seeds < 1:
        problems.append(f"--seeds: {args.seeds} is not allowed -- an integer >= 1")
    if not sidebyside.MIN_PAIRS <= args.pairs <= args.max_pairs:
        problems.append(f"--pairs {args.pairs} / --max-pairs {args.max_pairs}: need {sidebyside.MIN_PAIRS} <= pairs "
                        "<= max-pairs (the signed-rank test cannot call a change at p < 0.01 with fewer than 8 pairs)")
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
    out = output_folder(args.out, "--out")
    try:
        result, code = upgrade.run_upgrade_check(
            args.base_env, args.new_env, out, frameworks=names, seeds=args.seeds, scenarios=args.scenarios,
            throughput=not args.skip_throughput, bench_modes=modes, method=args.method,
            threshold=None if args.threshold is None else args.threshold / 100,
            min_pairs=args.pairs, max_pairs=args.max_pairs, acc_threshold=args.acc_threshold,
            loss_threshold=args.loss_threshold, log=lambda m: print(m, file=sys.stderr, flush=True))
    except upgrade.ChildCrashed as e:   # a bug in parity itself, in one environment: not bad input
        err(f"upgrade-check: {e}")
        return EXIT_INTERNAL
    except upgrade.ChildUnwritable as e:   # a full disk in a child: its finished jobs are kept
        err(f"upgrade-check: {e}")
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

    names = parse_frameworks(args.frameworks)
    if args.check and args.out:
        raise UsageError("audit: give --check FILE (compare) or --out FILE (write), not both")
    kept = first_existing(Path(args.out).parent) if args.out else None
    out = output_file(args.out, "--out") if args.out else None
    try:
        snapshot = audit.load_snapshot(args.check) if args.check else None
        live = audit.collect(names)
    except audit.AuditError as e:
        if out:   # refused: leave no folder behind that this command made
            remove_made_folders(out.parent, kept)
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

    out = output_file(args.out, "--out")
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
    out = output_file(args.out or WORK_DIR / f"{args.arch}-{src.stem}.safetensors", "--out")
    try:
        imagenet.convert(args.arch, src, out, origin=f"file:{src.name}")
        _, _, digest = load_checkpoint(out)
    except CheckpointError as e:
        raise UsageError(f"convert: {e}") from None
    print(f"{out}: canonical checkpoint of {args.arch}, checksum {digest}; use it with "
          f"model = \"{args.arch}\" and pretrained = \"{out}\"")
    return EXIT_OK
