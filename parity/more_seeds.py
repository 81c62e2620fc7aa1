"""``parity run --seeds auto``: more seeds only for the rows whose verdict is still undecided.

A row's verdict is decided (parity or gap) once its confidence interval says so; with few seeds many
rows stay inconclusive. Like a bisection tool asking for more runs on "unknown", each round adds
``STEP`` seeds to the runs whose eval-accuracy row is inconclusive in any column, until every row is
decided or the row has ``max_seeds`` seeds. The other runs keep their seeds: their files stay (resume).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from parity.report import tables
from parity.run import runner

STEP = 2             # seeds added to an undecided row per round
DEFAULT_MAX = 10     # seeds a row gets at most


def row_key(row_or_run) -> tuple[str, str, str]:
    get = row_or_run.get if isinstance(row_or_run, dict) else lambda k: getattr(row_or_run, k)
    return get("scenario"), get("dataset"), get("variant")


def undecided(table: dict) -> set[tuple[str, str, str]]:
    """The rows (scenario, dataset, variant) whose eval accuracy is inconclusive against the reference."""
    return {row_key(r) for r in table["rows"] if r["metric"] == "eval_acc"
            and any(entry.get("verdict") == "inconclusive" for entry in r["gaps"].values())}


def run_until_decided(suite, out: Path, max_seeds: int = DEFAULT_MAX, log=print, **run_options) -> tuple[dict, dict]:
    """Run the suite, then more seeds for its undecided rows, round by round; returns (the runner's
    summary, jobs of every round counted, {row key: seeds it has}) -- a row still undecided at
    ``max_seeds`` says so in the table."""
    summary = runner.run_suite(suite, out, log=log, **run_options)
    seeds = list(suite.seeds)
    had = {row_key(run): len(seeds) for run in suite.runs}
    while True:
        table, _ = tables.build_table(out, suite.name)   # read only: the run writes the report once, at its end
        open_rows = undecided(table) & set(had)
        if not open_rows or len(seeds) >= max_seeds:
            return summary, had
        seeds += [max(seeds) + 1 + i for i in range(min(STEP, max_seeds - len(seeds)))]
        runs = [run for run in suite.runs if row_key(run) in open_rows]
        log(f"--seeds auto: {len(open_rows)} row(s) still inconclusive; seeds up to {max(seeds)} for: "
            + ", ".join("/".join(k) for k in sorted(open_rows)))
        for run in runs:
            had[row_key(run)] = len(seeds)
        more = dataclasses.replace(suite, runs=runs, seeds=list(seeds),
                                   other_runs=[r for r in suite.runs if r not in runs] + suite.other_runs)
        summary["ran"] += runner.run_suite(more, out, **{**run_options, "resume": True}, log=log)["ran"]
