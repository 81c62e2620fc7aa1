"""The parity table's files and renderings: parity.md, parity.csv, parity.json and the terminal, from the rows
``aggregate`` makes of the job files.

Rows are (scenario, dataset, variant, metric). A row has one column per framework (registry
order: the default tf and torch always, "—" where they did not run, and every other framework
with a job) and one gap per column that is not the reference (``frameworks.REFERENCE``, torch
unless ``parity report --reference NAME``): that framework minus the reference, paired over the
seeds both completed. A gap is taken only where every seed of the pair saw the same data and
started from the same weights (fingerprints and checksums recorded by each job); otherwise the
row says why it refuses. Failed jobs are listed and never counted as results.

parity.json (``"schema": 1``), each row:

- always: ``tf``, ``torch``: each one's summary (mean, ci_low, ci_high, n, constant) or null;
  ``gap``: TF − torch, paired (mean, ci_low, ci_high, constant) or null; ``verdict``: that gap's
  (parity, gap, inconclusive, failed, "tf only" / "torch only" where the other has no job
  files, "not run" where neither has); ``failed_jobs``, ``note``, ``not_installed``, ``unmatched``.
  These are what the table held before it had more columns, whatever the reference.
- the column keys, versioned by ``"columns_schema": 1`` at the top level. Present when the table has a framework other
  than tf and torch or a reference other than torch; absent, they are implied by the keys
  above (``read_table`` fills them in), so a two-framework table is written as it always was.
  ``reference``: the framework the gaps are taken against; ``columns``: framework -> summary
  or null, for every column of the table in registry order; ``gaps``: each column but the
  reference -> that framework minus the reference: the gap's mean, ci_low, ci_high, constant
  (absent where there is no gap) and its ``verdict``, as ``verdict`` above for that pair.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from parity import frameworks
from parity.report import stats
from parity.report.aggregate import build_rows, load_jobs
from parity.report.columns import (LEGACY_PAIR, column_cell, column_label, gap_cell, gap_titles, n_text, table_shape,
                                   verdict_cells, verdict_titles, with_columns)
from parity.report.plots import figure_name
from parity.results import ResultError, read_json, write_json_atomic, write_text_atomic
from parity.spec.knobs import UPDATE_RULES
from parity.spec.scenarios import FAR_DATASETS, NOT_PARITY_SCENARIOS, claim_of

TABLE_SCHEMA = 1
COLUMNS_SCHEMA = 1        # the version of parity.json's columns, gaps and reference keys
COLUMN_KEYS = ("reference", "columns", "gaps")


def _two_columns(rows: list[dict]) -> bool:
    """Every row's columns and gap are the tf, torch, gap and verdict keys: nothing more to write."""
    return all(tuple(r["columns"]) == LEGACY_PAIR and r["reference"] == LEGACY_PAIR[1] for r in rows)


def to_json(table: dict) -> dict:
    """parity.json's content: the column keys (and their schema) only where they say more than tf/torch/gap."""
    if _two_columns(table["rows"]):
        return {**table, "rows": [{k: v for k, v in r.items() if k not in COLUMN_KEYS} for r in table["rows"]]}
    return {"schema": table["schema"], "columns_schema": COLUMNS_SCHEMA, **table}


def markdown(table: dict, figures: list | None = None, out_dir: Path | None = None) -> str:
    rows = table["rows"]
    env = table.get("env", {})
    out = [f"# bn-parity: {table['suite']} suite", ""]
    gaps = ", ".join(gap_titles(table_shape(rows)))
    out.append(f"Eval accuracy (%) after fine-tuning: mean [95% CI] over seeds; gap = {gaps} in "
               "percentage points with its paired 95% CI.")
    out.append("")
    for section in sections(rows):
        out += [f"## {section['title']}", ""] + ([section["intro"], ""] if section["intro"] else [])
        out += _table(section["rows"], section["digits"])
    out += _problems_and_notes(table, rows, figures, out_dir, env)
    return "\n".join(out) + "\n"


