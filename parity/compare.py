"""``parity compare BASELINE CURRENT``: the regression gate for framework upgrades.

Compares two result folders (their ``parity.json``, and ``throughput.json`` and
the jobs' native defaults where present) row by row, direction-aware:
accuracy and throughput regress when they go down, eval loss when it goes up,
a TF-vs-torch gap when its magnitude grows. Thresholds come from the measured
noise of the two rows -- the 95% CI half-widths over seeds, the timing spread
over rounds -- with a small floor, never one global percentage. A changed
framework default is always reported, and counts as a finding.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from parity.report import read_table
from parity.results import ResultError, read_job

ACC_FLOOR_PP = 1.0       # below one percentage point nothing is called a change
LOSS_FLOOR = 0.02
THROUGHPUT_FLOOR_PCT = 5.0


def _half_width(s: dict | None) -> float:
    return 0.0 if not s else (s["ci_high"] - s["ci_low"]) / 2


def _key(r: dict) -> str:
    return f"{r['scenario']}/{r['dataset']}/{r['variant']}/{r['metric']}"


def _load(path: str | Path) -> dict:
    path = Path(path)
    table = read_table(path)
    folder = path if path.is_dir() else path.parent
    throughput = None
    tp = folder / "throughput.json"
    if tp.exists():
        try:
            throughput = json.loads(tp.read_text(encoding="utf-8"))
            if not isinstance(throughput, dict) or throughput.get("schema") != 1 \
                    or not isinstance(throughput.get("rows"), list):
                raise ValueError("not a throughput table of schema 1")
        except (json.JSONDecodeError, ValueError, UnicodeDecodeError) as e:
            raise ResultError(f"{tp}: {e}") from None
    audit = None
    if (folder / "defaults.json").exists():
        from parity.audit import AuditError, load_snapshot

        try:
            audit = load_snapshot(folder / "defaults.json")
        except AuditError as e:
            raise ResultError(str(e).removeprefix("--check: ")) from None
    return {"table": table, "throughput": throughput, "defaults": _native_defaults(folder), "audit": audit}


def _native_defaults(folder: Path) -> dict:
    """framework -> the native defaults its jobs read from the installed framework."""
    out: dict = {}
    for p in sorted((folder / "jobs").glob("*.json")) if (folder / "jobs").is_dir() else []:
        try:
            job = read_job(p)
        except ResultError:
            continue
        if job.get("native_defaults"):
            out.setdefault(job["framework"], job["native_defaults"])
    return out


def _side_change(name: str, base: dict | None, cur: dict | None, higher_is_better: bool, floor: float):
    if not base or not cur:
        return None
    delta = cur["mean"] - base["mean"]
    threshold = max(math.hypot(_half_width(base), _half_width(cur)), floor)
    worse = delta < -threshold if higher_is_better else delta > threshold
    better = delta > threshold if higher_is_better else delta < -threshold
    text = f"{name}: {base['mean']:.3g} -> {cur['mean']:.3g} ({delta:+.3g}, noise threshold {threshold:.3g})"
    return ("regression" if worse else "improvement" if better else None), text


def compare_tables(base: dict, cur: dict) -> dict:
    result = {"regressions": [], "improvements": [], "changes": [], "appeared": [], "disappeared": []}
    b_rows = {_key(r): r for r in base["rows"]}
    c_rows = {_key(r): r for r in cur["rows"]}
    result["appeared"] = sorted(set(c_rows) - set(b_rows))
    result["disappeared"] = sorted(set(b_rows) - set(c_rows))
    for key in sorted(set(b_rows) & set(c_rows)):
        b, c = b_rows[key], c_rows[key]
        metric = b["metric"]
        higher, floor = (False, LOSS_FLOOR) if metric == "eval_loss" else (True, ACC_FLOOR_PP)
        for side in ("tf", "torch"):
            if b.get(side) and not c.get(side):
                result["regressions"].append(f"{key} [{side}]: had results in the baseline, none now")
                continue
            found = _side_change(f"{key} [{side}]", b.get(side), c.get(side), higher, floor)
            if found and found[0]:
                result["regressions" if found[0] == "regression" else "improvements"].append(found[1])
        if b.get("gap") and c.get("gap"):
            grow = abs(c["gap"]["mean"]) - abs(b["gap"]["mean"])
            threshold = max(math.hypot(_half_width(b["gap"]), _half_width(c["gap"])), floor)
            text = (f"{key} [gap]: {b['gap']['mean']:+.3g} -> {c['gap']['mean']:+.3g} "
                    f"(|gap| {grow:+.3g}, noise threshold {threshold:.3g})")
            if grow > threshold:
                result["regressions"].append(text)
            elif grow < -threshold:
                result["improvements"].append(text)
        if b["verdict"] != c["verdict"]:
            text = f"{key}: verdict {b['verdict']} -> {c['verdict']}"
            result["regressions" if c["verdict"] == "failed" else "changes"].append(text)
    result["regressions"] += [f"{k}: in the baseline, missing now" for k in result["disappeared"]]
    return result


def compare_throughput(base: dict | None, cur: dict | None) -> dict:
    out = {"regressions": [], "improvements": [], "appeared": [], "disappeared": []}
    if not base or not cur:
        return out

    def key(r):
        size = f"{r.get('arch', 'resnet-tiny')}/{r.get('image_size', 32)}px/b{r.get('batch_size', 32)}"
        return f"throughput {r['framework']}/{r['mode']}/{r['kind']}/{'loader' if r['loader'] else 'memory'}/{size}"

    b_rows, c_rows = {key(r): r for r in base["rows"]}, {key(r): r for r in cur["rows"]}
    out["appeared"] = sorted(set(c_rows) - set(b_rows))
    out["disappeared"] = sorted(set(b_rows) - set(c_rows))
    for k in sorted(set(b_rows) & set(c_rows)):
        b, c = b_rows[k], c_rows[k]
        bm, cm = b["images_per_s"]["median"], c["images_per_s"]["median"]
        if bm <= 0:
            continue
        threshold = max(b["spread_pct"], c["spread_pct"], THROUGHPUT_FLOOR_PCT)
        change = 100.0 * (cm - bm) / bm
        text = f"{k}: {bm:.0f} -> {cm:.0f} images/s ({change:+.1f}%, noise threshold {threshold:.1f}%)"
        if change < -threshold:
            out["regressions"].append(text)
        elif change > threshold:
            out["improvements"].append(text)
    return out


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def compare_dirs(baseline: str | Path, current: str | Path) -> dict:
    """Everything that differs between two result folders; ResultError on unusable input."""
    base, cur = _load(baseline), _load(current)
    result = compare_tables(base["table"], cur["table"])
    tp = compare_throughput(base["throughput"], cur["throughput"])
    result["regressions"] += tp["regressions"]
    result["improvements"] += tp["improvements"]
    result["appeared"] += tp["appeared"]
    result["disappeared"] += tp["disappeared"]
    be, ce = _flatten(base["table"].get("env", {})), _flatten(cur["table"].get("env", {}))
    result["environment"] = [f"{k}: {be.get(k)} -> {ce.get(k)}" for k in sorted(set(be) | set(ce))
                             if be.get(k) != ce.get(k)]
    bd, cd = _flatten(base["defaults"]), _flatten(cur["defaults"])
    result["defaults"] = [f"{k}: {bd.get(k)} -> {cd.get(k)}" for k in sorted(set(bd) & set(cd))
                          if bd.get(k) != cd.get(k)]
    if base["audit"] and cur["audit"]:   # `parity audit --out DIR/defaults.json` in each environment
        from parity.audit import drift

        result["audit"] = drift(base["audit"], cur["audit"])
        result["environment"] += [f"audit {k}: {base['audit']['versions'].get(k)} -> {v}"
                                  for k, v in cur["audit"]["versions"].items()
                                  if base["audit"]["versions"].get(k) != v]
    result["baseline"], result["current"] = str(baseline), str(current)
    return result


def is_clean(result: dict) -> bool:
    """No regression and no changed framework default (audited or read by the jobs)."""
    return not result["regressions"] and not result["defaults"] and not result.get("audit")


def markdown(result: dict) -> str:
    status = "no regression" if is_clean(result) else "**regression**"
    out = [f"## parity compare: {status}", "", f"baseline `{result['baseline']}` vs current `{result['current']}`", ""]
    sections = (("Defaults audit: what changed", "audit"), ("Changed framework defaults", "defaults"),
                ("Regressions", "regressions"),
                ("Improvements", "improvements"), ("Verdict changes", "changes"),
                ("Environment", "environment"), ("Rows only in current", "appeared"),
                ("Rows only in baseline", "disappeared"))
    for title, key in sections:
        items = result.get(key) or []
        if items:
            out += [f"### {title}", ""] + [f"- {i}" for i in items] + [""]
    if len(out) == 4:
        out.append("Nothing changed beyond the measured noise.")
    return "\n".join(out) + "\n"
