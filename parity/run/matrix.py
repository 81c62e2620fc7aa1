"""A suite -> its jobs: scenario x dataset x variant x seed x framework, each with its result file's path."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from parity.spec.config import RunConfig, SuiteConfig, run_to_dict


@dataclass
class Job:
    id: str
    framework: str
    seed: int
    run: RunConfig
    path: Path

    def spec(self, suite: str) -> dict:
        return {"id": self.id, "framework": self.framework, "seed": self.seed, "suite": suite,
                "run": run_to_dict(self.run), "path": str(self.path)}

    def label(self) -> str:
        return f"{self.framework:<5} {self.run.scenario}/{self.run.dataset}/{self.run.variant} seed {self.seed}"


def expand(suite: SuiteConfig, out_dir: Path) -> list[Job]:
    """scenario x dataset x variant (the suite's runs) x seed x framework, in a stable order."""
    jobs = []
    for run in suite.runs:
        for seed in suite.seeds:
            for fw in suite.frameworks_of(run):
                jid = f"{run.key()}__{fw}__s{seed}"
                if Path(jid).name != jid or jid.startswith("."):   # validation's SAFE_NAME rule keeps this out
                    raise ValueError(f"the job id {jid!r} is not a file name inside {out_dir / 'jobs'}")
                jobs.append(Job(jid, fw, seed, run, out_dir / "jobs" / f"{jid}.json"))
    ids = [j.id for j in jobs]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"two runs share the id {dupes[0]!r}: give them different scenario/variant names")
    return jobs


def jobs_left_out(suite: SuiteConfig, out_dir: Path) -> list[Job]:
    """The suite's jobs not run this time: its other scenarios (--scenarios) in every column, and its other
    columns (--frameworks) for the runs chosen; with --resume their files stay."""
    columns = [*suite.frameworks, *suite.other_frameworks]
    out = []
    if suite.other_runs:
        out += expand(dataclasses.replace(suite, runs=suite.other_runs, frameworks=columns), out_dir)
    if suite.other_frameworks:
        out += expand(dataclasses.replace(suite, frameworks=suite.other_frameworks), out_dir)
    return out
