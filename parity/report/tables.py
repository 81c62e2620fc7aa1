"""Aggregate job files into the parity table: parity.md, parity.csv, parity.json and the terminal.

Rows are (scenario, dataset, variant, metric). A row compares TF and torch
only where every seed saw the same data and started from the same weights
(fingerprints and checksums recorded by each job); otherwise the row says why
it refuses. Failed jobs are listed and never counted as results.
"""
from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from pathlib import Path

from parity.report import stats
from parity.results import ResultError, read_job, read_json, write_json_atomic, write_text_atomic
from parity.spec.config import run_from_dict
from parity.spec.knobs import UPDATE_RULES, unmatched_rules
from parity.spec.scenarios import NOT_PARITY_SCENARIOS, claim_of

METRICS = ("eval_acc", "train_acc", "eval_loss")
TABLE_SCHEMA = 1


def load_jobs(out_dir: str | Path) -> tuple[list[dict], list[str]]:
    """Every readable job file in DIR/jobs, and one line per unreadable one."""
    jobs, problems = [], []
    for path in sorted(Path(out_dir, "jobs").glob("*.json")):
        try:
            jobs.append(read_job(path))
        except ResultError as e:
            problems.append(str(e))
    return jobs, problems


def _mismatch(tf_jobs: dict, torch_jobs: dict) -> str | None:
    for seed in sorted(set(tf_jobs) & set(torch_jobs)):
        a, b = tf_jobs[seed], torch_jobs[seed]
        for key, what in (("data_fingerprint", "data fingerprints"), ("init_checksum", "starting weights")):
            if a.get(key) != b.get(key):
                return f"{what} differ for seed {seed} (tf {a.get(key)} vs torch {b.get(key)}): not compared"
    return None


def _non_finite(job: dict) -> list[str]:
    """'metric=value' for each final metric that is a number but not a finite one."""
    final = job.get("final") or {}
    return [f"{m}={final[m]}" for m in METRICS
            if isinstance(final.get(m), (int, float)) and not math.isfinite(final[m])]


def failed_jobs(table: dict) -> list[str]:
    """Every job of the table that gave no result (failed, or finished with non-finite metrics), once each."""
    return [f for r in table["rows"] if r["metric"] == METRICS[0] for f in r["failed_jobs"]]


def _unmatched(jobs: list[dict]) -> list[str]:
    """The update rules the row's jobs ran with that differ between the frameworks (from each job's config,
    so files written before jobs recorded it are labelled too)."""
    out: set[str] = set()
    for job in jobs:
        try:
            out.update(job["unmatched"] if "unmatched" in job else unmatched_rules(run_from_dict(job["config"])))
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(out)


def build_rows(jobs: list[dict]) -> list[dict]:
    groups: dict[tuple, dict[str, dict[int, dict]]] = defaultdict(lambda: {"tf": {}, "torch": {}})
    failed: dict[tuple, list[str]] = defaultdict(list)
    order: list[tuple] = []
    for job in jobs:
        key = (job["scenario"], job["dataset"], job["variant"])
        if key not in groups:
            order.append(key)
        side = groups[key]
        broken = _non_finite(job) if job["status"] == "ok" else []
        if broken:   # an ok job whose metrics are NaN/inf is no result: listed as failed, never dropped silently
            failed[key].append(f"{job['framework']} seed {job['seed']}: finished with non-finite {', '.join(broken)}")
        elif job["status"] == "ok":
            side.setdefault(job["framework"], {})[job["seed"]] = job
        else:
            failed[key].append(f"{job['framework']} seed {job['seed']}: {job.get('error')}")
    rows = []
    for key in order:
        scenario, dataset, variant = key
        sides = groups[key]
        tf_jobs, torch_jobs = sides.get("tf", {}), sides.get("torch", {})
        note = _mismatch(tf_jobs, torch_jobs)
        unmatched = _unmatched([*tf_jobs.values(), *torch_jobs.values()])
        missing = sorted({f.split(" ", 1)[0] for f in failed.get(key, []) if "not installed" in f})
        if missing:
            note = f"{' and '.join(missing)} not installed: {'its' if len(missing) == 1 else 'their'} jobs did not run"
        # the frameworks that have a job here, finished or failed
        ran = {fw for fw in ("tf", "torch") if sides.get(fw)} | {f.split(" ", 1)[0] for f in failed.get(key, [])}
        for metric in METRICS:
            tf_vals = {s: j["final"].get(metric) for s, j in tf_jobs.items()}
            torch_vals = {s: j["final"].get(metric) for s, j in torch_jobs.items()}
            bounds, gap_bounds = ((0.0, 100.0), (-100.0, 100.0)) if metric.endswith("_acc") else (None, None)
            tf_sum = stats.summarize(list(tf_vals.values()), bounds)
            torch_sum = stats.summarize(list(torch_vals.values()), bounds)
            g = None if note else stats.gap(tf_vals, torch_vals, gap_bounds)
            if len(ran) == 1 and not note:   # the other framework was not asked for (--frameworks)
                verdict = f"{next(iter(ran))} only"
            elif note or g is None:
                verdict = "failed"
            else:
                tol = stats.PARITY_TOLERANCE_PP if metric.endswith("_acc") else 0.05
                verdict = stats.verdict(g, tol)
            rows.append({
                "scenario": scenario, "dataset": dataset, "variant": variant, "metric": metric,
                "tf": tf_sum.to_dict() if tf_sum else None,
                "torch": torch_sum.to_dict() if torch_sum else None,
                "gap": {k: v for k, v in g.to_dict().items() if k != "n"} if g else None,
                "verdict": verdict,
                "failed_jobs": failed.get(key, []),
                "note": note or ("" if (tf_sum and torch_sum) or verdict.endswith(" only")
                                 else "one framework has no successful job"),
                "not_installed": missing,
                "unmatched": unmatched,
            })
    return rows