ZOO_INTRO = ("keras.applications' ResNet50 and torchvision's resnet50, each with its own weights and "
             "preprocessing. The networks differ (v1 vs v1.5, conv biases, BN epsilon 1.001e-5 vs 1e-5, "
             "different training recipes), so a gap here is what a user of each zoo gets, not a framework "
             "difference; the parity tables above start both frameworks from the same weights.")


def sections(rows: list[dict]) -> list[dict]:
    """The report's tables, in order (markdown and report.html both): one per metric, then the native zoos.

    Each is ``{"id", "title", "intro", "digits", "rows"}``; a metric no row has is left out.
    """
    out = []
    for metric, title, digits in (("eval_acc", "Eval accuracy (%)", 1), ("train_acc", "Train accuracy (%)", 1),
                                  ("eval_loss", "Eval loss", 3)):
        sel = [r for r in rows if r["metric"] == metric and r["scenario"] not in NOT_PARITY_SCENARIOS]
        if sel:
            out.append({"id": metric.replace("_", "-"), "title": title, "intro": "", "digits": digits, "rows": sel})
    zoo = [r for r in rows if r["metric"] == "eval_acc" and r["scenario"] in NOT_PARITY_SCENARIOS]
    if zoo:
        out.append({"id": "zoo", "title": "Native model zoos: eval accuracy (%)", "intro": ZOO_INTRO, "digits": 1,
                    "rows": zoo})
    return out


def _table(sel: list[dict], digits: int) -> list[str]:
    head = ["scenario", "dataset", "variant", *map(column_label, sel[0]["columns"]),
            *(f"gap ({t})" for t in gap_titles(sel[0])), f"n {'/'.join(sel[0]['columns'])}", *verdict_titles(sel[0])]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in sel:
        cells = [r["scenario"], r["dataset"], r["variant"], *(column_cell(r, fw, digits) for fw in r["columns"]),
                 *(gap_cell(r, fw, digits) for fw in r["gaps"]),
                 n_text(r), *verdict_cells(r, bold=True)]
        out.append("| " + " | ".join(cells) + " |")
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
        key = [f for f in figures if f.name in ("gaps.png", "bn_lag.png", "gap_attribution.png",
                                                "gap_attribution_optimizer.png", "batch_size.png")
               or f.name in {figure_name("momentum-native", d, "native") for d in FAR_DATASETS}]
        out += ["## Figures", ""] + [f"![{f.stem}]({f.relative_to(out_dir).as_posix()})" for f in key]
        out += ["", f"All {len(figures)} figures are in `plots/` and in `report.html`.", ""]
    out += ["## Scenarios", ""]
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        out.append(f"- **{sc}**: {claim_of(sc)}")
    out += ["", "## Environment", ""]
    for side in frameworks.NAMES:
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
    """The tf, torch and TF − torch columns first, as always; then any other framework's column and any
    other gap (``gap_<framework>_minus_<reference>_*``), appended so that positions stay."""
    buf = io.StringIO()
    w = csv.writer(buf)
    first = table_shape(rows)
    extra_cols = [fw for fw in first["columns"] if fw not in LEGACY_PAIR]
    extra_gaps = [fw for fw in first["gaps"] if (fw, first["reference"]) != LEGACY_PAIR]
    stat = ("mean", "ci_low", "ci_high")
    w.writerow(["scenario", "dataset", "variant", "metric", "tf_mean", "tf_ci_low", "tf_ci_high", "tf_n",
                "torch_mean", "torch_ci_low", "torch_ci_high", "torch_n", "gap_mean", "gap_ci_low",
                "gap_ci_high", "verdict", "note"]
               + [f"{fw}_{k}" for fw in extra_cols for k in (*stat, "n")]
               + [f"gap_{fw}_minus_{first['reference']}_{k}" for fw in extra_gaps for k in (*stat, "verdict")])
    for r in rows:
        t, p, g = r["tf"] or {}, r["torch"] or {}, r["gap"] or {}
        w.writerow([r["scenario"], r["dataset"], r["variant"], r["metric"],
                    t.get("mean"), t.get("ci_low"), t.get("ci_high"), t.get("n"),
                    p.get("mean"), p.get("ci_low"), p.get("ci_high"), p.get("n"),
                    g.get("mean"), g.get("ci_low"), g.get("ci_high"), r["verdict"], r["note"]]
                   + [(r["columns"][fw] or {}).get(k) for fw in extra_cols for k in (*stat, "n")]
                   + [r["gaps"][fw].get(k) for fw in extra_gaps for k in (*stat, "verdict")])
    return buf.getvalue()


