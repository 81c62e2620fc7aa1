"""``parity compare BASELINE CURRENT``: the regression gate between two result folders.

Seeds pair the two runs exactly (same seed = same batches, same head), and on a
CPU a job is bit-reproducible. So the gate compares job files seed by seed,
never by the spread over seeds:

- per row and framework, ``current - baseline`` for every seed both folders
  completed; a regression is a mean change worse than a practical threshold
  (1 pp accuracy, 0.02 eval loss by default) that is certain: its paired 95%
  CI excludes 0, or every seed moved by the same amount. One paired seed gives
  no CI; a change beyond the threshold then still fails the gate, said as such;
- each framework's gap to the reference (torch unless ``--reference``; TF - torch
  with the two default columns) of a row, per seed, the same way (a regression
  when its magnitude grows);
- a gap that was at parity and is not any more, a failed job, a missing seed,
  a missing framework column, a vanished row: regressions, naming the job ids;
  a framework column or row only the current run has is listed, never judged;
- jobs that ended with bit-identical final weights are reported as identical.

Timings are never judged here: two throughput files measured at different
times are "not comparable" (``parity upgrade-check`` measures two environments
side by side). A changed framework default (the audit, or the native defaults
the jobs read) is always a finding.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from parity import frameworks
from parity.report import stats
from parity.report.aggregate import METRICS, build_rows, load_jobs
from parity.report.tables import environment_of
from parity.results import ResultError, non_finite_metrics, provenance_difference
from parity.spec.config import stored_settings

ACC_THRESHOLD_PP = 1.0
LOSS_THRESHOLD = 0.02
FRAMEWORKS = frameworks.NAMES
_METRIC_UNIT = {"eval_acc": "pp", "train_acc": "pp", "eval_loss": ""}


def _run_key(job: dict) -> tuple:
    return job["scenario"], job["dataset"], job["variant"]


def _row_name(run_key: tuple, metric: str | None = None) -> str:
    return "/".join(run_key) + (f"/{metric}" if metric else "")


def load_folder(path: str | Path, reference: str = frameworks.REFERENCE) -> dict:
    """Jobs, table rows, environment, native defaults and audit snapshot of a result folder.

    ResultError (exit 2) when the folder cannot be a side of the gate: no jobs/,
    no readable job. Unreadable job files are kept as a list: in the current
    folder they are lost results.
    """
    path = Path(path)
    folder = path.parent if path.name == "parity.json" else path
    if not folder.is_dir():
        raise ResultError(f"{folder}: no such results folder")
    if not (folder / "jobs").is_dir():
        raise ResultError(f"{folder}: no jobs/ folder (the gate pairs job files seed by seed; "
                          "parity.json alone is not enough)")
    jobs, unreadable = load_jobs(folder)
    if not jobs:
        raise ResultError(f"{folder}/jobs: no readable job result" + (f" ({unreadable[0]})" if unreadable else ""))
    audit = None
    if (folder / "defaults.json").exists():
        from parity.audit import AuditError, load_snapshot

        try:
            audit = load_snapshot(folder / "defaults.json")
        except AuditError as e:
            raise ResultError(str(e).removeprefix("--check: ")) from None
    native: dict = {}
    for job in jobs:
        if job.get("native_defaults"):
            native.setdefault(job["framework"], job["native_defaults"])
    return {"folder": folder, "jobs": jobs, "unreadable": unreadable, "rows": build_rows(jobs, reference),
            "env": environment_of(jobs), "defaults": native, "audit": audit,
            "throughput": (folder / "throughput.json").exists()}


def _index(jobs: list[dict]) -> dict:
    """(scenario, dataset, variant) -> framework -> seed -> job."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    for job in jobs:
        out[_run_key(job)][job["framework"]][job["seed"]] = job
    return out


def _ok(job: dict | None) -> bool:
    return bool(job) and job["status"] == "ok"


