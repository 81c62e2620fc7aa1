"""``report.html``: one self-contained page per suite (tables, embedded plots, environment).

Verdict summary first, then the eval-accuracy table, the figures (embedded as
data URIs, so the file can be mailed or attached), the scenarios with the
claim each tests, and the environment fingerprint. A small script marks
``<body data-images-loaded="N/M">`` once the page has loaded, which the browser
test reads.
"""
from __future__ import annotations

import base64
import html
from collections import Counter
from pathlib import Path

from parity.report import columns
from parity.spec.scenarios import claim_of

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#202124}
table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #dadce0;padding:4px 8px}
th{background:#f1f3f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.gap{color:#c5221f;font-weight:600}.parity{color:#188038}.inconclusive{color:#5f6368}.failed{color:#a50e0e}
.summary span{display:inline-block;margin-right:1.5em;font-size:18px}
figure{display:inline-block;margin:0.5em}img{max-width:520px;border:1px solid #eee}
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(path.stem)}</figcaption></figure>")


def render(table: dict, plots: list[Path], throughput: dict | None = None) -> str:
    rows = [r for r in table["rows"] if r["metric"] == "eval_acc"]
    counts = Counter(g["verdict"] for r in rows for g in r["gaps"].values())
    shape = columns.table_shape(rows)
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>bn-parity: {e(table['suite'])}</title><style>{STYLE}</style>",
           f"<script>{SCRIPT}</script></head><body>",
           f"<h1>bn-parity: {e(table['suite'])} suite</h1>",
           "<p class='summary'>" + "".join(f"<span class='{v}'>{counts.get(v, 0)} {v}</span>"
                                           for v in ("gap", "parity", "inconclusive", "failed")) + "</p>",
           f"<p>Eval accuracy (%) after fine-tuning: mean [95% CI] over seeds; gap = "
           f"{e(', '.join(columns.gap_titles(shape)))} in percentage points with its paired 95% CI.</p>",
           "<table id='eval-acc'><tr><th>scenario</th><th>dataset</th><th>variant</th>"
           + "".join(f"<th>{e(columns.column_label(fw))}</th>" for fw in shape["columns"])
           + "".join(f"<th>gap ({e(t)})</th>" for t in columns.gap_titles(shape)) + "<th>n</th>"
           + "".join(f"<th>{e(t)}</th>" for t in columns.verdict_titles(shape)) + "</tr>"]
    for r in rows:
        out.append(f"<tr><td>{e(r['scenario'])}</td><td>{e(r['dataset'])}</td><td>{e(r['variant'])}</td>"
                   + "".join(f"<td class='num'>{e(columns.column_cell(r, fw))}</td>" for fw in r["columns"])
                   + "".join(f"<td class='num'>{columns.gap_cell(r, fw)}</td>" for fw in r["gaps"])
                   + f"<td class='num'>{columns.n_text(r)}</td>"
                   + "".join(f"<td class='{e(g['verdict'])}'>{e(text)}</td>"
                             for g, text in zip(r["gaps"].values(), columns.verdict_cells(r))) + "</tr>")
    out.append("</table>")
    problems = [(r, f) for r in rows for f in r["failed_jobs"]] + [(None, u) for u in table.get("unreadable", [])]
    if problems:
        out.append("<h2>Problems</h2><ul>" + "".join(
            f"<li>{e(r['scenario'] + ' / ' + r['variant'] + ': ') if r else ''}{e(f)}</li>" for r, f in problems)
            + "</ul>")
    if plots:
        out.append("<h2>Figures</h2>" + "".join(_img(p) for p in plots))
    if throughput and throughput.get("rows"):
        out.append("<h2>Throughput</h2><table id='throughput'><tr><th>framework</th><th>mode</th><th>kind</th>"
                   "<th>batches</th><th>images/s median [min, max]</th><th>spread</th></tr>")
        for t in throughput["rows"]:
            ips = t["images_per_s"]
            out.append(f"<tr><td>{e(t['framework'])}</td><td>{e(t['mode'])}</td><td>{e(t['kind'])}</td>"
                       f"<td>{'loader' if t['loader'] else 'in memory'}</td>"
                       f"<td class='num'>{ips['median']:.0f} [{ips['min']:.0f}, {ips['max']:.0f}]</td>"
                       f"<td class='num'>{t['spread_pct']:.1f}%</td></tr>")
        out.append("</table>")
    out.append("<h2>Scenarios</h2><ul>")
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        out.append(f"<li><b>{e(sc)}</b>: {e(claim_of(sc))}</li>")
    out.append("</ul><h2>Environment</h2><table id='env'>")
    for side, facts in table.get("env", {}).items():
        out.append(f"<tr><th>{e(side)}</th><td>{e(', '.join(f'{k} {v}' for k, v in facts.items()))}</td></tr>")
    out.append("</table><p>Verdicts: parity = the whole CI lies within ±2 pp; <b>gap</b> = the CI excludes 0 and "
               "|gap| > 2 pp; inconclusive = neither; failed = no comparison.</p></body></html>")
    return "\n".join(out)


