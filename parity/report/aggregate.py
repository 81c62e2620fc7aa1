"""The table's rows from job files: jobs grouped by (scenario, dataset, variant), each column's summary, each
gap paired by seed against the reference, and why a pair is refused (see ``tables`` for the files and what
each key of a row holds)."""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import TypedDict

from parity import frameworks
from parity.report import stats
from parity.report.columns import LEGACY_PAIR
from parity.results import ResultError, non_finite_metrics, provenance_difference, read_job
from parity.spec.config import run_from_dict
from parity.spec.knobs import unmatched_rules

METRICS = ("eval_acc", "train_acc", "eval_loss")


class TableRow(TypedDict):
    """One row of the table (the module docstring says what each key holds in parity.json; ``to_json`` leaves
    out the column keys of a two-framework table, ``read_table`` fills them back in)."""
    scenario: str
    dataset: str
    variant: str
    metric: str
    tf: dict | None
    torch: dict | None
    gap: dict | None
    verdict: str
    failed_jobs: list[str]
    note: str
    not_installed: list[str]
    unmatched: list[str]
    reference: str
    columns: dict[str, dict | None]
    gaps: dict[str, dict]


def load_jobs(out_dir: str | Path) -> tuple[list[dict], list[str]]:
    """Every readable job file in DIR/jobs, and one line per unreadable one."""
    jobs, problems = [], []
    for path in sorted(Path(out_dir, "jobs").glob("*.json")):
        try:
            jobs.append(read_job(path))
        except ResultError as e:
            problems.append(str(e))
    return jobs, problems


def _mismatch(sides: dict, pair: tuple[str, str]) -> str | None:
    """Why the two frameworks' jobs of a row are not one experiment (named in registry order), or None."""
    fa, fb = sorted(pair, key=frameworks.NAMES.index)
    a_jobs, b_jobs = sides.get(fa, {}), sides.get(fb, {})
    for seed in sorted(set(a_jobs) & set(b_jobs)):
        differ = provenance_difference(a_jobs[seed], b_jobs[seed])
        if differ:
            what, a, b = differ
            return f"{what} differ for seed {seed} ({fa} {a} vs {fb} {b}): not compared"
    return None


def table_columns(jobs: list[dict], reference: str = frameworks.REFERENCE) -> tuple[str, ...]:
    """A table's framework columns, registry order: the default ones (shown even where they did not run,
    as before there were more), the reference and every framework with a job."""
    present = {j["framework"] for j in jobs} | set(frameworks.DEFAULT_NAMES) | set(LEGACY_PAIR) | {reference}
    return tuple(fw for fw in frameworks.NAMES if fw in present)


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


def build_rows(jobs: list[dict], reference: str = frameworks.REFERENCE) -> list[TableRow]:
    """The table's rows (see the module docstring); UnknownFramework for a reference the registry lacks."""
    frameworks.get(reference)
    columns = table_columns(jobs, reference)
    groups, failed = _group_jobs(jobs)
    return [row for key, sides in groups.items()
            for row in _rows_of(key, sides, failed.get(key, []), columns, reference)]


def _group_jobs(jobs: list[dict]) -> tuple[dict, dict]:
    """(scenario, dataset, variant) -> framework -> seed -> finished job, in the jobs' order; and per row the
    lines of the jobs that gave no result (failed, or finished with NaN/inf: never dropped silently)."""
    groups: dict[tuple, dict[str, dict[int, dict]]] = {}
    failed: dict[tuple, list[str]] = defaultdict(list)
    for job in jobs:
        key = (job["scenario"], job["dataset"], job["variant"])
        side = groups.setdefault(key, {})
        broken = non_finite_metrics(job, METRICS) if job["status"] == "ok" else {}
        if broken:
            failed[key].append(f"{job['framework']} seed {job['seed']}: finished with non-finite "
                               + ", ".join(f"{m}={v}" for m, v in broken.items()))
        elif job["status"] == "ok":
            side.setdefault(job["framework"], {})[job["seed"]] = job
        else:
            failed[key].append(f"{job['framework']} seed {job['seed']}: {job.get('error')}")
    return groups, failed


def _rows_of(key: tuple, sides: dict, failed: list[str], columns: tuple, reference: str) -> list[TableRow]:
    """One row per metric of one (scenario, dataset, variant)."""
    gap_pairs = {fw: (fw, reference) for fw in columns if fw != reference}
    # the pairs whose jobs are not one experiment: never compared, and the row says why
    pairs = dict.fromkeys([*gap_pairs.values(), LEGACY_PAIR])
    refused = {pair: why for pair in pairs if (why := _mismatch(sides, pair))}
    note = "; ".join(dict.fromkeys(refused.values()))
    missing = sorted({f.split(" ", 1)[0] for f in failed if "not installed" in f})
    if missing:
        note = f"{' and '.join(missing)} not installed: {'its' if len(missing) == 1 else 'their'} jobs did not run"
    # the frameworks that have a job here, finished or failed
    ran = {fw for fw in columns if sides.get(fw)} | {f.split(" ", 1)[0] for f in failed}
    unmatched = _unmatched([j for fw in columns for j in sides.get(fw, {}).values()])
    scenario, dataset, variant = key
    rows = []
    for metric in METRICS:
        vals = {fw: {s: j["final"].get(metric) for s, j in sides.get(fw, {}).items()} for fw in columns}
        # accuracy lies in 0-100 and a loss is >= 0: an interval never reaches past what the quantity can be
        bounds, gap_bounds = ((0.0, 100.0), (-100.0, 100.0)) if metric.endswith("_acc") else ((0.0, math.inf), None)
        sums = {fw: stats.summarize(list(v.values()), bounds) for fw, v in vals.items()}
        tol = stats.PARITY_TOLERANCE_PP if metric.endswith("_acc") else 0.05

        def compare(a: str, b: str) -> tuple[dict | None, str]:
            """a minus b, paired by seed, and its verdict."""
            if (a, b) in refused or (b, a) in refused or {a, b} & set(missing):
                return None, "failed"
            present = [fw for fw in (a, b) if fw in ran]
            if len(present) < 2:   # the other framework was not asked for (--frameworks), or neither was
                return None, f"{present[0]} only" if present else "not run"
            g = stats.gap(vals[a], vals[b], gap_bounds)
            if g is None:
                return None, "failed"
            return {k: v for k, v in g.to_dict().items() if k != "n"}, stats.verdict(g, tol)

        gap, verdict = compare(*LEGACY_PAIR)
        gaps = {fw: compare(*pair) for fw, pair in gap_pairs.items()}
        rows.append(TableRow(
            scenario=scenario, dataset=dataset, variant=variant, metric=metric,
            tf=sums["tf"].to_dict() if sums["tf"] else None,
            torch=sums["torch"].to_dict() if sums["torch"] else None,
            gap=gap, verdict=verdict, failed_jobs=failed,
            note=note or ("" if len(ran) == 1 or all(sums.get(fw) for fw in ran) else "one framework has no successful job"),
            not_installed=missing, unmatched=unmatched, reference=reference,
            columns={fw: sm.to_dict() if sm else None for fw, sm in sums.items()},
            gaps={fw: {**(g or {}), "verdict": v} for fw, (g, v) in gaps.items()},
        ))
    return rows
