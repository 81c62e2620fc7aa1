"""``parity audit``: every known default of the installed frameworks, side by side.

Each framework is read in a process of its own (``python -m parity.audit
FRAMEWORK`` prints its ``read_defaults()`` as JSON), never two in one; the Keras
columns (tf, keras-torch, keras-jax) run Keras' own probes on their backend. The
snapshot in ``results/defaults.json`` is what ``--check`` compares against:
a framework upgrade that changes a default or a behaviour exits 1 and names
the knob.

Snapshot (schema 1): per knob ``tf``, ``torch``, ``equivalent`` (tf vs torch), ``how``, and one
key per further framework column audited (``keras-torch``, ``keras-jax``);
``frameworks`` lists the columns read, ``not_installed`` those that were not.
"""
from __future__ import annotations

import json
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from parity import frameworks
from parity import process
from parity.spec.knobs import AUDITED

SNAPSHOT_SCHEMA = 1


class AuditError(RuntimeError):
    """A framework could not be audited; one line naming it."""


def read_framework(framework: str, timeout: float = 300) -> dict:
    """Run one framework's probes in a fresh process with its environment; {"knobs": ..., "versions": ...}."""
    proc = process.run("parity.audit", framework, timeout=timeout, framework=framework)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise AuditError(f"{framework}: the audit probe failed ({last})")
    return json.loads(proc.stdout)


def equivalent(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


def collect(columns: list[str] | None = None) -> dict:
    """Every installed framework's column, or only ``columns`` (an upgrade check reads the ones it checks);
    tf and torch always: the snapshot's pair."""
    names = [fw for fw in frameworks.NAMES if fw in frameworks.DEFAULT_NAMES
             or (fw in (columns or frameworks.NAMES) and not frameworks.missing_modules(fw))]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:   # one process each, side by side
        futures = {fw: pool.submit(read_framework, fw) for fw in names}
        sides = {fw: future.result() for fw, future in futures.items()}
    knobs = {}
    for name, question in AUDITED.items():
        found = {fw: side["knobs"].get(name, {}) for fw, side in sides.items()}
        hows = list(dict.fromkeys(str(f.get("how")) for f in found.values()))
        knobs[name] = {"question": question, **{fw: f.get("value") for fw, f in found.items()},
                       "how": " / ".join(hows),
                       "equivalent": equivalent(found["tf"].get("value"), found["torch"].get("value"))}
    versions = {}
    for side in sides.values():
        versions.update(side["versions"])
    return {"schema": SNAPSHOT_SCHEMA, "versions": versions, "frameworks": names,
            "not_installed": [fw for fw in frameworks.NAMES if fw not in names], "knobs": knobs}


def table(snapshot: dict) -> str:
    columns = snapshot.get("frameworks", ["tf", "torch"])
    rows = [("knob", *(("TF/Keras" if fw == "tf" else frameworks.get(fw).label) for fw in columns),
             "tf = torch?", "how it was read")]
    for name, k in snapshot["knobs"].items():
        rows.append((name, *(str(k.get(fw)) for fw in columns), "yes" if k["equivalent"] else "NO", k["how"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    versions = ", ".join(f"{k} {v}" for k, v in snapshot["versions"].items())
    return "\n".join(lines) + f"\n\n{versions}"


def load_snapshot(path: str | Path) -> dict:
    from parity.results import read_json

    data = read_json(path, "defaults snapshot", SNAPSHOT_SCHEMA, error=AuditError)
    if not isinstance(data.get("knobs"), dict):
        raise AuditError(f"--check: {path} is not a defaults snapshot of schema {SNAPSHOT_SCHEMA}")
    return data


def drift(snapshot: dict, live: dict) -> list[str]:
    """One line per knob whose live value differs from the snapshot, per framework."""
    out = []
    for name, old in snapshot["knobs"].items():
        new = live["knobs"].get(name)
        if new is None:
            out.append(f"{name}: no longer audited")
            continue
        for fw in frameworks.NAMES:   # a column one side did not read (not installed) is not compared
            if fw in old and fw in new and not equivalent(old.get(fw), new.get(fw)):
                out.append(f"{name}: {fw} {old.get(fw)!r} -> {new.get(fw)!r}")
    for name in live["knobs"]:
        if name not in snapshot["knobs"]:
            out.append(f"{name}: new knob, not in the snapshot")
    return out


# ---- what both frameworks' audit modules probe with and how they name what they find (one copy)

# the JPEG decoder IDCTs, named the same on both sides so the audit's string comparison means something
JPEG_METHODS = {"INTEGER_FAST": "INTEGER_FAST (libjpeg IFAST)", "INTEGER_ACCURATE": "INTEGER_ACCURATE (libjpeg ISLOW)"}


def checkerboard(n: int = 24):
    """A one-pixel black/white checkerboard, n x n, values 0 and 1 (float32)."""
    import numpy as np

    return (np.add.outer(np.arange(n), np.arange(n)) % 2).astype(np.float32)


def antialias_verdict(out) -> str:
    """3x downscale of a one-pixel checkerboard: samples land on pixel centres, so plain bilinear returns the
    pattern (0s and 1s) and an antialiasing (triangle) filter returns grey (41/81 or 40/81)."""
    import numpy as np

    dev = float(np.abs(np.asarray(out) - 0.5).max())
    return "antialiased" if dev <= 0.25 else "not antialiased" if dev >= 0.45 else f"unclear (max |out - 0.5| {dev:.3g})"


def _probe_main(framework: str) -> int:
    module = frameworks.load(framework, "audit")
    print(json.dumps({"knobs": module.read_defaults(), "versions": module.versions()}))
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main(sys.argv[1]))
