"""What ``parity compare`` says: the one-line verdict and the markdown of a comparison's result.

``parity.report.compare`` judges two result folders into a result dict; this module only words it
(the CLI, ``parity upgrade-check`` and the benchmarks print it, report/html.py draws it).
"""
from __future__ import annotations

from parity import frameworks
from parity.report import stats


def is_clean(result: dict) -> bool:
    """No regression and no changed framework default (audited or read by the jobs)."""
    return not result["regressions"] and not result["defaults"] and not result.get("audit")


def _cpu_note(result: dict) -> str:
    """Which CPUs made the two runs, when they differ: their floats differ in the last bits, so no job is
    bit-identical across them (a job is bit-reproducible on one CPU model, not across models). Runs before
    the CPU's model was recorded give only its name, which a virtual machine may give several models."""
    base, cur = result.get("cpus") or (None, None)
    c = result["counts"]
    if not base or not cur or base == cur or c["jobs_identical"] == c["jobs"]:
        return ""
    if cur.startswith(base + " (") or base.startswith(cur + " ("):
        return (f" (the baseline's CPU is recorded only as {base}, this run's as {cur}: one name may cover "
                "several CPU models, and jobs are bit-reproducible on one model, not across)")
    return f" (the baseline ran on {base}, this run on {cur}: jobs are bit-reproducible on one CPU kind, not across)"


def summary_line(result: dict) -> str:
    """One line: reproduced (and how exactly), or how many findings."""
    c = result["counts"]
    exact = f"{c['jobs_identical']}/{c['jobs']} jobs bit-identical" + _cpu_note(result)
    notes = "".join(f"; {len(result.get(k) or [])} {what}" for k, what in (
        ("improvements", "improvement(s)"), ("changes", "verdict change(s)"),
        ("not_compared", "failed baseline job(s) not compared"), ("appeared", "new row(s) or job(s)"))
        if result.get(k))
    if is_clean(result):
        if not c["jobs"]:
            return f"nothing compared with {result['baseline']}: no job finished in both runs" + notes
        return f"reproduced {result['baseline']}: {c['rows_unchanged']}/{c['rows']} rows unchanged, {exact}" + notes
    n_def = len(result["defaults"]) + len(result.get("audit") or [])
    return (f"NOT reproduced {result['baseline']}: {len(result['regressions'])} regression(s)"
            + (f", {n_def} changed default(s)" if n_def else "")
            + f"; {c['rows_unchanged']}/{c['rows']} rows unchanged, {exact}")


SECTIONS = (("Defaults audit: what changed", "audit"), ("Changed framework defaults (read by the jobs)", "defaults"),
            ("Regressions", "regressions"), ("Improvements", "improvements"),
            ("Changes that are not regressions", "changes"), ("Not compared", "not_compared"),
            ("Not comparable", "not_comparable"),
            ("Environment", "environment"), ("Only in the current run", "appeared"))


def markdown(result: dict, title: str = "parity compare") -> str:
    status = "no regression" if is_clean(result) else "**regression**"
    t = result["thresholds"]
    ref = result.get("reference", frameworks.REFERENCE)
    gaps = (sorted({fw for r in result["rows"] for fw in r["gaps"]}, key=frameworks.NAMES.index)
            or [fw for fw in frameworks.DEFAULT_NAMES if fw != ref][:1])
    gap_text = ", ".join(f"{frameworks.get(fw).label} - {frameworks.get(ref).label}" for fw in gaps)
    out = [f"## {title}: {status}", "",
           f"baseline `{result['baseline']}` vs current `{result['current']}`", "",
           summary_line(result) + ".", "",
           f"Paired seed by seed: a regression is a mean change worse than {t['acc_pp']:g} pp accuracy or "
           f"{t['loss']:g} eval loss that is certain (paired 95% CI excluding 0, or the same change on every "
           f"seed; one seed: beyond the threshold), on {'either side' if len(gaps) == 1 else 'any column'} or in "
           f"the {gap_text} gap{'s' if len(gaps) > 1 else ''} (its magnitude growing, unless a side improved). Failed "
           "jobs, missing seeds, columns or rows, and a row leaving parity are regressions.", ""]
    for title_, key in SECTIONS:
        items = result.get(key) or []
        if items:
            out += [f"### {title_}", ""] + [f"- {i}" for i in items] + [""]
    changed = [r for r in result["rows"] if r["status"] not in ("identical", "unchanged")
               or any(not s["identical_weights"] for s in r["sides"].values())]
    if changed:
        out += ["### Rows that moved", "", "| row | side | baseline | current | change (paired) | judged |",
                "|---|---|---|---|---|---|"]
        for r in changed:
            digits = 3 if r["metric"] == "eval_loss" else 2
            for fw, s in r["sides"].items():
                ch = stats.PairedChange(**s["change"])
                out.append(f"| {r['row']} | {fw} | {s['baseline']:.{digits}f} | {s['current']:.{digits}f} | "
                           f"{ch.text(digits)} | {s['judged'] or '—'} |")
            for fw, gap in r["gaps"].items():
                ch = stats.PairedChange(**gap["change"])
                side = "gap" if len(r["gaps"]) == 1 else f"gap {fw} - {ref}"
                out.append(f"| {r['row']} | {side} | {gap['baseline']:+.{digits}f} | {gap['current']:+.{digits}f}"
                           f" | {ch.text(digits)} | {gap['judged'] or '—'} |")
        out.append("")
    return "\n".join(out) + "\n"
