"""``report.html`` and ``upgrade.html``: self-contained pages rendered from Jinja2 templates (``templates/``).

The suite's page: the verdict counts, the chart of every row's gap with its CI and the parity band,
one table per metric (eval accuracy, train accuracy, eval loss, the native zoos), the figures
(embedded as data URIs, so the file can be mailed or attached), the scenarios with the claim each
tests, and the environment. A small script marks ``<body data-images-loaded="N/M">`` once the page
has loaded, which the browser test reads. This module arranges the cells; the templates lay them out.
"""
from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import jinja2
from markupsafe import Markup

from parity.report import columns, stats
from parity.spec.scenarios import claim_of

VERDICTS = ("gap", "parity", "inconclusive", "failed")

_env = jinja2.Environment(loader=jinja2.PackageLoader("parity.report", "templates"),
                          autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
_env.filters["median"] = lambda xs: sorted(xs)[len(xs) // 2]


def _img(path: Path) -> Markup:
    data = base64.b64encode(path.read_bytes()).decode()
    return Markup('<img alt="{0}" src="data:image/png;base64,{1}"><figcaption>{0}</figcaption>').format(
        path.stem, data)


def _table(section: dict) -> dict:
    """One metric's table: header and (text, css class) cells, as every table of the report shows them."""
    rows, digits = section["rows"], section["digits"]
    shape = columns.table_shape(rows)
    head = (["scenario", "dataset", "variant"] + [columns.column_label(fw) for fw in shape["columns"]]
            + [f"gap ({t})" for t in columns.gap_titles(shape)] + ["n"] + columns.verdict_titles(shape))
    body = [[(r["scenario"], ""), (r["dataset"], ""), (r["variant"], "")]
            + [(columns.column_cell(r, fw, digits), "num") for fw in r["columns"]]
            + [(columns.gap_cell(r, fw, digits), "num") for fw in r["gaps"]]
            + [(columns.n_text(r), "num")]
            + list(zip(columns.verdict_cells(r), [g["verdict"] for g in r["gaps"].values()] or [""]))
            for r in rows]
    return {**section, "head": head, "body": body}


def render(table: dict, sections: list[dict], plots: list[Path], throughput: dict | None = None) -> str:
    """The suite's page: ``sections`` are the tables to show (``parity.report.tables.sections``)."""
    rows = table["rows"]
    eval_rows = [r for r in rows if r["metric"] == "eval_acc"]
    counts = Counter(g["verdict"] for r in eval_rows for g in r["gaps"].values())
    problems = [f"{r['scenario']} / {r['variant']}: {f}" for r in eval_rows for f in r["failed_jobs"]]
    problems += [f"unreadable result file: {u}" for u in table.get("unreadable", [])]
    gap_figure = next((p for p in plots if p.name == "gaps.png"), None)
    return _env.get_template("report.html").render(
        suite=table["suite"], counts=[(v, counts.get(v, 0)) for v in VERDICTS],
        gap_titles=columns.gap_titles(columns.table_shape(eval_rows)),
        sections=[_table(s) for s in sections], problems=problems, gap_figure=gap_figure,
        figures=[p for p in plots if p is not gap_figure], img=_img,
        throughput=(throughput or {}).get("rows") or [],
        scenarios=[(sc, claim_of(sc)) for sc in dict.fromkeys(r["scenario"] for r in eval_rows)],
        env=[(side, ", ".join(f"{k} {v}" for k, v in facts.items())) for side, facts in table.get("env", {}).items()],
        tolerance=f"{stats.PARITY_TOLERANCE_PP:g}")


def render_gate(result: dict, *, clean: bool, summary: str, sections) -> str:
    """The upgrade check's page: the gate's status, what it found, the rows that moved, throughput side by side.

    ``clean``, ``summary`` and ``sections`` are the gate's (``parity.report.gate_text``) verdict, last line and
    (title, key) list, handed in: this module renders, it does not judge.
    """
    labels = result.get("labels") or {"base": "baseline", "new": "current"}
    versions = result.get("versions") or {}
    lists = [(title, key, result.get(key)) for title, key in tuple(sections) + (("Throughput not settled", "unknown"),)
             if result.get(key)]
    return _env.get_template("gate.html").render(
        base=labels["base"], new=labels["new"], clean=clean, summary=summary, versions=versions,
        packages=sorted(set().union(*(v.keys() for v in versions.values()))) if versions else [],
        lists=lists, throughput=result.get("throughput"))
