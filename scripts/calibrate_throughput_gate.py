"""Calibrate the side-by-side throughput gate on this machine (a benchmark, not a test).

A/A: one environment against itself, N times: every "slower"/"faster" is a false alarm.
Planted: the same environment with PARITY_BENCH_SLOWDOWN=F in B (every timed round F
more work: the worker computes for F of the round's CPU time after it): every "slower" is a catch.
--method duet measures A and B at once, one core each, glibc's malloc fixed in both
(parity.bench.sidebyside). Writes JSON and markdown to --out.

    .venv/bin/python scripts/calibrate_throughput_gate.py --aa 10 --slowdown 0.15:10 --slowdown 0.05:5
    .venv/bin/python scripts/calibrate_throughput_gate.py --method duet --per-start 3 --aa 10 --slowdown 0.05:10
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from parity.bench.sidebyside import (MEASURES, METHODS, THRESHOLDS, PythonEnv,  # noqa: E402
                                     compare_environments, harness_overhead_duet, judge)
from parity.bench.timing import SLOWDOWN_VAR  # noqa: E402
from parity.results import environment, write_json_atomic, write_text_atomic  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--python", default=sys.executable, help="the environment's interpreter")
    p.add_argument("--frameworks", default="torch")
    p.add_argument("--aa", type=int, default=10, help="A/A comparisons")
    p.add_argument("--slowdown", action="append", default=[], metavar="FRACTION:COUNT",
                   help="planted slowdown comparisons, e.g. 0.15:10 (repeatable)")
    p.add_argument("--method", choices=METHODS, default="sequential")
    p.add_argument("--per-start", type=int, default=1, help="duet: pairs per worker start (default 1: fresh workers)")
    p.add_argument("--measure", choices=("wall", "cpu"), default="wall", help="--resample: the measure replayed")
    p.add_argument("--threshold", type=float,
                   help="the gate's practical threshold (0.05: 5%%; default: the method's, sidebyside.THRESHOLDS)")
    p.add_argument("--append", action="store_true", help="add to the runs already in OUT/calibration.json")
    p.add_argument("--out", default="results/throughput-gate")
    p.add_argument("--overhead", type=int, default=0, metavar="N",
                   help="instead: the harness overhead as a duet, N times per framework (OUT/overhead.json, .md)")
    p.add_argument("--resample", action="store_true",
                   help="no measuring: replay the A/A pairs of OUT/calibration.json with planted slowdowns")
    args = p.parse_args()
    args.threshold = THRESHOLDS[args.method] if args.threshold is None else args.threshold
    if args.resample:
        print(resample(Path(args.out) / "calibration.json", measure=args.measure, threshold=args.threshold))
        return 0
    frameworks = args.frameworks.split(",")
    if args.overhead:
        return overhead(PythonEnv("env", args.python), frameworks, args.overhead, args.per_start, Path(args.out))
    groups = [[("A/A", 0.0)] * args.aa]
    for item in args.slowdown:
        fraction, count = item.split(":")
        groups.append([(f"slowdown {float(fraction):.0%}", float(fraction))] * int(count))
    # round-robin over the groups (A/A, slowdown, A/A, ...): stopped early, the tallies stay balanced
    plan = [g[i] for i in range(max(map(len, groups))) for g in groups if i < len(g)]
    a = PythonEnv("A", args.python)
    out = Path(args.out)
    runs = json.loads((out / "calibration.json").read_text())["runs"] if args.append else []
    for i, (name, fraction) in enumerate(plan):
        b = PythonEnv("B", args.python, {SLOWDOWN_VAR: str(fraction)} if fraction else {})
        t0 = time.time()
        data = compare_environments(a, b, frameworks, method=args.method, per_start=args.per_start,
                                    threshold=args.threshold,
                                    log=lambda m: print(m, file=sys.stderr, flush=True))
        runs.append({"case": name, "fraction": fraction, "seconds": round(time.time() - t0, 1),
                     "method": args.method, "per_start": args.per_start, "threshold": args.threshold,
                     "malloc": data["settings"].get("malloc"),
                     "rows": [{k: r.get(k) for k in ("key", "verdict", "measure", "ratio", "ci_low", "ci_high", "p_value",
                                                     "n", "a", "b", "measures")} for r in data["rows"]]})
        print(f"[{i + 1}/{len(plan)}] {name}: " + "; ".join(f"{r['key']} {r['verdict']} ({r['ratio']:.3f}, "
                                                            f"{r['n']} pairs)" for r in data["rows"]), flush=True)
        write_json_atomic(out / "calibration.json", {"env": environment(), "runs": runs})
    write_text_atomic(out / "calibration.md", markdown(runs))
    return 0


def overhead(env: PythonEnv, frameworks: list[str], times: int, per_start: int, out: Path) -> int:
    """The harness overhead duet, ``times`` per framework, round-robin: every row and a table of them."""
    rows = []
    for i in range(times):
        for fw in frameworks:
            row = harness_overhead_duet(env, fw, per_start=per_start, log=lambda m: print(m, file=sys.stderr, flush=True))
            rows.append(row)
            print(f"[{i + 1}/{times}] {fw}: overhead {row['overhead_pct']:+.1f}% [{row['ci_pct'][0]:+.1f}, "
                  f"{row['ci_pct'][1]:+.1f}] ({row['measure']}, {row['pairs']} pairs): {row['goal']}", flush=True)
            write_json_atomic(out / "overhead.json", {"env": environment(), "rows": rows})
    lines = ["# Harness overhead as a duet: the suite's train loop against the minimal one", "",
             "Each row: the suite's loop in one worker, the minimal hand-written loop in another, at once, one core "
             f"and one thread each (swapped per start, {per_start} pairs a start), glibc's malloc fixed in both "
             "(timing.STEADY_MALLOC); suite / minimal time, 99% CI, "
             "the judged measure; goal +-2%: met when the whole CI is inside.", "",
             "| framework | overhead [99% CI] | measure | pairs | goal | s |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['framework']} | {r['overhead_pct']:+.1f}% [{r['ci_pct'][0]:+.1f}, {r['ci_pct'][1]:+.1f}] | "
              f"{r['measure']} | {r['pairs']} | {r['goal']} | {r['seconds']:.0f} |" for r in rows]
    write_text_atomic(out / "overhead.md", "\n".join(lines) + "\n")
    return 0


def resample(path: Path, runs: int = 100, measure: str = "wall", threshold: float = THRESHOLDS["sequential"]) -> str:
    """The smallest slowdown caught reliably, from this machine's measured A/A noise.

    Each simulated comparison draws its pairs' log ratios from the measured A/A pairs (per row,
    centred), shifts them by log(1 - slowdown), and runs the gate's own rule: looks at 8, 10, 12
    pairs, stops when no row is unknown; caught = any row "slower".
    """
    import numpy as np

    from parity.bench.sidebyside import MAX_PAIRS, MIN_PAIRS
    from parity.report.stats import paired_ratio

    data = json.loads(path.read_text())
    aa = [r for r in data["runs"] if r["case"] == "A/A"]
    def pairs(row: dict) -> tuple:   # the measure replayed (older files: their one measure, wall time)
        return (row["measures"][measure]["a"], row["measures"][measure]["b"]) if row.get("measures") else (row["a"], row["b"])

    pools = [np.concatenate([np.log(np.array(pairs(r["rows"][k])[1]) / np.array(pairs(r["rows"][k])[0])) for r in aa])
             for k in range(len(aa[0]["rows"]))]
    pools = [p - p.mean() for p in pools]
    rng = np.random.default_rng(0)
    lines = [f"Replaying {sum(len(p) for p in pools)} measured A/A pairs ({len(aa)} runs, {measure} time), {runs} "
             f"comparisons each, threshold {threshold:.0%}:",
             "", "| planted slowdown | gate fails (a row slower) | a row 'faster' |", "|---|---|---|"]
    for slowdown in (0.0, 0.03, 0.04, 0.05, 0.08, 0.10, 0.12, 0.15):
        caught = faster = 0
        for _ in range(runs):
            logs = [[] for _ in pools]
            n = 0
            while True:
                for k, pool in enumerate(pools):
                    logs[k].append(np.log(1 - slowdown) + rng.choice(pool))
                n += 1
                if n >= MIN_PAIRS and ((n - MIN_PAIRS) % 2 == 0 or n >= MAX_PAIRS):
                    v = [paired_ratio([1.0] * n, list(np.exp(x))).verdict(threshold) for x in logs]
                    if "unknown" not in v or n >= MAX_PAIRS:
                        break
            caught += "slower" in v
            faster += "faster" in v
        lines.append(f"| {slowdown:.0%} | {caught}/{runs} | {faster}/{runs} |")
    return "\n".join(lines) + "\n"


def markdown(runs: list[dict]) -> str:
    lines = ["# Side-by-side throughput gate: calibration on this machine", "",
             "Each run: one environment against itself (A/A), or against itself with a planted slowdown in B. "
             "Per row: verdict (ratio B/A, pairs; a duet's judged measure). Method: "
             + ", ".join(sorted({f"{r.get('method', 'sequential')}" + (f" ({r['per_start']} pairs a start)" if r.get("method") == "duet" else "")
                                 for r in runs})) + ".", "",
             "| case | rows: verdict (ratio, pairs) | s |", "|---|---|---|"]
    for r in runs:
        cells = "; ".join(f"{x['key']} {x['verdict']} ({x['ratio']:.3f}, {x['n']}"
                          + (f", {x['measure']}" if x.get("measure") else "") + ")" for x in r["rows"])
        lines.append(f"| {r['case']} | {cells} | {r['seconds']:.0f} |")
    lines += ["", "## Tally", "", "| case | runs | rows | slower | faster | same | unknown |", "|---|---|---|---|---|---|---|"]
    for case in dict.fromkeys(r["case"] for r in runs):
        rows = [x for r in runs if r["case"] == case for x in r["rows"]]
        count = lambda v: sum(1 for x in rows if x["verdict"] == v)  # noqa: E731
        lines.append(f"| {case} | {sum(1 for r in runs if r['case'] == case)} | {len(rows)} | {count('slower')} | "
                     f"{count('faster')} | {count('same')} | {count('unknown')} |")
    return "\n".join(lines + rejudged(runs) + start_effect(runs)) + "\n"


def start_effect(runs: list[dict]) -> list[str]:
    """Whether pairs from one worker start are less independent than pairs from fresh starts: per A/A row,
    one-way ANOVA of its pairs' log ratios grouped by start (scipy.stats.f_oneway). A start effect would
    make the gate's intervals too narrow (its pairs counted as independent); none, and several pairs a
    start cost nothing in false alarms."""
    import numpy as np
    from scipy.stats import f_oneway

    lines = []
    for r in runs:
        per_start = r.get("per_start", 1)
        if r["case"] != "A/A" or r.get("method") != "duet" or per_start < 2:
            continue
        for x in r["rows"]:
            logs = np.log(np.array(x["b"]) / np.array(x["a"]))
            groups = [logs[i:i + per_start] for i in range(0, len(logs) - per_start + 1, per_start)]
            within = float(np.mean([g.var(ddof=1) for g in groups]))
            between = float(np.var([g.mean() for g in groups], ddof=1) * per_start)
            lines.append(f"| {x['key']} | {x['measure']} | {len(groups)} x {per_start} | {between / within:.2f} | "
                         f"{f_oneway(*groups).pvalue:.2f} |")
    if not lines:
        return []
    return ["", "## Pairs from one worker start vs fresh starts (A/A)", "",
            "Per A/A row, the log ratios grouped by start: F = between-start / within-start variance "
            "(about 1 when pairs from one start are as independent as pairs from fresh starts; much above 1: a "
            "start effect, intervals too narrow), one-way ANOVA p.", "",
            "| row | measure | starts x pairs | F | p |", "|---|---|---|---|---|"] + lines


def rejudged(runs: list[dict], thresholds=(0.05, 0.04, 0.03)) -> list[str]:
    """The duet runs' recorded pairs judged at other thresholds, as the gate judges them (``judge``). Exact
    where every comparison ran to the same number of pairs (3 a start: one look, at 12); where the gate
    stopped early at the threshold it ran with, a lower one might have gone on."""
    duet = [r for r in runs if r.get("method") == "duet" and all(x.get("measures") for x in r["rows"])]
    if not duet:
        return []
    lines = ["", "## The same pairs at other thresholds", "",
             "| threshold | case | comparisons with a row slower | with a row faster | rows same | rows unknown |",
             "|---|---|---|---|---|---|"]
    for threshold in thresholds:
        for case in dict.fromkeys(r["case"] for r in duet):
            verdicts = [[judge({m: (v["a"], v["b"]) for m, v in x["measures"].items()}, threshold, MEASURES)["verdict"]
                         for x in r["rows"]] for r in duet if r["case"] == case]
            rows = [v for vs in verdicts for v in vs]
            lines.append(f"| {threshold:.0%} | {case} | {sum('slower' in vs for vs in verdicts)}/{len(verdicts)} | "
                         f"{sum('faster' in vs for vs in verdicts)}/{len(verdicts)} | {rows.count('same')}/{len(rows)} | "
                         f"{rows.count('unknown')}/{len(rows)} |")
    return lines


if __name__ == "__main__":
    sys.exit(main())