def _pairing_problem(b: dict, c: dict) -> str | None:
    """Why a baseline and a current job of one seed are not the same experiment, or None.

    What the baseline file does not record (older files) is not held against the pair.
    """
    bs, cs = stored_settings(b.get("config")), stored_settings(c.get("config"))
    if bs is not None and cs is not None and bs != cs:
        bs, cs = _flatten(bs), _flatten(cs)
        keys = sorted(k for k in set(bs) | set(cs) if bs.get(k) != cs.get(k))
        return "settings differ (" + ", ".join(f"{k}: {bs.get(k)} vs {cs.get(k)}" for k in keys) + ")"
    differ = provenance_difference(b, c, lenient=True)
    return f"{differ[0]} differ ({differ[1]} vs {differ[2]})" if differ else None


class Gate:
    """Collects what the comparison found; the sections of the markdown and JSON."""

    def __init__(self):
        self.regressions: list[str] = []
        self.improvements: list[str] = []
        self.changes: list[str] = []        # verdict changes that are not regressions, changes within threshold
        self.appeared: list[str] = []
        self.not_compared: list[str] = []   # baseline jobs that failed: nothing to pair with
        self.rows: list[dict] = []


def _judge(change: stats.PairedChange, worse_sign: int, threshold: float) -> str | None:
    """"regression", "improvement" or None for a paired change (worse_sign -1: lower is worse)."""
    beyond = abs(change.mean) > threshold
    if not beyond:
        return None
    if change.n == 1 or change.certain():
        return "regression" if math.copysign(1, change.mean) == worse_sign else "improvement"
    return None


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _values(jobs: dict, seeds, metric: str) -> dict:
    """seed -> the metric, for the seeds where it is a finite number (others are reported as such)."""
    return {s: jobs[s]["final"].get(metric) for s in seeds if _finite(jobs[s]["final"].get(metric))}


def compare_runs(base: dict, cur: dict, acc_threshold: float = ACC_THRESHOLD_PP,
                 loss_threshold: float = LOSS_THRESHOLD, reference: str = frameworks.REFERENCE) -> dict:
    """Paired, per-seed comparison of two loaded folders (``load_folder``); gaps against ``reference``."""
    frameworks.get(reference)
    g = Gate()
    base_index, cur_index = _index(base["jobs"]), _index(cur["jobs"])
    _check_current_jobs(g, cur)
    _check_rows_present(g, base_index, cur_index)
    jobs = identical_jobs = 0
    for row in (k for k in base_index if k in cur_index):
        paired: dict[str, list] = {}
        for fw in FRAMEWORKS:
            seeds = _paired_seeds(g, row, fw, base_index[row].get(fw, {}), cur_index[row].get(fw, {}))
            if seeds is None:
                continue
            paired[fw] = seeds
            identical_jobs += sum(1 for s in seeds if _same_weights(base_index[row][fw][s], cur_index[row][fw][s]))
        jobs += sum(1 for fw in FRAMEWORKS for s, j in base_index[row].get(fw, {}).items() if _ok(j))
        _compare_row(g, row, base_index[row], cur_index[row], paired, acc_threshold, loss_threshold, reference)
    _compare_verdicts(g, base["rows"], cur["rows"])
    g.regressions = list(dict.fromkeys(g.regressions))
    rows_identical = sum(1 for r in g.rows if r["identical"])
    rows_unchanged = sum(1 for r in g.rows if r["status"] in ("identical", "unchanged"))
    return {"regressions": g.regressions, "improvements": g.improvements, "changes": g.changes,
            "appeared": g.appeared, "not_compared": g.not_compared, "rows": g.rows,
            "counts": {"rows": len(g.rows), "rows_identical": rows_identical, "rows_unchanged": rows_unchanged,
                       "jobs": jobs, "jobs_identical": identical_jobs},
            "thresholds": {"acc_pp": acc_threshold, "loss": loss_threshold}, "reference": reference}