def _n(row) -> str:
    return f"{(row['tf'] or {}).get('n', 0)}/{(row['torch'] or {}).get('n', 0)}"


def markdown(table: dict, figures: list | None = None, out_dir: Path | None = None) -> str:
    rows = table["rows"]
    env = table.get("env", {})
    out = [f"# bn-parity: {table['suite']} suite", ""]
    out.append("Eval accuracy (%) after fine-tuning: mean [95% CI] over seeds; gap = TF − torch in "
               "percentage points with its paired 95% CI.")
    out.append("")
    for metric, title, digits in (("eval_acc", "Eval accuracy (%)", 1), ("train_acc", "Train accuracy (%)", 1),
                                  ("eval_loss", "Eval loss", 3)):
        sel = [r for r in rows if r["metric"] == metric and r["scenario"] not in NOT_PARITY_SCENARIOS]
        if sel:
            out += [f"## {title}", ""] + _table(sel, digits)
    zoo = [r for r in rows if r["metric"] == "eval_acc" and r["scenario"] in NOT_PARITY_SCENARIOS]
    if zoo:
        out += ["## Native model zoos: eval accuracy (%)", "",
                "keras.applications' ResNet50 and torchvision's resnet50, each with its own weights and "
                "preprocessing. The networks differ (v1 vs v1.5, conv biases, BN epsilon 1.001e-5 vs 1e-5, "
                "different training recipes), so a gap here is what a user of each zoo gets, not a framework "
                "difference; the parity tables above start both frameworks from the same weights.", ""]
        out += _table(zoo, 1)
    out += _problems_and_notes(table, rows, figures, out_dir, env)
    return "\n".join(out) + "\n"


def _table(sel: list[dict], digits: int) -> list[str]:
    out = ["| scenario | dataset | variant | TF | torch | gap (TF − torch) | n tf/torch | verdict |",
           "|---|---|---|---|---|---|---|---|"]
    for r in sel:
        verdict = f"**{stats.verdict_text(r)}**" if r["verdict"] == "gap" else stats.verdict_text(r)
        tf_cell = "not installed" if "tf" in r.get("not_installed", []) else stats.cell(r["tf"], digits)
        torch_cell = "not installed" if "torch" in r.get("not_installed", []) else stats.cell(r["torch"], digits)
        out.append(f"| {r['scenario']} | {r['dataset']} | {r['variant']} | {tf_cell} | "
                   f"{torch_cell} | {stats.cell(r['gap'], digits, sign=True)} | {_n(r)} | {verdict} |")
    return out + [""]


