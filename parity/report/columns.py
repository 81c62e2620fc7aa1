"""A table row's framework columns and gaps, as every table shows them (markdown, terminal, HTML, plots).

Rows come from ``aggregate.build_rows`` (or ``tables.read_table``); the layout of their ``columns``,
``gaps`` and ``reference`` keys is described in ``parity.report.tables``.
"""
from __future__ import annotations

from parity import frameworks
from parity.report import stats

LEGACY_PAIR = ("tf", "torch")   # the pair the tf, torch, gap and verdict keys hold, for readers of the first tables


def with_columns(row: dict) -> dict:
    """A parity.json row with its column keys: as written, or (a two-framework table) from tf, torch, gap."""
    if "columns" in row:
        return row
    return {**row, "reference": LEGACY_PAIR[1], "columns": {fw: row.get(fw) for fw in LEGACY_PAIR},
            "gaps": {LEGACY_PAIR[0]: {**(row.get("gap") or {}), "verdict": row.get("verdict")}}}


def table_shape(rows: list[dict]) -> dict:
    """The columns, gaps and reference every row of a table shares (an empty table: tf and torch)."""
    return rows[0] if rows else with_columns({})


def column_label(fw: str) -> str:
    return frameworks.get(fw).label if fw in frameworks.FRAMEWORKS else fw


def gap_titles(row: dict) -> list[str]:
    ref = column_label(row["reference"])
    return [f"{column_label(fw)} − {ref}" for fw in row["gaps"]]


def gap_of(entry: dict | None) -> dict | None:
    """The gap of a ``gaps`` entry (its summary fields), None where the pair has none."""
    return entry if entry and "mean" in entry else None


def verdict_titles(row: dict) -> list[str]:
    """One verdict column per gap: "verdict", or "verdict TF", "verdict Keras/torch", ... with several."""
    return ["verdict"] if len(row["gaps"]) <= 1 else [f"verdict {column_label(fw)}" for fw in row["gaps"]]


def verdict_cells(r: dict, bold: bool = False) -> list[str]:
    """The row's verdicts, one cell per gap (a gap in bold where asked)."""
    cells = []
    for entry in r["gaps"].values():
        text = stats.verdict_text({**r, "verdict": entry["verdict"]})
        cells.append(f"**{text}**" if bold and entry["verdict"] == "gap" else text)
    return cells or ["—"]


def gap_cell(r: dict, fw: str, digits: int = 1) -> str:
    """The cell of fw's gap to the row's reference; one seed on either side gives a value, not an interval."""
    seeds = [(r["columns"].get(name) or {}).get("n") for name in (fw, r["reference"])]
    return stats.cell(gap_of(r["gaps"][fw]), digits, sign=True, n=1 if 1 in seeds else None)


def column_cell(r: dict, fw: str, digits: int = 1) -> str:
    return "not installed" if fw in r.get("not_installed", []) else stats.cell(r["columns"][fw], digits)


def n_text(row) -> str:
    return "/".join(str((s or {}).get("n", 0)) for s in row["columns"].values())