def _same_weights(base_job: dict, cur_job: dict) -> bool:
    checksum = base_job.get("final_weights_checksum")
    return bool(checksum) and checksum == cur_job.get("final_weights_checksum")


def _check_current_jobs(g: Gate, cur: dict) -> None:
    """A current run with an unreadable file, a failed job or a non-finite metric cannot pass."""
    for name in cur["unreadable"]:
        g.regressions.append(f"unreadable result file in the current run: {name}")
    for job in cur["jobs"]:
        if job["status"] != "ok":
            g.regressions.append(f"failed job {job['id']}: {job.get('error')}")
        elif bad := non_finite_metrics(job, METRICS):
            g.regressions.append(f"job {job['id']}: {', '.join(bad)} not a finite number")


def _check_rows_present(g: Gate, base_index: dict, cur_index: dict) -> None:
    for row in base_index:
        if row not in cur_index:
            ids = sorted(j["id"] for fw in base_index[row].values() for j in fw.values())
            g.regressions.append(f"{_row_name(row)}: row in the baseline, missing now (jobs {', '.join(ids)})")
    g.appeared += [f"{_row_name(row)}: not in the baseline" for row in cur_index if row not in base_index]


def _paired_seeds(g: Gate, row: tuple, fw: str, base_jobs: dict, cur_jobs: dict) -> list | None:
    """The seeds of one framework's column in one row that both runs finished as one experiment; None when
    the baseline has no finished job there. What cannot be paired is recorded in ``g``."""
    base_ok = {s: j for s, j in base_jobs.items() if _ok(j)}
    g.not_compared += [f"baseline job {j['id']} failed ({j.get('error')}): seed not compared"
                       for j in base_jobs.values() if not _ok(j)]
    if cur_jobs and not base_jobs:
        g.appeared.append(f"{_row_name(row)} [{fw}]: framework column not in the baseline")
    if not base_ok:
        return None
    if not cur_jobs:
        g.regressions.append(f"{_row_name(row)} [{fw}]: framework column missing now "
                             f"(jobs {', '.join(sorted(j['id'] for j in base_ok.values()))})")
        return None
    seeds = []
    for s, base_job in sorted(base_ok.items()):
        cur_job = cur_jobs.get(s)
        if cur_job is None:
            g.regressions.append(f"missing seed: job {base_job['id']} ran in the baseline, not now")
        elif _ok(cur_job):   # a failed current job is already a regression
            problem = _pairing_problem(base_job, cur_job)
            if problem:
                g.regressions.append(f"job {cur_job['id']}: not comparable with the baseline: {problem}")
            else:
                seeds.append(s)
    g.appeared += [f"job {j['id']}: no baseline job for this seed" for s, j in sorted(cur_jobs.items())
                   if s not in base_jobs]
    return seeds


@dataclass(frozen=True)
class _Metric:
    """How one metric of a row is judged and written."""
    row_name: str
    name: str
    threshold: float
    worse_sign: int     # +1: higher is worse (loss); -1: lower is worse (accuracy)

    @property
    def digits(self) -> int:
        return 3 if self.name == "eval_loss" else 2

    @property
    def threshold_text(self) -> str:
        unit = _METRIC_UNIT[self.name]
        return f"threshold {self.threshold:g}{' ' + unit if unit else ''}"