def _problems_and_notes(table: dict, rows: list[dict], figures, out_dir, env: dict) -> list[str]:
    out = []
    notes = [(r, r["note"]) for r in rows if r["metric"] == "eval_acc" and r["note"]]
    notes += [(r, "update rules differ between the frameworks, so this row compares two recipes, not one: "
                  + "; ".join(UPDATE_RULES[u] for u in r["unmatched"]))
              for r in rows if r["metric"] == "eval_acc" and r.get("unmatched")]
    failed = [(r, f) for r in rows if r["metric"] == "eval_acc" for f in r["failed_jobs"]]
    if notes or failed or table.get("unreadable"):
        out += ["## Problems", ""]
        out += [f"- {r['scenario']} / {r['dataset']} / {r['variant']}: {n}" for r, n in notes]
        out += [f"- failed job, {r['scenario']} / {r['dataset']} / {r['variant']}: {f}" for r, f in failed]
        out += [f"- unreadable result file: {u}" for u in table.get("unreadable", [])]
        out.append("")
    if figures:
        key = [f for f in figures if f.name in ("bn_lag.png", "gap_attribution.png", "gap_attribution_optimizer.png",
                                                          "batch_size.png")
               or f.name == "curves_momentum-native_far_native.png"]
        out += ["## Figures", ""] + [f"![{f.stem}]({f.relative_to(out_dir).as_posix()})" for f in key]
        out += ["", f"All {len(figures)} figures are in `plots/` and in `report.html`.", ""]
    out += ["## Scenarios", ""]
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        out.append(f"- **{sc}**: {claim_of(sc)}")
    out += ["", "## Environment", ""]
    for side in ("tf", "torch"):
        if env.get(side):
            out.append(f"- {side}: " + ", ".join(f"{k} {v}" for k, v in env[side].items()))
    if env.get("machine"):
        out.append("- machine: " + ", ".join(f"{k} {v}" for k, v in env["machine"].items()))
    out.append("")
    out.append(f"Verdicts: parity = the whole CI lies within +-{stats.PARITY_TOLERANCE_PP:g} pp (0.05 for loss); "
               "**gap** = the CI excludes 0 and |gap| is larger than that; inconclusive = neither; "
               "failed = no comparison; tf only / torch only = the other framework has no job files for the row "
               "(not asked for with --frameworks, or not run yet). The gap's CI is paired over the seeds both "
               "frameworks completed.")
    return out


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["scenario", "dataset", "variant", "metric", "tf_mean", "tf_ci_low", "tf_ci_high", "tf_n",
                "torch_mean", "torch_ci_low", "torch_ci_high", "torch_n", "gap_mean", "gap_ci_low",
                "gap_ci_high", "verdict", "note"])
    for r in rows:
        t, p, g = r["tf"] or {}, r["torch"] or {}, r["gap"] or {}
        w.writerow([r["scenario"], r["dataset"], r["variant"], r["metric"],
                    t.get("mean"), t.get("ci_low"), t.get("ci_high"), t.get("n"),
                    p.get("mean"), p.get("ci_low"), p.get("ci_high"), p.get("n"),
                    g.get("mean"), g.get("ci_low"), g.get("ci_high"), r["verdict"], r["note"]])
    return buf.getvalue()


def terminal(table: dict) -> str:
    rows = [r for r in table["rows"] if r["metric"] == "eval_acc"]
    head = ("scenario", "dataset", "variant", "TF eval %", "torch eval %", "gap pp [95% CI]", "n", "verdict")
    def side(r, fw):
        return "not installed" if fw in r.get("not_installed", []) else stats.cell(r[fw])

    body = [(r["scenario"], r["dataset"], r["variant"], side(r, "tf"), side(r, "torch"), stats.cell(r["gap"], sign=True),
             _n(r), stats.verdict_text(r)) for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(b) for b in body])


def environment_of(jobs: list[dict]) -> dict:
    env: dict = {}
    for job in jobs:
        if job["status"] != "ok":
            continue
        e = job.get("env", {})
        side = {k: e[k] for k in ("tensorflow", "keras", "torch", "torchvision", "intra_op_threads", "device", "gpu")
                if k in e}
        env.setdefault(job["framework"], side)
        precision = job.get("plan", {}).get("precision", "float32")
        seen = env[job["framework"]].setdefault("precision", precision)
        if precision not in seen.split(","):
            env[job["framework"]]["precision"] = ",".join(sorted(seen.split(",") + [precision]))
        env.setdefault("machine", {k: e[k] for k in ("cpu", "cpu_count", "python", "platform", "commit") if k in e})
    return env


def _throughput_of(out_dir: Path) -> dict | None:
    path = out_dir / "throughput.json"
    if not path.exists():
        return None
    try:
        data = read_json(path, "throughput table", 1)
    except ResultError:
        return None
    return data if isinstance(data.get("rows"), list) else None


def write_report(out_dir: str | Path, suite: str | None = None) -> dict:
    """Rebuild tables, plots and report.html from DIR/jobs alone; returns the table (parity.json)."""
    from parity.report import html, plots

    out_dir = Path(out_dir)
    jobs, problems = load_jobs(out_dir)
    if suite is None:
        suite = next((j.get("suite") for j in jobs if j.get("suite")), out_dir.name)
    table = {"schema": TABLE_SCHEMA, "suite": suite, "env": environment_of(jobs), "rows": build_rows(jobs),
             "unreadable": problems}
    write_json_atomic(out_dir / "parity.json", table)
    write_text_atomic(out_dir / "parity.csv", to_csv(table["rows"]))
    throughput = _throughput_of(out_dir)
    figures = plots.write_all(jobs, table["rows"], throughput, out_dir)
    write_text_atomic(out_dir / "parity.md", markdown(table, figures, out_dir))
    write_text_atomic(out_dir / "report.html", html.render(table, figures, throughput))
    return table


def read_table(path: str | Path) -> dict:
    """Load a parity.json (or the one inside a folder), validated; ResultError on any problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "parity.json"
    data = read_json(path, "results table", TABLE_SCHEMA)
    if not isinstance(data.get("rows"), list):
        raise ResultError(f"{path}: not a parity table of schema {TABLE_SCHEMA}")
    return data