def terminal(table: dict) -> str:
    rows = [r for r in table["rows"] if r["metric"] == "eval_acc"]
    titles = gap_titles(table_shape(rows))
    head = ("scenario", "dataset", "variant", *(f"{column_label(fw)} eval %" for fw in table_shape(rows)["columns"]),
            *(["gap pp [95% CI]"] if len(titles) == 1 else [f"gap {t} pp" for t in titles]), "n",
            *verdict_titles(table_shape(rows)))
    body = [(r["scenario"], r["dataset"], r["variant"], *(column_cell(r, fw) for fw in r["columns"]),
             *(gap_cell(r, fw) for fw in r["gaps"]), n_text(r), *verdict_cells(r))
            for r in rows]
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


def build_table(out_dir: Path, suite: str | None = None, reference: str = frameworks.REFERENCE) -> tuple[dict, list]:
    """The table of DIR/jobs (nothing written) and the jobs it was built from."""
    jobs, problems = load_jobs(out_dir)
    if suite is None:
        suite = next((j.get("suite") for j in jobs if j.get("suite")), Path(out_dir).name)
    table = {"schema": TABLE_SCHEMA, "suite": suite, "env": environment_of(jobs),
             "rows": build_rows(jobs, reference), "unreadable": problems}
    return table, jobs


def write_report(out_dir: str | Path, suite: str | None = None, reference: str = frameworks.REFERENCE) -> dict:
    """Rebuild tables, plots and report.html from DIR/jobs alone; returns the table (parity.json's rows
    with their column keys)."""
    from parity.report import html, plots, screenshot

    out_dir = Path(out_dir)
    table, jobs = build_table(out_dir, suite, reference)
    write_json_atomic(out_dir / "parity.json", to_json(table))
    write_text_atomic(out_dir / "parity.csv", to_csv(table["rows"]))
    throughput = _throughput_of(out_dir)
    figures = plots.write_all(jobs, table["rows"], throughput, out_dir)
    write_text_atomic(out_dir / "parity.md", markdown(table, figures, out_dir))
    write_text_atomic(out_dir / "report.html", html.render(table, sections(table["rows"]), figures, throughput))
    screenshot.drop_if_stale(out_dir / "report.html", out_dir / "report.png")   # a picture of the old page
    return table


def read_table(path: str | Path) -> dict:
    """Load a parity.json (or the one inside a folder), validated, every row with its column keys
    (``with_columns``); ResultError on any problem."""
    path = Path(path)
    if path.is_dir():
        path = path / "parity.json"
    data = read_json(path, "results table", TABLE_SCHEMA)
    if not isinstance(data.get("rows"), list):
        raise ResultError(f"{path}: not a parity table of schema {TABLE_SCHEMA}")
    if data.get("columns_schema", COLUMNS_SCHEMA) != COLUMNS_SCHEMA:
        raise ResultError(f"{path}: columns schema {data['columns_schema']!r}, this parity reads {COLUMNS_SCHEMA}")
    return {**data, "rows": [with_columns(r) for r in data["rows"]]}