def _compare_row(g: Gate, row: tuple, base_row: dict, cur_row: dict, paired: dict, acc_threshold: float,
                 loss_threshold: float, reference: str) -> None:
    """Each metric of one (scenario, dataset, variant): every side and every gap to the reference, paired by seed."""
    for name in METRICS:
        threshold, worse_sign = (loss_threshold, +1) if name == "eval_loss" else (acc_threshold, -1)
        metric = _Metric(_row_name(row, name), name, threshold, worse_sign)
        entry = {"row": metric.row_name, "metric": name, "threshold": threshold, "sides": {}, "gaps": {}}
        identical = bool(paired) and all(paired.get(fw) for fw in paired)
        for fw, seeds in paired.items():
            side = _compare_side(g, metric, fw, seeds, base_row[fw], cur_row[fw]) if seeds else None
            if side is not None:
                entry["sides"][fw] = side
                identical &= side["identical_weights"]
        if reference in paired:
            for fw in (f for f in FRAMEWORKS if f in paired and f != reference):
                gap = _compare_gap(g, metric, entry, fw, reference, paired, base_row, cur_row)
                if gap is not None:
                    entry["gaps"][fw] = gap
        verdicts = [v["judged"] for part in ("sides", "gaps") for v in entry[part].values()]
        entry["identical"] = identical
        entry["status"] = ("regression" if "regression" in verdicts else "improvement" if "improvement" in verdicts
                           else "identical" if identical else "unchanged")
        g.rows.append(entry)


def _compare_side(g: Gate, metric: _Metric, fw: str, seeds: list, base_jobs: dict, cur_jobs: dict) -> dict | None:
    """One framework's column of one metric: its paired change, judged against the threshold."""
    before, after = _values(base_jobs, seeds, metric.name), _values(cur_jobs, seeds, metric.name)
    seeds = [s for s in seeds if s in before and s in after]
    change = stats.paired_change([after[s] - before[s] for s in seeds])
    if change is None:
        return None
    mean_b = sum(before[s] for s in seeds) / len(seeds)
    mean_c = sum(after[s] for s in seeds) / len(seeds)
    judged = _judge(change, metric.worse_sign, metric.threshold)
    if judged:
        d = metric.digits
        text = (f"{metric.row_name} [{fw}]: {mean_b:.{d}f} -> {mean_c:.{d}f}; change {change.text(d)} "
                f"({metric.threshold_text})")
        (g.regressions if judged == "regression" else g.improvements).append(text)
    same = all(_same_weights(base_jobs[s], cur_jobs[s]) for s in seeds)
    return {"baseline": mean_b, "current": mean_c, "change": change.to_dict(), "identical_weights": same,
            "judged": judged}


def _compare_gap(g: Gate, metric: _Metric, entry: dict, fw: str, reference: str, paired: dict, base_row: dict,
                 cur_row: dict) -> dict | None:
    """One column's gap to the reference: a regression when |gap| grew past the threshold, unless a side
    improved (said with that side)."""
    vals = {(w, x): _values(row[x], paired[x], metric.name) for w, row in (("b", base_row), ("c", cur_row))
            for x in (fw, reference)}
    both = [s for s in paired[fw] if s in paired[reference] and all(s in vals[w, x] for w in "bc"
                                                                   for x in (fw, reference))]
    if not both:
        return None
    gb = {s: vals["b", fw][s] - vals["b", reference][s] for s in both}
    gc = {s: vals["c", fw][s] - vals["c", reference][s] for s in both}
    change = stats.paired_change([gc[s] - gb[s] for s in both])
    if change is None:
        return None
    mb, mc = sum(gb.values()) / len(both), sum(gc.values()) / len(both)
    grow, d = abs(mc) - abs(mb), metric.digits
    label = f"{metric.row_name} [gap {fw} - {reference}]"
    judged = None
    if abs(grow) > metric.threshold and (change.n == 1 or change.certain()):
        judged = "regression" if grow > 0 else "improvement"
        if judged == "regression" and any(entry["sides"].get(x, {}).get("judged") == "improvement"
                                          for x in (fw, reference)):   # a side got better: said above
            judged = None
            g.changes.append(f"{label}: |gap| grew from {abs(mb):.{d}f} to {abs(mc):.{d}f} because a side improved")
    if judged:
        text = (f"{label}: {mb:+.{d}f} -> {mc:+.{d}f}; change {change.text(d)}; |gap| "
                f"{'grew' if grow > 0 else 'shrank'} by {abs(grow):.{d}f} ({metric.threshold_text})")
        (g.regressions if judged == "regression" else g.improvements).append(text)
    return {"baseline": mb, "current": mc, "change": change.to_dict(), "judged": judged}