def render_gate(result: dict, *, clean: bool, summary: str, sections) -> str:
    """The upgrade check's page: the gate's status, what it found, the rows that moved, throughput side by side.

    ``clean``, ``summary`` and ``sections`` are the gate's (``parity.report.compare``) verdict, last line and
    (title, key) list, handed in: this module renders, it does not judge.
    """
    e = html.escape
    labels = result.get("labels") or {"base": "baseline", "new": "current"}
    out = ["<!doctype html><html><head><meta charset='utf-8'>",
           f"<title>bn-parity upgrade check: {e(labels['base'])} -> {e(labels['new'])}</title>"
           f"<style>{STYLE}</style></head><body>",
           f"<h1>Upgrade check: {e(labels['base'])} → {e(labels['new'])}</h1>",
           f"<p class='summary'><span class='{'parity' if clean else 'gap'}' id='status'>"
           f"{'no regression' if clean else 'regression'}</span></p>",
           f"<p>{e(summary)}</p>"]
    versions = result.get("versions") or {}
    if versions:
        keys = sorted(set().union(*(v.keys() for v in versions.values())))
        out.append("<table id='versions'><tr><th>package</th>" + "".join(f"<th>{e(k)}</th>" for k in versions)
                   + "</tr>" + "".join(f"<tr><td>{e(k)}</td>" + "".join(f"<td>{e(str(v.get(k, '—')))}</td>"
                                                                         for v in versions.values()) + "</tr>"
                                       for k in keys) + "</table>")
    for title, key in tuple(sections) + (("Throughput not settled", "unknown"),):
        items = result.get(key) or []
        if items:
            out.append(f"<h2>{e(title)}</h2><ul id='{key}'>" + "".join(f"<li>{e(i)}</li>" for i in items) + "</ul>")
    tp = result.get("throughput")
    if tp:
        out.append(f"<h2>Throughput side by side</h2><table id='throughput'><tr><th>row</th><th>{e(tp['a'])} "
                   f"images/s</th><th>{e(tp['b'])} images/s</th><th>ratio [99% CI]</th><th>pairs</th>"
                   "<th>verdict</th></tr>")
        for r in tp["rows"]:
            med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
            cls = {"slower": "gap", "faster": "parity", "same": "parity"}.get(r["verdict"], "inconclusive")
            out.append(f"<tr><td>{e(r['key'])}</td><td class='num'>{med(r['a']):.0f}</td>"
                       f"<td class='num'>{med(r['b']):.0f}</td><td class='num'>{r['ratio']:.3f} "
                       f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]</td><td class='num'>{r['n']}</td>"
                       f"<td class='{cls}'>{e(r['verdict'])}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)