def _compare_verdicts(g: Gate, base_rows: list[dict], cur_rows: list[dict]) -> None:
    """Every change of a gap's verdict is listed (gaps both runs have); leaving parity or ending failed is a
    regression."""
    key = lambda r: f"{r['scenario']}/{r['dataset']}/{r['variant']}/{r['metric']}"  # noqa: E731
    cur = {key(r): r for r in cur_rows}
    for b in base_rows:
        c = cur.get(key(b))
        for fw in (f for f in b["gaps"] if c and f in c["gaps"]):
            was, now = b["gaps"][fw]["verdict"], c["gaps"][fw]["verdict"]
            if was == now:
                continue
            label = "" if len(b["gaps"]) == 1 else f" [gap {fw} - {b['reference']}]"
            text = f"{key(b)}{label}: verdict {was} -> {now}"
            if was == "parity" or now == "failed":
                g.regressions.append(text)
            else:
                g.changes.append(text)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def compare_dirs(baseline: str | Path, current: str | Path, acc_threshold: float = ACC_THRESHOLD_PP,
                 loss_threshold: float = LOSS_THRESHOLD, reference: str = frameworks.REFERENCE) -> dict:
    """Everything that differs between two result folders; ResultError on unusable input
    (UnknownFramework for a reference the registry lacks)."""
    frameworks.get(reference)
    base, cur = load_folder(baseline, reference), load_folder(current, reference)
    if base["unreadable"]:   # the reference itself must be whole
        raise ResultError(f"baseline: {base['unreadable'][0]}")
    result = compare_runs(base, cur, acc_threshold, loss_threshold, reference)
    be, ce = _flatten(base["env"]), _flatten(cur["env"])
    result["cpus"] = [be.get("machine.cpu"), ce.get("machine.cpu")]
    result["environment"] = [f"{k}: {be.get(k)} -> {ce.get(k)}" for k in sorted(set(be) | set(ce))
                             if be.get(k) != ce.get(k) and not k.endswith(".commit")]
    bd, cd = _flatten(base["defaults"]), _flatten(cur["defaults"])
    # a default read on one side only is a change of this suite's code (a knob added or dropped), not of
    # a framework: said with the environment, never a changed default
    result["defaults"] = [f"{k}: {bd[k]} -> {cd[k]}" for k in sorted(set(bd) & set(cd)) if bd[k] != cd[k]]
    result["environment"] += [f"default {k} read by the current code only: {cd[k]}" for k in sorted(set(cd) - set(bd))
                              if bd] + [f"default {k} read by the baseline's code only: {bd[k]}"
                                        for k in sorted(set(bd) - set(cd)) if cd]
    result["audit"] = []
    if base["audit"] and cur["audit"]:   # `parity audit --out DIR/defaults.json` in each environment
        from parity.audit import drift

        lines = drift(base["audit"], cur["audit"])
        # a knob only one side's code audits is a change of this suite, not of a framework
        code_only = [line for line in lines if line.endswith(("new knob, not in the snapshot", "no longer audited"))]
        result["audit"] = [line for line in lines if line not in code_only]
        result["environment"] += [f"audit {line}" for line in code_only]
        result["environment"] += [f"audit {k}: {base['audit']['versions'].get(k)} -> {v}"
                                  for k, v in cur["audit"]["versions"].items()
                                  if base["audit"]["versions"].get(k) != v]
    result["not_comparable"] = []
    if base["throughput"] and cur["throughput"]:
        result["not_comparable"].append(
            "throughput.json in both folders: timings measured at different times on a shared machine are not "
            "comparable, so they are not judged (`parity upgrade-check` measures two environments side by side)")
    result["baseline"], result["current"] = str(base["folder"]), str(cur["folder"])
    return result
